package avalanchego_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	runtimepb "github.com/ava-labs/avalanchego/proto/pb/vm/runtime"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/transport"
)

// scriptVM is a chain VM whose every answer the test scripts, and which
// logs each call with what was in flight: it shows what order the node
// calls in, which a refvm trace (completion order) cannot. Test fixture
// only; the rest of vm.proto is the Unimplemented server.
type scriptVM struct {
	vmpb.UnimplementedVMServer
	waitFails int           // WaitForEvent fails this many times first
	build     bool          // WaitForEvent answers BUILD_BLOCK once in normal operation
	shutdown  time.Duration // how long Shutdown takes
	// healthHold, when set, holds the first Health call until it is closed
	// (healthIn is closed when that call arrives; healthCancelled if the
	// node cancelled it meanwhile); held calls are logged.
	healthHold, healthIn, healthCancelled chan struct{}
	healthOnce                            sync.Once

	shutOnce sync.Once
	shut     chan struct{} // closed when Shutdown returns: the plugin then exits

	mu       sync.Mutex
	calls    []string // method names, in the order they arrived
	waitErrs []time.Time
	waiting  int // WaitForEvent calls in flight
	health   int
	gather   int
	conns    []*vmpb.ConnectedRequest
}

var genesisID = []byte("genesis-block-id-32-bytes-long!!")

func (v *scriptVM) log(m string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls = append(v.calls, m)
}

func (v *scriptVM) lastAccepted() ([]byte, []byte, *timestamppb.Timestamp) {
	return genesisID, make([]byte, 32), timestamppb.New(time.Unix(1, 0))
}

func (v *scriptVM) Initialize(context.Context, *vmpb.InitializeRequest) (*vmpb.InitializeResponse, error) {
	v.log("Initialize")
	id, parent, ts := v.lastAccepted()
	return &vmpb.InitializeResponse{LastAcceptedId: id, LastAcceptedParentId: parent, Timestamp: ts, Bytes: []byte("genesis")}, nil
}

func (v *scriptVM) SetState(_ context.Context, r *vmpb.SetStateRequest) (*vmpb.SetStateResponse, error) {
	v.log("SetState(" + r.GetState().String() + ")")
	id, parent, ts := v.lastAccepted()
	return &vmpb.SetStateResponse{LastAcceptedId: id, LastAcceptedParentId: parent, Timestamp: ts, Bytes: []byte("genesis")}, nil
}

func (v *scriptVM) CreateHandlers(context.Context, *emptypb.Empty) (*vmpb.CreateHandlersResponse, error) {
	v.log("CreateHandlers")
	return &vmpb.CreateHandlersResponse{}, nil
}

func (v *scriptVM) NewHTTPHandler(context.Context, *emptypb.Empty) (*vmpb.NewHTTPHandlerResponse, error) {
	v.log("NewHTTPHandler")
	return &vmpb.NewHTTPHandlerResponse{}, nil
}

func (v *scriptVM) StateSyncEnabled(context.Context, *emptypb.Empty) (*vmpb.StateSyncEnabledResponse, error) {
	v.log("StateSyncEnabled")
	return &vmpb.StateSyncEnabledResponse{}, nil
}

func (v *scriptVM) Connected(_ context.Context, r *vmpb.ConnectedRequest) (*emptypb.Empty, error) {
	v.log("Connected")
	v.mu.Lock()
	v.conns = append(v.conns, r)
	v.mu.Unlock()
	return &emptypb.Empty{}, nil
}

// GetBlockIDAtHeight waits (at most 5 s) for the bootstrapping
// WaitForEvent the node opened before it: the two race on the wire, and
// the order tests need it in place.
func (v *scriptVM) GetBlockIDAtHeight(_ context.Context, r *vmpb.GetBlockIDAtHeightRequest) (*vmpb.GetBlockIDAtHeightResponse, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		v.mu.Lock()
		open := v.waiting > 0
		v.mu.Unlock()
		if open || time.Now().After(deadline) {
			break
		}
		<-time.After(time.Millisecond)
	}
	v.log(fmt.Sprintf("GetBlockIDAtHeight(%d)", r.GetHeight()))
	return &vmpb.GetBlockIDAtHeightResponse{BlkId: genesisID}, nil
}

func (v *scriptVM) SetPreference(context.Context, *vmpb.SetPreferenceRequest) (*emptypb.Empty, error) {
	v.log("SetPreference")
	return &emptypb.Empty{}, nil
}

func (v *scriptVM) Health(ctx context.Context, _ *emptypb.Empty) (*vmpb.HealthResponse, error) {
	v.mu.Lock()
	v.health++
	v.mu.Unlock()
	if v.healthHold != nil {
		held := false
		v.healthOnce.Do(func() { held = true })
		if held {
			v.log("Health")
			close(v.healthIn)
			select {
			case <-v.healthHold:
			case <-ctx.Done():
				close(v.healthCancelled)
				<-v.healthHold
			}
			v.log("Health returned")
		}
	}
	return &vmpb.HealthResponse{Details: []byte(`{"ok":true}`)}, nil
}

func (v *scriptVM) Gather(context.Context, *emptypb.Empty) (*vmpb.GatherResponse, error) {
	v.mu.Lock()
	v.gather++
	v.mu.Unlock()
	return &vmpb.GatherResponse{}, nil
}

// WaitForEvent, in normal operation, fails waitFails times, then (build)
// answers BUILD_BLOCK once; otherwise it blocks until cancelled.
func (v *scriptVM) WaitForEvent(ctx context.Context, _ *emptypb.Empty) (*vmpb.WaitForEventResponse, error) {
	v.mu.Lock()
	v.calls = append(v.calls, "WaitForEvent")
	if v.waitFails > 0 && len(v.waitErrs) < v.waitFails && v.normalOp() {
		v.waitErrs = append(v.waitErrs, time.Now())
		v.mu.Unlock()
		return nil, status.Error(codes.Internal, "scripted failure")
	}
	answer := v.build && v.normalOp() && len(v.waitErrs) == v.waitFails && !v.answered()
	v.waiting++
	v.mu.Unlock()
	defer func() {
		v.mu.Lock()
		v.waiting--
		v.mu.Unlock()
	}()
	if answer {
		v.log("WaitForEvent->BUILD_BLOCK")
		return &vmpb.WaitForEventResponse{Message: vmpb.Message_MESSAGE_BUILD_BLOCK}, nil
	}
	<-ctx.Done()
	return nil, status.FromContextError(ctx.Err()).Err()
}

// normalOp and answered read calls; v.mu is held.
func (v *scriptVM) normalOp() bool {
	for _, c := range v.calls {
		if c == "SetState(STATE_NORMAL_OP)" {
			return true
		}
	}
	return false
}

func (v *scriptVM) answered() bool {
	for _, c := range v.calls {
		if c == "WaitForEvent->BUILD_BLOCK" {
			return true
		}
	}
	return false
}

func (v *scriptVM) Shutdown(ctx context.Context, _ *emptypb.Empty) (*emptypb.Empty, error) {
	v.mu.Lock()
	v.calls = append(v.calls, "Shutdown")
	v.mu.Unlock()
	select { // a plugin slow to shut down
	case <-time.After(v.shutdown):
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	v.shutOnce.Do(func() { close(v.shut) })
	return &emptypb.Empty{}, nil
}

func (v *scriptVM) snapshot() (calls []string, waiting, health, gather int, waitErrs []time.Time, conns []*vmpb.ConnectedRequest) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.calls...), v.waiting, v.health, v.gather, append([]time.Time(nil), v.waitErrs...), append([]*vmpb.ConnectedRequest(nil), v.conns...)
}

// serve runs v as an in-process plugin: VM server on the bufnet, then the
// runtime handshake.
func (v *scriptVM) serve(tr *transport.Bufnet) func(ctx context.Context, engineAddr string) error {
	v.shut = make(chan struct{})
	return func(ctx context.Context, engineAddr string) error {
		lis, addr, err := tr.Listen("scriptvm")
		if err != nil {
			return err
		}
		srv := grpc.NewServer()
		vmpb.RegisterVMServer(srv, v)
		served := make(chan error, 1)
		go func() { served <- srv.Serve(lis) }()
		conn, err := transport.Dial(tr, engineAddr)
		if err != nil {
			srv.Stop()
			return err
		}
		_, err = runtimepb.NewRuntimeClient(conn).Initialize(ctx, &runtimepb.InitializeRequest{ProtocolVersion: uint32(avalanchego.NewestProtocol), Addr: addr})
		_ = conn.Close()
		if err != nil {
			srv.Stop()
			return err
		}
		select {
		case <-ctx.Done():
			srv.Stop()
		case <-v.shut: // the Shutdown reply still goes out, as from a real plugin
			srv.GracefulStop()
		}
		if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return err
		}
		return nil
	}
}

// startScripted starts a node and a sequencer on v.
func startScripted(t *testing.T, v *scriptVM, ncfg avalanchego.NodeConfig, seq *avalanchego.Sequencer, lcfg avalanchego.LaunchConfig) *avalanchego.Sequencer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bn := transport.NewBufnet()
	ncfg.Transport = bn
	node, err := avalanchego.NewNode(ctx, ncfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Close() })
	lcfg.GracefulTimeout = time.Second
	p, err := avalanchego.LaunchInProcess(ctx, bn, v.serve(bn), lcfg)
	if err != nil {
		t.Fatal(err)
	}
	seq.Node, seq.Plugin = node, p
	t.Cleanup(func() { _ = seq.Stop(context.Background()) })
	if _, err := seq.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	return seq
}

// waitFor polls cond until it holds or 10 s pass (a bounded Eventually).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
