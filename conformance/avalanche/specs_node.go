package avalanche

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"time"

	"github.com/ava-labs/avalanchego/ids"
	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	. "github.com/onsi/ginkgo/v2" //nolint:revive // ginkgo DSL
	. "github.com/onsi/gomega"    //nolint:revive // gomega DSL
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
)

// unknownHandlerRequest is an app message for a p2p handler no VM
// registers: avalanchego's p2p layer prefixes every message with its
// handler id as a uvarint.
func unknownHandlerRequest() []byte {
	msg := binary.AppendUvarint(nil, 1<<40+7)
	return append(msg, "vmtestbed: no such handler"...)
}

// peer is a node id that is not the node's own.
var peer = ids.NodeID{0x76, 0x6d, 0x74, 0x65, 0x73, 0x74}

// nodeSpecs: peers, app messages, health, metrics and state sync.
func (c *chain) nodeSpecs() {
	it("AVA-APP-003", func(ctx SpecContext) {
		cctx, cancel := c.t.call(ctx)
		defer cancel()
		_, err := c.t.vm.Connected(cctx, &vmpb.ConnectedRequest{NodeId: peer[:], Name: "avalanchego", Major: 1, Minor: 14, Patch: 2})
		Expect(err).NotTo(HaveOccurred(), "Connected(%s, avalanchego/1.14.2) failed; AvalancheGo reports every peer", peer)
		_, err = c.t.vm.Disconnected(cctx, &vmpb.DisconnectedRequest{NodeId: peer[:]})
		Expect(err).NotTo(HaveOccurred(), "Disconnected(%s) failed", peer)
		_, err = c.t.vm.Connected(cctx, &vmpb.ConnectedRequest{NodeId: peer[:], Name: "avalanchego", Major: 1, Minor: 14, Patch: 2})
		Expect(err).NotTo(HaveOccurred(), "Connected(%s) after Disconnected failed", peer)
	})

	it("AVA-APP-001", func(ctx SpecContext) {
		const reqID = 4242
		cctx, cancel := c.t.call(ctx)
		defer cancel()
		_, err := c.t.vm.AppRequest(cctx, &vmpb.AppRequestMsg{
			NodeId: peer[:], RequestId: reqID, Deadline: timestamppb.New(time.Now().Add(c.t.cfg.CallTimeout)),
			Request: unknownHandlerRequest(),
		})
		Expect(err).NotTo(HaveOccurred(), "AppRequest for an unknown handler MUST be answered with SendAppError, not a failed call")
		msg, err := waitAppMessage(cctx, c, reqID)
		Expect(err).NotTo(HaveOccurred(), "no SendAppError for request %d within %s: the VM dropped an AppRequest for an unknown handler, so the requester waits until its deadline", reqID, c.t.cfg.CallTimeout)
		Expect(msg.Kind).To(Equal("error"), "the VM answered request %d with Send%s, want SendAppError", reqID, msg.Kind)
		Expect(msg.NodeIDs).To(ContainElement(peer), "SendAppError went to %v, not to the requester %s", msg.NodeIDs, peer)
	})

	it("AVA-APP-002", func(ctx SpecContext) {
		cctx, cancel := c.t.call(ctx)
		defer cancel()
		_, err := c.t.vm.AppGossip(cctx, &vmpb.AppGossipMsg{NodeId: peer[:], Msg: unknownHandlerRequest()})
		Expect(err).NotTo(HaveOccurred(), "gossip is best effort: a gossip message for an unknown handler MUST be dropped, not fail the call")
	})

	it("AVA-HLT-001", func(ctx SpecContext) {
		cctx, cancel := c.t.call(ctx)
		defer cancel()
		resp, err := c.t.vm.Health(cctx, &emptypb.Empty{})
		Expect(err).NotTo(HaveOccurred(), "AvalancheGo calls Health every health-check period")
		if d := resp.GetDetails(); len(d) > 0 {
			Expect(json.Valid(d)).To(BeTrue(), "Health details are not JSON: %q", d)
		}
	})

	it("AVA-MET-001", func(ctx SpecContext) {
		cctx, cancel := c.t.call(ctx)
		defer cancel()
		resp, err := c.t.vm.Gather(cctx, &emptypb.Empty{})
		Expect(err).NotTo(HaveOccurred(), "Gather is how the node reads the VM's metrics")
		seen := map[string]bool{}
		for _, mf := range resp.GetMetricFamilies() {
			Expect(mf.GetName()).NotTo(BeEmpty(), "Gather returned a metric family without a name")
			Expect(seen[mf.GetName()]).To(BeFalse(), "Gather returned metric family %q twice", mf.GetName())
			seen[mf.GetName()] = true
		}
	})

	it("AVA-SYN-001", func(ctx SpecContext) {
		cctx, cancel := c.t.call(ctx)
		defer cancel()
		en, err := c.t.vm.StateSyncEnabled(cctx, &emptypb.Empty{})
		Expect(err).NotTo(HaveOccurred(), "AvalancheGo asks StateSyncEnabled on every chain start")
		if !en.GetEnabled() {
			Skip("StateSyncEnabled is false: the VM does not state sync")
		}
		last, err := c.t.vm.GetLastStateSummary(cctx, &emptypb.Empty{})
		Expect(err).NotTo(HaveOccurred())
		if last.GetErr() == vmpb.Error_ERROR_NOT_FOUND {
			Skip("state sync is enabled but the VM has no state summary yet")
		}
		Expect(last.GetErr()).To(Equal(vmpb.Error_ERROR_UNSPECIFIED), "GetLastStateSummary answered %s", last.GetErr())
		parsed, err := c.t.vm.ParseStateSummary(cctx, &vmpb.ParseStateSummaryRequest{Bytes: last.GetBytes()})
		Expect(err).NotTo(HaveOccurred())
		Expect(parsed.GetErr()).To(Equal(vmpb.Error_ERROR_UNSPECIFIED), "ParseStateSummary of the last summary answered %s", parsed.GetErr())
		Expect(parsed.GetId()).To(Equal(last.GetId()), "ParseStateSummary gives id %x, GetLastStateSummary said %x", parsed.GetId(), last.GetId())
		Expect(parsed.GetHeight()).To(Equal(last.GetHeight()), "ParseStateSummary gives height %d, GetLastStateSummary said %d", parsed.GetHeight(), last.GetHeight())
	})
}

// waitAppMessage returns the next message the plugin sent through the
// node's AppSender for request id reqID (other messages are passed over).
func waitAppMessage(ctx context.Context, c *chain, reqID uint32) (avalanchego.AppMessage, error) {
	rec := c.t.node.AppSender()
	for {
		m, err := rec.Next(ctx)
		if err != nil {
			return avalanchego.AppMessage{}, err
		}
		if m.RequestID == reqID {
			return m, nil
		}
	}
}
