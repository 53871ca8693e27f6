// Command testplugin is a minimal rpcchainvm plugin for the launcher tests.
// Its behaviour is chosen by the name it is started under (the tests link
// one build under several names, since a plugin gets no arguments and an
// almost empty environment):
//
//	ok             handshakes with protocol 46, prints its environment to stderr, serves Version/Shutdown;
//	               like rpcchainvm plugins it ignores SIGTERM until Shutdown, then exits 0
//	proto45        like ok, announcing 45 (same wire as 46)
//	proto41        announces 41; the node refuses, the plugin prints the error and exits 1
//	exit-early     prints an rlimit error to stderr and exits 3 before the handshake
//	never          never handshakes and blocks
//	hang-shutdown  ignores SIGTERM; Shutdown never returns (only SIGKILL ends it)
//
// The VM embeds the Unimplemented server: test plugin only.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	runtimepb "github.com/ava-labs/avalanchego/proto/pb/vm/runtime"
)

type vm struct {
	vmpb.UnimplementedVMServer
	mode     string
	shutdown chan struct{}
}

func (v *vm) Version(context.Context, *emptypb.Empty) (*vmpb.VersionResponse, error) {
	return &vmpb.VersionResponse{Version: "testplugin/" + v.mode}, nil
}

func (v *vm) Shutdown(ctx context.Context, _ *emptypb.Empty) (*emptypb.Empty, error) {
	if v.mode == "hang-shutdown" {
		fmt.Fprintln(os.Stderr, "testplugin: hanging in Shutdown")
		select {} // only SIGKILL ends this process
	}
	close(v.shutdown)
	return &emptypb.Empty{}, nil
}

func main() {
	mode := filepath.Base(os.Args[0])
	os.Exit(run(mode))
}

func run(mode string) int {
	switch mode {
	case "exit-early":
		fmt.Fprintln(os.Stderr, "testplugin: failed to raise open-files limit to 32768: hard limit is 20000")
		return 3
	case "never":
		fmt.Fprintln(os.Stderr, "testplugin: not handshaking")
		select {}
	case "hang-shutdown":
		signal.Ignore(syscall.SIGTERM)
	default:
		// Like rpcchainvm.Serve: SIGTERM is ignored until Shutdown was served.
		signal.Ignore(syscall.SIGTERM, syscall.SIGINT)
	}
	protocol := uint32(46)
	switch mode {
	case "proto45":
		protocol = 45
	case "proto41":
		protocol = 41
	}
	for _, kv := range os.Environ() {
		fmt.Fprintln(os.Stderr, "env:", kv)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testplugin: listen:", err)
		return 1
	}
	v := &vm{mode: mode, shutdown: make(chan struct{})}
	srv := grpc.NewServer()
	vmpb.RegisterVMServer(srv, v)
	go func() { _ = srv.Serve(lis) }()

	engine := os.Getenv("AVALANCHE_VM_RUNTIME_ENGINE_ADDR")
	conn, err := grpc.NewClient(engine, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "testplugin: dial engine:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err = runtimepb.NewRuntimeClient(conn).Initialize(ctx, &runtimepb.InitializeRequest{ProtocolVersion: protocol, Addr: lis.Addr().String()})
	cancel()
	_ = conn.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testplugin: handshake refused:", err)
		return 1
	}
	if mode == "close-stdout" {
		// A plugin that closes its stdout while it keeps serving: the node
		// must stop it, as AvalancheGo does.
		_ = os.Stdout.Close()
	}
	<-v.shutdown
	signal.Reset(syscall.SIGTERM) // the node's SIGTERM after Shutdown may come now
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-term:
	}
	return 0
}
