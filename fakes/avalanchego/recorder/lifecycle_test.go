package recorder_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ava-labs/avalanchego/vms/rpcchainvm/grpcutils"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
	"google.golang.org/protobuf/types/known/emptypb"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recorder"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recording"
	"github.com/vmtestbed/vmtestbed/transport"
)

func onlySession(t *testing.T, dir string) *recording.Session {
	t.Helper()
	sessions, err := recording.ReadDir(dir)
	if err != nil || len(sessions) != 1 {
		t.Fatalf("want one session in %s, got %d (%v)", dir, len(sessions), err)
	}
	return sessions[0]
}

func find(s *recording.Session, method string) *recording.Call {
	for i := range s.Calls {
		if s.Calls[i].Method == method {
			return &s.Calls[i]
		}
	}
	return nil
}

// runInProcess runs the recorder in this process as the plugin of a
// runtime engine standing in for the node, and returns the proxy's VM
// address and a channel with Run's outcome.
func runInProcess(t *testing.T, ctx context.Context, dir string, protocol uint) (string, <-chan error, <-chan recorder.Result) {
	t.Helper()
	eng, err := avalanchego.StartRuntimeEngine(transport.TCP{}, protocol, "recorder")
	if err != nil {
		t.Fatal(err)
	}
	errs, results := make(chan error, 1), make(chan recorder.Result, 1)
	go func() {
		res, err := recorder.Run(ctx, recorder.Config{
			Plugin: build(t, "./cmd/refvm", ""), OutDir: dir, EngineAddr: eng.Addr(),
			KillTimeout: 300 * time.Millisecond, Stdout: io.Discard, Stderr: io.Discard,
		})
		results <- res
		errs <- err
	}()
	hs, err := eng.Await(ctx, nil, 20*time.Second)
	eng.Stop()
	if err != nil {
		return "", errs, results
	}
	return hs.Addr, errs, results
}

// TestSIGTERMBeforeShutdown: the node's SIGTERM (ctx) reaches a plugin
// that ignores it until Shutdown; the recorder kills it after KillTimeout,
// reports its status and writes the session's end.
func TestSIGTERMBeforeShutdown(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, errs, results := runInProcess(t, ctx, dir, avalanchego.AnyProtocol)
	if addr == "" {
		t.Fatalf("no handshake: %v", <-errs)
	}
	conn, err := grpcutils.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := vmpb.NewVMClient(conn).Version(ctx, &emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	cancel()
	res := <-results
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 128+9 || res.Exit != "signal: killed" || res.Session == "" {
		t.Fatalf("result %+v, want the plugin killed (137)", res)
	}
	s := onlySession(t, dir)
	if s.End == nil || s.End.Exit != "signal: killed" || find(s, "/vm.VM/Version") == nil || find(s, "/vm.runtime.Runtime/Initialize") == nil {
		t.Fatalf("session %+v end %+v", s.Calls, s.End)
	}
}

// TestNodeRefusesProtocol: the node's protocol check sees the plugin's
// protocol through the recorder; a refusal ends the plugin and is recorded.
func TestNodeRefusesProtocol(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, errs, results := runInProcess(t, ctx, dir, 41)
	err := <-errs
	<-results
	if err == nil || !strings.Contains(err.Error(), "refused the handshake (plugin protocol 46)") {
		t.Fatalf("got %v", err)
	}
	s := onlySession(t, dir)
	if c := find(s, "/vm.runtime.Runtime/Initialize"); c == nil || c.Code != "FailedPrecondition" {
		t.Fatalf("runtime handshake not recorded as refused: %+v", c)
	}
}

// TestWaitForEventPendingAtShutdown: a node that sends Shutdown while a
// WaitForEvent is pending (AvalancheGo v1.14.2 cancels its own first, but a
// WaitForEvent can race a Shutdown) gets a recording that shows the
// WaitForEvent open across the Shutdown's start.
func TestWaitForEventPendingAtShutdown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir, node, p := launchRecordedRefVM(t, ctx, 2)
	if _, err := p.VM.Initialize(ctx, node.InitializeRequest(p.Protocol)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.VM.SetState(ctx, &vmpb.SetStateRequest{State: vmpb.State_STATE_NORMAL_OP}); err != nil {
		t.Fatal(err)
	}
	// Our own connection to the recorder, so the WaitForEvent is known to be
	// on the wire (its headers sent) before the Health round trip that
	// follows it on the same connection, and Shutdown after that.
	sent := &headerSent{ch: make(chan struct{})}
	conn, err := grpc.NewClient("passthrough:///"+p.Addr, append(slices.Clone(grpcutils.DefaultDialOptions), grpc.WithStatsHandler(sent))...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	vm := vmpb.NewVMClient(conn)
	waited := make(chan error, 1)
	go func() {
		_, err := vm.WaitForEvent(ctx, &emptypb.Empty{})
		waited <- err
	}()
	<-sent.ch
	if _, err := vm.Health(ctx, &emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	if _, err := vm.Shutdown(ctx, &emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	<-waited
	<-p.Exited() // the recorder exits with the plugin
	_ = p.Stop(ctx)
	if st := p.ExitStatus(); st != "exit status 0" {
		t.Fatalf("recorder %s", st)
	}
	s := onlySession(t, dir)
	wait, shut := find(s, "/vm.VM/WaitForEvent"), find(s, "/vm.VM/Shutdown")
	if wait == nil || shut == nil || !shut.OK() {
		t.Fatalf("calls %+v", s.Calls)
	}
	if wait.StartNS > shut.StartNS || (!wait.Pending && *wait.EndNS < shut.StartNS) {
		t.Fatalf("WaitForEvent [%d, %v] not open across Shutdown's start %d", wait.StartNS, wait.EndNS, shut.StartNS)
	}
	t.Logf("WaitForEvent pending at Shutdown ended %s %q", wait.Code, wait.Message)
}

// headerSent closes ch when the first call's headers are on the wire.
type headerSent struct {
	once sync.Once
	ch   chan struct{}
}

func (h *headerSent) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (h *headerSent) HandleRPC(_ context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.OutHeader); ok {
		h.once.Do(func() { close(h.ch) })
	}
}
func (h *headerSent) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (h *headerSent) HandleConn(context.Context, stats.ConnStats)                       {}

// TestOutputAndExitStatusPassThrough: the plugin's stdout and stderr reach
// the recorder's, and a plugin that exits before its handshake gives the
// recorder its exit status; no session is written for it.
func TestOutputAndExitStatusPassThrough(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(t.TempDir(), "plugin")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho to-stdout\necho to-stderr >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	res, err := recorder.Run(context.Background(), recorder.Config{
		Plugin: script, OutDir: dir, EngineAddr: "127.0.0.1:1", Stdout: &stdout, Stderr: &stderr,
	})
	if err == nil || !strings.Contains(err.Error(), "exited before the handshake") {
		t.Fatalf("got %v", err)
	}
	if res.ExitCode != 3 || res.Exit != "exit status 3" {
		t.Fatalf("result %+v, want the plugin's exit status 3", res)
	}
	if stdout.String() != "to-stdout\n" || stderr.String() != "to-stderr\n" {
		t.Fatalf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
	if paths, _ := recording.List(dir); len(paths) != 0 {
		t.Fatalf("sessions written for a plugin that never started: %v", paths)
	}
}
