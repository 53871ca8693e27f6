package refvm

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/emptypb"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
)

func TestWaitForEvent(t *testing.T) {
	tv := startVM(t, Config{})
	tv.init(nil)
	// A cancelled wait returns Canceled; several waiters are all woken by one tx.
	ctx, cancel := context.WithCancel(ctxT(t))
	cancelled := make(chan error, 1)
	go func() { _, err := tv.vm.WaitForEvent(ctx, &emptypb.Empty{}); cancelled <- err }()
	cancel()
	wantCode(t, <-cancelled, codes.Canceled, "cancelled WaitForEvent")

	results := make(chan error, 3)
	for range 3 {
		go func() {
			ev, err := tv.vm.WaitForEvent(ctxT(t), &emptypb.Empty{})
			if err == nil && ev.Message != vmpb.Message_MESSAGE_BUILD_BLOCK {
				err = errors.New(ev.Message.String())
			}
			results <- err
		}()
	}
	tv.issue("k", "v")
	for range 3 {
		if err := <-results; err != nil {
			t.Fatalf("waiter: %v", err)
		}
	}
}

func TestAppMessages(t *testing.T) {
	tv := startVM(t, Config{})
	tv.init(nil)
	ctx := ctxT(t)
	node := make([]byte, 20)
	if _, err := tv.vm.AppRequest(ctx, &vmpb.AppRequestMsg{NodeId: node, RequestId: 7, Request: []byte(PingRequest)}); err != nil {
		t.Fatal(err)
	}
	if m := <-tv.node.sent; m.kind != "response" || m.requestID != 7 || string(m.bytes) != PongResponse {
		t.Fatalf("ping answered with %+v", m)
	}
	if _, err := tv.vm.AppRequest(ctx, &vmpb.AppRequestMsg{NodeId: node, RequestId: 8, Request: []byte("what")}); err != nil {
		t.Fatal(err)
	}
	if m := <-tv.node.sent; m.kind != "error" || m.requestID != 8 || m.code >= 0 || m.message == "" {
		t.Fatalf("unknown request answered with %+v", m)
	}
	_, err := tv.vm.AppRequest(ctx, &vmpb.AppRequestMsg{NodeId: []byte{1}, RequestId: 9})
	wantCode(t, err, codes.InvalidArgument, "AppRequest short node id")
	for _, call := range []func() error{
		func() error {
			_, err := tv.vm.AppResponse(ctx, &vmpb.AppResponseMsg{NodeId: node, RequestId: 1})
			return err
		},
		func() error {
			_, err := tv.vm.AppRequestFailed(ctx, &vmpb.AppRequestFailedMsg{NodeId: node, RequestId: 1, ErrorCode: -1})
			return err
		},
		func() error {
			_, err := tv.vm.AppGossip(ctx, &vmpb.AppGossipMsg{NodeId: node, Msg: []byte("junk")})
			return err
		},
		func() error {
			_, err := tv.vm.Connected(ctx, &vmpb.ConnectedRequest{NodeId: node, Name: "avalanchego", Major: 1})
			return err
		},
		func() error { _, err := tv.vm.Disconnected(ctx, &vmpb.DisconnectedRequest{NodeId: node}); return err },
	} {
		if err := call(); err != nil {
			t.Fatal(err)
		}
	}
	// Gossiped txs from a peer enter the mempool.
	if _, err := tv.vm.AppGossip(ctx, &vmpb.AppGossipMsg{NodeId: node, Msg: encodeTxs([]Tx{{"g", "1"}})}); err != nil {
		t.Fatal(err)
	}
	if blk := tv.build(); blk.Height != 1 {
		t.Fatalf("block from gossip at height %d", blk.Height)
	}
}

func TestHealthAndGather(t *testing.T) {
	tv := startVM(t, Config{})
	tv.init(nil)
	tv.buildAccept("k", "v")
	h, err := tv.vm.Health(ctxT(t), &emptypb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(h.Details, &d); err != nil || d["height"] != float64(1) {
		t.Fatalf("health %s (%v)", h.Details, err)
	}
	g, err := tv.vm.Gather(ctxT(t), &emptypb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range g.MetricFamilies {
		if mf.GetName() == "refvm_blocks_accepted_total" {
			found = mf.Metric[0].Counter.GetValue() == 1
		}
	}
	if !found {
		t.Fatalf("refvm_blocks_accepted_total != 1 in %v", g.MetricFamilies)
	}
}

func TestJSONRPCErrors(t *testing.T) {
	tv := startVM(t, Config{})
	tv.init(nil)
	for name, c := range map[string]struct {
		method string
		params any
		code   int
	}{
		"unknown method": {"refvm.nope", nil, rpcMethodNotFound},
		"empty key":      {"refvm.issueTx", Tx{}, rpcInvalidParams},
		"extra field":    {"refvm.get", map[string]string{"key": "a", "x": "b"}, rpcInvalidParams},
		"both selectors": {"refvm.getBlock", map[string]any{"id": "00", "height": 1}, rpcInvalidParams},
		"bad id":         {"refvm.getBlock", map[string]any{"id": "zz"}, rpcInvalidParams},
	} {
		e := tv.rpc(c.method, c.params, nil)
		if e == nil || e.Code != c.code {
			t.Fatalf("%s: got %+v, want code %d", name, e, c.code)
		}
	}
}
