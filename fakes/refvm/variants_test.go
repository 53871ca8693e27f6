package refvm

import (
	"bytes"
	"context"
	"google.golang.org/grpc"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/emptypb"

	httppb "github.com/ava-labs/avalanchego/proto/pb/http"
	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"

	"github.com/vmtestbed/vmtestbed/sim"
	"github.com/vmtestbed/vmtestbed/transport"
)

// Each broken variant's misbehaviour, observed from the node's side. The
// correct VM passes every one of these checks (TestVariantChecksPassOnCorrectVM),
// so each check really tells the variant apart.
var variantChecks = map[string]func(t *testing.T, variant string) (broken bool){
	VariantWrongGenesisID: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		resp := tv.init(nil)
		p, err := tv.vm.ParseBlock(ctxT(t), &vmpb.ParseBlockRequest{Bytes: resp.Bytes})
		if err != nil {
			t.Fatal(err)
		}
		return !bytes.Equal(p.Id, resp.LastAcceptedId)
	},
	VariantVerifyAcceptsInvalid: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		gen := tv.init(nil)
		blk := newBlock(idOf(gen.LastAcceptedId), 7, time.Unix(1700000100, 0), []Tx{{"k", "v"}})
		_, err := tv.vm.BlockVerify(ctxT(t), &vmpb.BlockVerifyRequest{Bytes: blk.Bytes})
		return err == nil
	},
	VariantNondeterministicParse: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		resp := tv.init(nil)
		a, err1 := tv.vm.ParseBlock(ctxT(t), &vmpb.ParseBlockRequest{Bytes: resp.Bytes})
		b, err2 := tv.vm.ParseBlock(ctxT(t), &vmpb.ParseBlockRequest{Bytes: resp.Bytes})
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		return !bytes.Equal(a.Id, b.Id)
	},
	VariantStaleLastAccepted: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		tv.init(nil)
		blk := tv.buildAccept("k", "v")
		st, err := tv.vm.SetState(ctxT(t), &vmpb.SetStateRequest{State: vmpb.State_STATE_NORMAL_OP})
		if err != nil {
			t.Fatal(err)
		}
		at, err := tv.vm.GetBlockIDAtHeight(ctxT(t), &vmpb.GetBlockIDAtHeightRequest{Height: 1})
		if err != nil {
			t.Fatal(err)
		}
		return !bytes.Equal(st.LastAcceptedId, blk.Id) || !bytes.Equal(at.BlkId, blk.Id)
	},
	VariantWrongProtocol: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		return tv.handshake.protocol != uint32(DefaultProtocol)
	},
	VariantHangShutdown: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		tv.init(nil)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := tv.vm.Shutdown(ctx, &emptypb.Empty{})
		return codeOf(err) == codes.DeadlineExceeded
	},
	VariantCrashBuild: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		tv.init(nil)
		tv.issue("k", "v")
		_, err := tv.vm.BuildBlock(ctxT(t), &vmpb.BuildBlockRequest{})
		if err == nil {
			return false
		}
		select {
		case code := <-tv.exits:
			if code != 2 || !strings.Contains(tv.stderr.String(), CrashMessage) {
				t.Fatalf("exit %d, stderr %q", code, tv.stderr)
			}
		case <-time.After(wait):
			t.Fatal("no exit")
		}
		// The plugin is gone: Serve returned and the VM no longer answers.
		select {
		case serr := <-tv.done:
			tv.done <- serr
		case <-time.After(wait):
			t.Fatal("Serve kept running after the crash")
		}
		_, err = tv.vm.Version(ctxT(t), &emptypb.Empty{})
		return err != nil
	},
	VariantGetBlockStatus: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		tv.init(nil)
		resp, err := tv.vm.GetBlock(ctxT(t), &vmpb.GetBlockRequest{Id: make([]byte, 32)})
		return err != nil || resp.Err != vmpb.Error_ERROR_NOT_FOUND
	},
	VariantNoAppError: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		tv.init(nil)
		ctx := ctxT(t)
		node := make([]byte, 20)
		if _, err := tv.vm.AppRequest(ctx, &vmpb.AppRequestMsg{NodeId: node, RequestId: 1, Request: []byte("unknown")}); err != nil {
			t.Fatal(err)
		}
		// A ping after it: the node sees the pong without an error before it.
		if _, err := tv.vm.AppRequest(ctx, &vmpb.AppRequestMsg{NodeId: node, RequestId: 2, Request: []byte(PingRequest)}); err != nil {
			t.Fatal(err)
		}
		m := <-tv.node.sent
		return m.kind != "error"
	},
	VariantAppResponseError: func(t *testing.T, variant string) bool {
		tv, peer, reqID := pingedPeer(t, variant)
		_, err := tv.vm.AppResponse(ctxT(t), &vmpb.AppResponseMsg{NodeId: peer, RequestId: reqID, Response: []byte(PongResponse)})
		return err != nil
	},
	VariantAppFailedError: func(t *testing.T, variant string) bool {
		tv, peer, reqID := pingedPeer(t, variant)
		_, err := tv.vm.AppRequestFailed(ctxT(t), &vmpb.AppRequestFailedMsg{NodeId: peer, RequestId: reqID, ErrorCode: -1, ErrorMessage: "timed out"})
		return err != nil
	},
}

func init() {
	for name, check := range moreVariantChecks {
		variantChecks[name] = check
	}
}

// moreVariantChecks cover the variants that break restarts, other
// instances and Shutdown.
var moreVariantChecks = map[string]func(t *testing.T, variant string) (broken bool){
	VariantCrashInitialize: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		if _, err := tv.vm.Initialize(ctxT(t), tv.initRequest(nil)); err == nil {
			return false
		}
		select {
		case code := <-tv.exits:
			if code != 3 || !strings.Contains(tv.stderr.String(), InitCrashMessage) {
				t.Fatalf("exit %d, stderr %q", code, tv.stderr)
			}
		case <-time.After(wait):
			t.Fatal("no exit")
		}
		return true
	},
	VariantVerifyOnce: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		tv.init(nil)
		tv.issue("k", "v")
		blk := tv.build()
		for range 2 {
			if _, err := tv.vm.BlockVerify(ctxT(t), &vmpb.BlockVerifyRequest{Bytes: blk.Bytes}); err != nil {
				return true
			}
		}
		return false
	},
	VariantVerifyRewindsAccepted: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		tv.init(nil)
		blk := tv.buildAccept("k", "v")
		_, _ = tv.vm.BlockVerify(ctxT(t), &vmpb.BlockVerifyRequest{Bytes: blk.Bytes})
		st, err := tv.vm.SetState(ctxT(t), &vmpb.SetStateRequest{State: vmpb.State_STATE_NORMAL_OP})
		if err != nil {
			t.Fatal(err)
		}
		return !bytes.Equal(st.LastAcceptedId, blk.Id)
	},
	VariantHeightIndexAtVerify: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		tv.init(nil)
		tv.issue("k", "v")
		blk := tv.build()
		if _, err := tv.vm.BlockVerify(ctxT(t), &vmpb.BlockVerifyRequest{Bytes: blk.Bytes}); err != nil {
			t.Fatal(err)
		}
		at, err := tv.vm.GetBlockIDAtHeight(ctxT(t), &vmpb.GetBlockIDAtHeightRequest{Height: blk.Height})
		if err != nil {
			t.Fatal(err)
		}
		return at.Err != vmpb.Error_ERROR_NOT_FOUND
	},
	VariantParseLocalTimestamp: func(t *testing.T, variant string) bool {
		a, b := startVM(t, Config{}), startVM(t, Config{Variant: variant, Clock: sim.NowFunc(func() time.Time { return time.Unix(1800000000, 0) })})
		a.init(nil)
		b.init(nil)
		blk := a.buildAccept("k", "v")
		p, err := b.vm.ParseBlock(ctxT(t), &vmpb.ParseBlockRequest{Bytes: blk.Bytes})
		if err != nil {
			t.Fatal(err)
		}
		return !p.Timestamp.AsTime().Equal(blk.Timestamp.AsTime())
	},
	VariantVerifyOwnBlocksOnly: func(t *testing.T, variant string) bool {
		a, b := startVM(t, Config{}), startVM(t, Config{Variant: variant})
		a.init(nil)
		b.init(nil)
		blk := a.buildAccept("k", "v")
		_, err := b.vm.BlockVerify(ctxT(t), &vmpb.BlockVerifyRequest{Bytes: blk.Bytes})
		return err != nil
	},
	VariantMemDBState: func(t *testing.T, variant string) bool {
		first, again := restart(t, variant)
		return !bytes.Equal(again.LastAcceptedId, first.Id)
	},
	VariantVolatileHeightIndex: func(t *testing.T, variant string) bool {
		first, _ := restartedVM(t, variant)
		at, err := first.vm.GetBlockIDAtHeight(ctxT(t), &vmpb.GetBlockIDAtHeightRequest{Height: 1})
		if err != nil {
			t.Fatal(err)
		}
		return at.Err == vmpb.Error_ERROR_NOT_FOUND
	},
	VariantBuildOnCachedTip: func(t *testing.T, variant string) bool {
		tv, last := restartedVM(t, variant)
		if _, err := tv.vm.SetPreference(ctxT(t), &vmpb.SetPreferenceRequest{Id: last.Id}); err != nil {
			t.Fatal(err)
		}
		tv.issue("k2", "v2")
		return !bytes.Equal(tv.build().ParentId, last.Id)
	},
	VariantShutdownAwaitsEvents: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		tv.init(nil)
		wctx, cancelWait := context.WithCancel(context.Background())
		defer cancelWait()
		pending := sendWaitForEvent(t, wctx, tv)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := tv.vm.Shutdown(ctx, &emptypb.Empty{})
		cancelWait()
		<-pending
		return codeOf(err) == codes.DeadlineExceeded
	},
	VariantHTTPNoStatus: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		tv.init(nil)
		resp, err := tv.vm.NewHTTPHandler(ctxT(t), &emptypb.Empty{})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := transport.Dial(tv.node.tr, resp.ServerAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		r, err := httppb.NewHTTPClient(conn).HandleSimple(ctxT(t), &httppb.HandleSimpleHTTPRequest{Method: "GET", Url: "/"})
		if err != nil {
			t.Fatal(err)
		}
		return r.Code < 100
	},
	VariantDBAfterShutdown: func(t *testing.T, variant string) bool {
		node := newTestNode(t, transport.NewBufnet())
		tv := startVMOn(t, node, Config{Variant: variant})
		tv.init(nil)
		if _, err := tv.vm.Shutdown(ctxT(t), &emptypb.Empty{}); err != nil {
			t.Fatal(err)
		}
		before := node.dbOps.Load()
		tv.cancel() // in process, the node's SIGTERM
		if err := <-tv.done; err != nil {
			t.Fatal(err)
		}
		tv.done <- nil
		return node.dbOps.Load() != before
	},
}

// restart runs a VM on a node, accepts a block, shuts it down and starts
// a second VM of the variant on the same database; it returns the block and
// the second Initialize's answer.
func restart(t *testing.T, variant string) (*vmpb.BuildBlockResponse, *vmpb.InitializeResponse) {
	t.Helper()
	node := newTestNode(t, transport.NewBufnet())
	first := startVMOn(t, node, Config{Variant: variant})
	first.init(nil)
	blk := first.buildAccept("k", "v")
	if _, err := first.vm.Shutdown(ctxT(t), &emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	again := startVMOn(t, node, Config{Variant: variant})
	return blk, again.init(nil)
}

// restartedVM is restart's second VM and the block accepted before it.
func restartedVM(t *testing.T, variant string) (*testVM, *vmpb.BuildBlockResponse) {
	t.Helper()
	node := newTestNode(t, transport.NewBufnet())
	first := startVMOn(t, node, Config{Variant: variant})
	first.init(nil)
	blk := first.buildAccept("k", "v")
	if _, err := first.vm.Shutdown(ctxT(t), &emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	again := startVMOn(t, node, Config{Variant: variant})
	if resp := again.init(nil); !bytes.Equal(resp.LastAcceptedId, blk.Id) {
		t.Fatalf("the restarted VM reports last accepted %x, want %x", resp.LastAcceptedId, blk.Id)
	}
	return again, blk
}

// sendWaitForEvent sends a WaitForEvent and returns once it is practically
// certain to be served: the request is on the wire before two whole Health
// round trips on the same connection. The channel gets its outcome.
func sendWaitForEvent(t *testing.T, ctx context.Context, tv *testVM) <-chan error {
	t.Helper()
	desc := &grpc.StreamDesc{StreamName: "WaitForEvent"}
	cs, err := tv.conn.NewStream(ctx, desc, "/vm.VM/WaitForEvent")
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.SendMsg(&emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CloseSend(); err != nil {
		t.Fatal(err)
	}
	out := make(chan error, 1)
	go func() { out <- cs.RecvMsg(&vmpb.WaitForEventResponse{}) }()
	for range 2 {
		if _, err := tv.vm.Health(ctxT(t), &emptypb.Empty{}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// pingedPeer starts the VM, connects a peer, and returns the id of the
// ping refvm sent it.
func pingedPeer(t *testing.T, variant string) (*testVM, []byte, uint32) {
	t.Helper()
	tv := startVM(t, Config{Variant: variant})
	tv.init(nil)
	peer := bytes.Repeat([]byte{7}, 20)
	if _, err := tv.vm.Connected(ctxT(t), &vmpb.ConnectedRequest{NodeId: peer, Name: "avalanchego", Major: 1, Minor: 15}); err != nil {
		t.Fatal(err)
	}
	m := <-tv.node.sent
	if m.kind != "request" || string(m.bytes) != PingRequest {
		t.Fatalf("after Connected refvm sent %s %q, want a ping request", m.kind, m.bytes)
	}
	return tv, peer, m.requestID
}

func TestEveryVariantHasACheck(t *testing.T) {
	if len(Variants()) != 23 || len(variantChecks) != len(Variants()) {
		t.Fatalf("%d variants, %d checks", len(Variants()), len(variantChecks))
	}
	for _, v := range Variants() {
		if variantChecks[v.Name] == nil || v.Description == "" {
			t.Fatalf("variant %q lacks a check or a description", v.Name)
		}
	}
}

func TestVariantsMisbehave(t *testing.T) {
	for _, v := range Variants() {
		t.Run(v.Name, func(t *testing.T) {
			if !variantChecks[v.Name](t, v.Name) {
				t.Fatalf("variant %s behaved correctly", v.Name)
			}
		})
	}
}

func TestVariantChecksPassOnCorrectVM(t *testing.T) {
	for _, v := range Variants() {
		t.Run(v.Name, func(t *testing.T) {
			if variantChecks[v.Name](t, "") {
				t.Fatalf("the correct VM fails the %s check", v.Name)
			}
		})
	}
}

func TestUnknownVariant(t *testing.T) {
	if err := Serve(ctxT(t), "bufnet:x", Config{Variant: "nope", Transport: transport.NewBufnet()}); err == nil {
		t.Fatal("Serve accepted an unknown variant")
	}
}
