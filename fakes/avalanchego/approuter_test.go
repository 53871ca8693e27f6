package avalanchego_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ava-labs/avalanchego/ids"

	appsenderpb "github.com/ava-labs/avalanchego/proto/pb/appsender"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/fakes/refvm"
	"github.com/vmtestbed/vmtestbed/transport"
)

// The node answers the AppRequests a plugin sends, as AvalancheGo's sender
// and router do: to itself through the VM's own AppRequest (refvm answers
// "ping" with "pong", delivered back as AppResponse), to a connected peer
// through PeerApp (answer, AppError, or timeout), to a node that is not
// connected with an immediate AppRequestFailed.
func TestAppRequestsAreAnsweredOrFailed(t *testing.T) {
	bn := transport.NewBufnet()
	peer, stranger := ids.GenerateTestNodeID(), ids.GenerateTestNodeID()
	trace := avalanchego.NewTrace(nil)
	node, err := avalanchego.NewNode(context.Background(), avalanchego.NodeConfig{
		Transport: bn, Seed: 1, Trace: trace, AppRequestTimeout: 200 * time.Millisecond,
		PeerApp: func(ctx context.Context, _ ids.NodeID, req []byte) ([]byte, error) {
			switch string(req) {
			case "ask":
				return []byte("answer"), nil
			case "refuse":
				return nil, &avalanchego.AppError{Code: 7, Message: "no"}
			}
			<-ctx.Done()
			return nil, ctx.Err()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Close() })
	p, err := launchInProcess(t, bn, refvm.Config{})(trace)
	if err != nil {
		t.Fatal(err)
	}
	seq := &avalanchego.Sequencer{Node: node, Plugin: p, Peers: []ids.NodeID{peer}, HealthPeriod: -1}
	t.Cleanup(func() { _ = seq.Stop(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := seq.Start(ctx); err != nil {
		t.Fatal(err)
	}

	// What the plugin would send through the node's AppSender.
	sender := appsenderpb.NewAppSenderClient(dial(t, bn, node.ServerAddr()))
	send := func(to ids.NodeID, id uint32, msg string) {
		t.Helper()
		if _, err := sender.SendAppRequest(ctx, &appsenderpb.SendAppRequestMsg{NodeIds: [][]byte{to.Bytes()}, RequestId: id, Request: []byte(msg)}); err != nil {
			t.Fatal(err)
		}
	}
	send(node.NodeID(), 1, refvm.PingRequest)
	send(peer, 2, "ask")
	send(peer, 3, "refuse")
	send(peer, 4, "silence")
	send(stranger, 5, "anyone?")

	want := map[string]string{ // what the node delivers to the VM, by request id
		"AppRequest 1":       "", // the request to itself
		"AppResponse 1":      fmt.Sprintf("response=<%dB>", len(refvm.PongResponse)),
		"AppResponse 2":      "response=<6B>",
		"AppRequestFailed 3": "error_code=7",
		"AppRequestFailed 4": "error_code=-1",
		"AppRequestFailed 5": "error_code=-1",
	}
	waitFor(t, "every answer delivered to the VM", func() bool {
		got := delivered(trace)
		for k := range want {
			if _, ok := got[k]; !ok {
				return false
			}
		}
		return true
	})
	for k, sub := range delivered(trace) {
		if w, ok := want[k]; ok && !strings.Contains(sub, w) {
			t.Errorf("%s delivered as %s, want it to carry %s", k, sub, w)
		}
	}
	for _, d := range node.AppDeliveries() {
		if d.Err != nil {
			t.Errorf("the VM refused %s %d from %s: %v", d.Call, d.RequestID, d.NodeID, d.Err)
		}
	}
}

// delivered maps "Method request_id" of node->plugin app calls to their
// request summaries.
func delivered(tr *avalanchego.Trace) map[string]string {
	out := map[string]string{}
	for _, e := range tr.Events() {
		m, ok := strings.CutPrefix(e.Method, "/vm.VM/App")
		if !ok || e.Dir != avalanchego.DirNodeToPlugin {
			continue
		}
		var id int
		if i := strings.Index(e.Request, "request_id="); i >= 0 {
			_, _ = fmt.Sscanf(e.Request[i:], "request_id=%d", &id)
		}
		out[fmt.Sprintf("App%s %d", m, id)] = e.Request
	}
	return out
}
