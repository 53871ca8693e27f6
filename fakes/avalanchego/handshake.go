package avalanchego

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/ava-labs/avalanchego/vms/rpcchainvm/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	runtimepb "github.com/ava-labs/avalanchego/proto/pb/vm/runtime"
)

// handshakeResult is what the plugin announced in Runtime/Initialize.
type handshakeResult struct {
	protocol uint
	addr     string
	notice   string
	err      error // protocol mismatch
}

// handshakeServer serves vm.runtime.Runtime for one launch: the first
// Initialize decides; later calls get FailedPrecondition.
type handshakeServer struct {
	runtimepb.UnimplementedRuntimeServer
	ours     uint
	sameWire bool
	path     string

	once sync.Once
	done chan handshakeResult // buffered, receives exactly one result
}

func newHandshakeServer(ours uint, sameWire bool, path string) *handshakeServer {
	return &handshakeServer{ours: ours, sameWire: sameWire, path: path, done: make(chan handshakeResult, 1)}
}

// Initialize checks the plugin's protocol like AvalancheGo's initializer: a
// mismatch is a gRPC error to the plugin, which then exits.
func (h *handshakeServer) Initialize(_ context.Context, req *runtimepb.InitializeRequest) (*emptypb.Empty, error) {
	if req.GetAddr() == "" {
		return nil, status.Error(codes.InvalidArgument, "runtime initialize: addr is empty")
	}
	res := handshakeResult{protocol: uint(req.GetProtocolVersion()), addr: req.GetAddr()}
	if h.ours != AnyProtocol {
		res.notice, res.err = checkProtocol(res.protocol, h.ours, h.sameWire)
	}
	first := false
	h.once.Do(func() {
		first = true
		h.done <- res
	})
	if !first {
		return nil, status.Error(codes.FailedPrecondition, "runtime initialize: the handshake already happened")
	}
	if res.err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "%v: %v (plugin %s)", runtime.ErrProtocolVersionMismatch, res.err, h.path)
	}
	return &emptypb.Empty{}, nil
}

// runtimeEngine is a running handshake server.
type runtimeEngine struct {
	hs     *handshakeServer
	server *grpc.Server
	addr   string
	served chan struct{}
}

func startRuntimeEngine(l net.Listener, addr string, hs *handshakeServer, tr *Trace) *runtimeEngine {
	e := &runtimeEngine{hs: hs, server: newServer(tr), addr: addr, served: make(chan struct{})}
	runtimepb.RegisterRuntimeServer(e.server, hs)
	go func() {
		defer close(e.served)
		// Serve returns when stop is called; its error then carries no news.
		_ = e.server.Serve(l)
	}()
	return e
}

// stop ends the handshake server gracefully (so the plugin receives the
// answer to its Initialize), forcing it after a second, and waits for its
// goroutine.
func (e *runtimeEngine) stop() {
	graceful := make(chan struct{})
	go func() {
		defer close(graceful)
		e.server.GracefulStop()
	}()
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-graceful:
	case <-t.C:
		e.server.Stop()
		<-graceful
	}
	<-e.served
}
