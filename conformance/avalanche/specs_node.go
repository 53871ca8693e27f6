package avalanche

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
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

// Peers of the app specs, none of them the node itself: peer sends the
// VM requests; answeringPeer answers the VM's requests (as this same VM
// answers them); unreachablePeer is reported Connected to the VM while the
// node cannot send to it, so the VM's requests to it fail at once.
var (
	peer            = ids.NodeID{0x76, 0x6d, 0x74, 0x65, 0x73, 0x74}
	answeringPeer   = ids.NodeID{0x76, 0x6d, 0x74, 0x65, 0x73, 0x74, 0x02}
	unreachablePeer = ids.NodeID{0x76, 0x6d, 0x74, 0x65, 0x73, 0x74, 0x03}
)

// Request ids of the app specs; each spec waits for the answer to its own.
const (
	reqUnknownHandler = 4242 // AVA-APP-001
	reqAfterGossip    = 4243 // AVA-APP-002
	reqReconnected    = 4244 // AVA-APP-003
)

// stateSyncSpec: StateSyncEnabled, asked on every chain start.
func (c *chain) stateSyncSpec() {
	c.s.it("AVA-SYN-001", func(ctx SpecContext) {
		c.mustInitialized(ctx)
		var en *vmpb.StateSyncEnabledResponse
		err := c.t.doCall(ctx, "StateSyncEnabled", func(ctx context.Context) (err error) {
			en, err = c.t.vm.StateSyncEnabled(ctx, &emptypb.Empty{})
			return err
		})
		expectOK(err, "AvalancheGo asks StateSyncEnabled on every chain start")
		if !en.GetEnabled() {
			Skip("StateSyncEnabled is false: the VM does not state sync")
		}
		var last *vmpb.GetLastStateSummaryResponse
		err = c.t.doCall(ctx, "GetLastStateSummary", func(ctx context.Context) (err error) {
			last, err = c.t.vm.GetLastStateSummary(ctx, &emptypb.Empty{})
			return err
		})
		expectOK(err, "state sync is enabled, so peers ask for the last state summary")
		if last.GetErr() == vmpb.Error_ERROR_NOT_FOUND {
			Skip("state sync is enabled but the VM has no state summary yet")
		}
		Expect(last.GetErr()).To(Equal(vmpb.Error_ERROR_UNSPECIFIED), "GetLastStateSummary answered %s", last.GetErr())
		var parsed *vmpb.ParseStateSummaryResponse
		err = c.t.doCall(ctx, "ParseStateSummary", func(ctx context.Context) (err error) {
			parsed, err = c.t.vm.ParseStateSummary(ctx, &vmpb.ParseStateSummaryRequest{Bytes: last.GetBytes()})
			return err
		})
		expectOK(err, "ParseStateSummary of the VM's own last summary failed")
		Expect(parsed.GetErr()).To(Equal(vmpb.Error_ERROR_UNSPECIFIED), "ParseStateSummary of the last summary answered %s", parsed.GetErr())
		Expect(parsed.GetId()).To(Equal(last.GetId()), "ParseStateSummary gives id %x, GetLastStateSummary said %x", parsed.GetId(), last.GetId())
		Expect(parsed.GetHeight()).To(Equal(last.GetHeight()), "ParseStateSummary gives height %d, GetLastStateSummary said %d", parsed.GetHeight(), last.GetHeight())
	})
}

// peerSpec: Connected and Disconnected, as the node reports itself and
// its peers.
func (c *chain) peerSpec() {
	c.s.it("AVA-APP-003", func(ctx SpecContext) {
		c.mustInitialized(ctx)
		version := c.t.cfg.nodeVersion()
		expectOK(c.t.connected(ctx, c.t.node.NodeID(), version), "AvalancheGo reports the node itself as connected, announcing %s", version)
		expectOK(c.t.connected(ctx, peer, version), "AvalancheGo reports every peer as connected")
		c.t.node.SetConnected(peer, false)
		expectOK(c.t.doCall(ctx, fmt.Sprintf("Disconnected(%s)", peer), func(ctx context.Context) error {
			_, err := c.t.vm.Disconnected(ctx, &vmpb.DisconnectedRequest{NodeId: peer[:]})
			return err
		}), "Disconnected for a peer that left failed")
		expectOK(c.t.connected(ctx, peer, version), "Connected for a peer that came back failed")
		msg := c.appRequest(ctx, reqReconnected)
		Expect(msg.RequestID).To(BeEquivalentTo(reqReconnected), "the first answer after request %d was Send%s for request %d", reqReconnected, msg.Kind, msg.RequestID)
		Expect(msg.Kind).To(Equal(avalanchego.AppKindError), "the VM answered request %d of the reconnected peer with Send%s, want SendAppError", reqReconnected, msg.Kind)
		Expect(msg.NodeIDs).To(ContainElement(peer), "the answer to the reconnected peer %s went to %v", peer, msg.NodeIDs)
	})
}

// nodeSpecs: app messages from peers and metrics, in normal operation.
func (c *chain) nodeSpecs() {
	c.s.it("AVA-APP-001", func(ctx SpecContext) {
		c.mustInitialized(ctx)
		msg := c.appRequest(ctx, reqUnknownHandler)
		Expect(msg.RequestID).To(BeEquivalentTo(reqUnknownHandler), "the first answer after request %d was Send%s for request %d", reqUnknownHandler, msg.Kind, msg.RequestID)
		Expect(msg.Kind).To(Equal(avalanchego.AppKindError), "the VM answered request %d with Send%s, want SendAppError", reqUnknownHandler, msg.Kind)
		Expect(msg.NodeIDs).To(ContainElement(peer), "SendAppError went to %v, not to the requester %s", msg.NodeIDs, peer)
	})

	c.s.it("AVA-APP-002", func(ctx SpecContext) {
		c.mustInitialized(ctx)
		expectOK(c.t.doCall(ctx, "AppGossip", func(ctx context.Context) error {
			_, err := c.t.vm.AppGossip(ctx, &vmpb.AppGossipMsg{NodeId: peer[:], Msg: unknownHandlerRequest()})
			return err
		}), "gossip is best effort: a gossip message for an unknown handler MUST be dropped, not fail the call")
		// Nothing may answer the gossip: the first answer the VM sends after
		// it is the one to the request made next.
		msg := c.appRequest(ctx, reqAfterGossip)
		Expect(msg.RequestID).To(BeEquivalentTo(reqAfterGossip), "after AppGossip for an unknown handler the VM sent Send%s (request %d) to %v; gossip MUST NOT be answered", msg.Kind, msg.RequestID, msg.NodeIDs)
	})

	c.s.it("AVA-APP-004", func(ctx SpecContext) {
		c.mustInitialized(ctx)
		req := c.requestTo(ctx, answeringPeer, true)
		d := c.delivery(ctx, "AppResponse", answeringPeer, req.RequestID)
		expectOK(d.Err, "the peer %s answered request %d (as this VM answers it) and the node delivered AppResponse; the VM refused it, and AvalancheGo shuts a chain down when its VM fails an AppResponse", answeringPeer, req.RequestID)
	})

	c.s.it("AVA-APP-005", func(ctx SpecContext) {
		c.mustInitialized(ctx)
		req := c.requestTo(ctx, unreachablePeer, false)
		d := c.delivery(ctx, "AppRequestFailed", unreachablePeer, req.RequestID)
		expectOK(d.Err, "request %d to %s could not be sent and the node delivered AppRequestFailed(-1, \"timed out\"); the VM refused it, and AvalancheGo shuts a chain down when its VM fails an AppRequestFailed", req.RequestID, unreachablePeer)
		expectOK(c.t.doCall(ctx, "Health", func(ctx context.Context) error {
			_, err := c.t.vm.Health(ctx, &emptypb.Empty{})
			return err
		}), "after AppRequestFailed the VM MUST keep serving")
	})

	c.s.it("AVA-MET-001", func(ctx SpecContext) {
		c.mustInitialized(ctx)
		var resp *vmpb.GatherResponse
		expectOK(c.t.doCall(ctx, "Gather", func(ctx context.Context) (err error) {
			resp, err = c.t.vm.Gather(ctx, &emptypb.Empty{})
			return err
		}), "Gather is how the node reads the VM's metrics")
		seen := map[string]bool{}
		for _, mf := range resp.GetMetricFamilies() {
			Expect(mf.GetName()).NotTo(BeEmpty(), "Gather returned a metric family without a name")
			Expect(seen[mf.GetName()]).To(BeFalse(), "Gather returned metric family %q twice", mf.GetName())
			seen[mf.GetName()] = true
		}
	})
}

// connected calls Connected for node announcing version ("avalanchego/1.15.0").
func (t *target) connected(ctx context.Context, node ids.NodeID, version string) error {
	t.node.SetConnected(node, true)
	return t.doCall(ctx, fmt.Sprintf("Connected(%s, %s)", node, version), func(ctx context.Context) error {
		_, err := t.vm.Connected(ctx, avalanchego.ConnectedRequest(node, version))
		return err
	})
}

// appRequest sends the peer an AppRequest for an unknown handler and
// returns the first answer (not gossip) the VM sent through the node's
// AppSender after it.
func (c *chain) appRequest(ctx context.Context, reqID uint32) avalanchego.AppMessage {
	expectOK(c.t.doCall(ctx, fmt.Sprintf("AppRequest(%d)", reqID), func(ctx context.Context) error {
		_, err := c.t.vm.AppRequest(ctx, &vmpb.AppRequestMsg{
			NodeId: peer[:], RequestId: reqID, Deadline: timestamppb.New(time.Now().Add(c.t.cfg.CallTimeout)),
			Request: unknownHandlerRequest(),
		})
		return err
	}), "AppRequest for an unknown handler MUST be answered with SendAppError, not a failed call")
	cctx, cancel := c.t.call(ctx)
	defer cancel()
	msg, err := nextAnswer(cctx, c.t.node.AppSender())
	expectOK(err, "no answer to request %d within %s: the VM dropped an AppRequest, so the requester waits until its deadline", reqID, c.t.cfg.CallTimeout)
	return msg
}

// nextAnswer is the next answer (response or error) the VM sent: a VM
// gossips and asks peers things whenever it likes.
func nextAnswer(ctx context.Context, rec *avalanchego.AppSenderRecorder) (avalanchego.AppMessage, error) {
	for {
		m, err := rec.Next(ctx)
		if err != nil || (m.Kind != avalanchego.AppKindGossip && m.Kind != avalanchego.AppKindRequest) {
			return m, err
		}
	}
}

// requestTo reports to to the VM as a newly connected peer (reachable: the
// node can send to it) and returns the first AppRequest the VM sends it;
// a VM that asks its peers nothing skips the spec.
func (c *chain) requestTo(ctx context.Context, to ids.NodeID, reachable bool) avalanchego.AppMessage {
	if c.asksNothing {
		Skip("the VM sent no AppRequest to a newly connected peer earlier (see AVA-APP-004): it asks its peers nothing, so there is no answer to deliver")
	}
	version := c.t.cfg.nodeVersion()
	c.t.node.SetConnected(to, reachable)
	expectOK(c.t.doCall(ctx, fmt.Sprintf("Connected(%s, %s)", to, version), func(ctx context.Context) error {
		_, err := c.t.vm.Connected(ctx, avalanchego.ConnectedRequest(to, version))
		return err
	}), "AvalancheGo reports every peer as connected")
	wait := min(c.t.cfg.CallTimeout, peerRequestWait)
	cctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	msg, err := c.t.node.AppSender().Await(cctx, func(m avalanchego.AppMessage) bool {
		return m.Kind == avalanchego.AppKindRequest && slices.Contains(m.NodeIDs, to)
	})
	if err != nil {
		c.asksNothing = true
		Skip(fmt.Sprintf("the VM sent no AppRequest to the newly connected peer %s within %s: it asks its peers nothing, so there is no answer to deliver", to, wait))
	}
	return msg
}

// delivery waits for the node to deliver call for request reqID of peer.
func (c *chain) delivery(ctx context.Context, call string, from ids.NodeID, reqID uint32) avalanchego.AppDelivery {
	cctx, cancel := context.WithTimeout(ctx, c.t.cfg.CallTimeout+appRequestTimeout(c.t.cfg))
	defer cancel()
	d, err := c.t.node.AwaitAppDelivery(cctx, func(d avalanchego.AppDelivery) bool {
		return d.Call == call && d.NodeID == from && d.RequestID == reqID
	})
	expectOK(err, "the node did not deliver %s for the VM's request %d to %s", call, reqID, from)
	return d
}

// peerRequestWait is how long a newly connected peer waits for the VM's
// first AppRequest (a p2p handshake, or pull gossip every second or so)
// before the app-answer specs skip.
const peerRequestWait = 2 * time.Second

// peerRequestIDs numbers the requests answeringPeer is asked, apart from
// the suite's own (4242...).
const peerRequestIDs = 1 << 30

// answerAsPeer is the node's PeerApp: answeringPeer answers a request as
// this same VM answers it when that peer asks; every other peer is silent
// (the node fails the request at its timeout).
func (t *target) answerAsPeer(ctx context.Context, to ids.NodeID, req []byte) ([]byte, error) {
	if to != answeringPeer {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	id := peerRequestIDs + t.peerAsks.Add(1)
	if _, err := t.vm.AppRequest(ctx, &vmpb.AppRequestMsg{NodeId: to[:], RequestId: id, Deadline: timestamppb.New(time.Now().Add(appRequestTimeout(t.cfg))), Request: req}); err != nil {
		return nil, err
	}
	m, err := t.node.AppSender().Await(ctx, func(m avalanchego.AppMessage) bool {
		return (m.Kind == avalanchego.AppKindResponse || m.Kind == avalanchego.AppKindError) && m.RequestID == id
	})
	switch {
	case err != nil:
		return nil, err
	case m.Kind == avalanchego.AppKindError:
		return nil, &avalanchego.AppError{Code: m.ErrorCode, Message: m.ErrorMessage}
	}
	return m.Bytes, nil
}
