package avalanchego

import (
	"context"
	"fmt"
	"sync"

	"github.com/ava-labs/avalanchego/ids"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	appsenderpb "github.com/ava-labs/avalanchego/proto/pb/appsender"
)

// Kinds of AppMessage.
const (
	AppKindRequest  = "request"
	AppKindResponse = "response"
	AppKindError    = "error"
	AppKindGossip   = "gossip"
)

// AppMessage is one call the plugin made to the node's AppSender.
type AppMessage struct {
	Kind         string // AppKindRequest, AppKindResponse, AppKindError or AppKindGossip
	NodeIDs      []ids.NodeID
	RequestID    uint32
	ErrorCode    int32
	ErrorMessage string
	Bytes        []byte
}

// AppSenderRecorder serves appsender.AppSender and records every call; in
// a node it also hands requests and answers to the node's app router.
// Safe for concurrent use.
type AppSenderRecorder struct {
	appsenderpb.UnsafeAppSenderServer

	mu     sync.Mutex
	msgs   []AppMessage
	next   int           // index of the next message Next returns
	notify chan struct{} // closed and replaced on every record

	net AppNetwork // carries what the plugin sends, in a node (set before serving)
}

// AppNetwork carries what a plugin sends through its node's AppSender to
// the other nodes, in place of the node's own router (NodeConfig.AppNetwork):
// a simulated network of several nodes. Each method is called inside the
// plugin's AppSender call, before it returns.
type AppNetwork interface {
	SendAppRequest(nodes []ids.NodeID, requestID uint32, request []byte)
	SendAppResponse(to ids.NodeID, requestID uint32, response []byte)
	SendAppError(to ids.NodeID, requestID uint32, code int32, message string)
	SendAppGossip(to GossipTargets, msg []byte)
}

// GossipTargets is who a SendAppGossip goes to, as AvalancheGo's
// common.SendConfig: the listed nodes, plus that many sampled connected
// validators, non-validators and peers of any kind.
type GossipTargets struct {
	NodeIDs                          []ids.NodeID
	Validators, NonValidators, Peers uint64
}

var _ appsenderpb.AppSenderServer = (*AppSenderRecorder)(nil)

// NewAppSenderRecorder returns an empty recorder.
func NewAppSenderRecorder() *AppSenderRecorder {
	return &AppSenderRecorder{notify: make(chan struct{})}
}

func (r *AppSenderRecorder) record(m AppMessage) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	close(r.notify)
	r.notify = make(chan struct{})
	r.mu.Unlock()
}

// Next blocks until a message not yet returned by Next was recorded, or ctx ends.
func (r *AppSenderRecorder) Next(ctx context.Context) (AppMessage, error) {
	return r.wait(ctx, func() (AppMessage, bool) {
		if r.next < len(r.msgs) {
			r.next++
			return r.msgs[r.next-1], true
		}
		return AppMessage{}, false
	})
}

// Await blocks until a message matching match was recorded (also one
// recorded before the call; Next's position is not moved), or ctx ends.
func (r *AppSenderRecorder) Await(ctx context.Context, match func(AppMessage) bool) (AppMessage, error) {
	return r.wait(ctx, func() (AppMessage, bool) {
		for _, m := range r.msgs {
			if match(m) {
				return m, true
			}
		}
		return AppMessage{}, false
	})
}

// wait calls find (under the lock) after every record until it finds a
// message, or ctx ends.
func (r *AppSenderRecorder) wait(ctx context.Context, find func() (AppMessage, bool)) (AppMessage, error) {
	for {
		r.mu.Lock()
		m, ok := find()
		wait := r.notify
		r.mu.Unlock()
		if ok {
			return m, nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return AppMessage{}, fmt.Errorf("wait for app message: %w", ctx.Err())
		}
	}
}

// All returns every recorded message in order.
func (r *AppSenderRecorder) All() []AppMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]AppMessage(nil), r.msgs...)
}

func parseNodeIDs(raw [][]byte) ([]ids.NodeID, error) {
	out := make([]ids.NodeID, 0, len(raw))
	for i, b := range raw {
		id, err := ids.ToNodeID(b)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "node_ids[%d]: %v", i, err)
		}
		out = append(out, id)
	}
	return out, nil
}

// SendAppRequest records a request to NodeIDs.
func (r *AppSenderRecorder) SendAppRequest(_ context.Context, req *appsenderpb.SendAppRequestMsg) (*emptypb.Empty, error) {
	nodes, err := parseNodeIDs(req.GetNodeIds())
	if err != nil {
		return nil, err
	}
	r.record(AppMessage{Kind: AppKindRequest, NodeIDs: nodes, RequestID: req.GetRequestId(), Bytes: req.GetRequest()})
	if r.net != nil {
		r.net.SendAppRequest(nodes, req.GetRequestId(), req.GetRequest())
	}
	return &emptypb.Empty{}, nil
}

// SendAppResponse records a response to one node.
func (r *AppSenderRecorder) SendAppResponse(_ context.Context, req *appsenderpb.SendAppResponseMsg) (*emptypb.Empty, error) {
	nodes, err := parseNodeIDs([][]byte{req.GetNodeId()})
	if err != nil {
		return nil, err
	}
	r.record(AppMessage{Kind: AppKindResponse, NodeIDs: nodes, RequestID: req.GetRequestId(), Bytes: req.GetResponse()})
	if r.net != nil {
		r.net.SendAppResponse(nodes[0], req.GetRequestId(), req.GetResponse())
	}
	return &emptypb.Empty{}, nil
}

// SendAppError records an error answer to one node.
func (r *AppSenderRecorder) SendAppError(_ context.Context, req *appsenderpb.SendAppErrorMsg) (*emptypb.Empty, error) {
	nodes, err := parseNodeIDs([][]byte{req.GetNodeId()})
	if err != nil {
		return nil, err
	}
	r.record(AppMessage{Kind: AppKindError, NodeIDs: nodes, RequestID: req.GetRequestId(),
		ErrorCode: req.GetErrorCode(), ErrorMessage: req.GetErrorMessage()})
	if r.net != nil {
		r.net.SendAppError(nodes[0], req.GetRequestId(), req.GetErrorCode(), req.GetErrorMessage())
	}
	return &emptypb.Empty{}, nil
}

// SendAppGossip records gossip.
func (r *AppSenderRecorder) SendAppGossip(_ context.Context, req *appsenderpb.SendAppGossipMsg) (*emptypb.Empty, error) {
	nodes, err := parseNodeIDs(req.GetNodeIds())
	if err != nil {
		return nil, err
	}
	r.record(AppMessage{Kind: AppKindGossip, NodeIDs: nodes, Bytes: req.GetMsg()})
	if r.net != nil {
		r.net.SendAppGossip(GossipTargets{NodeIDs: nodes, Validators: req.GetValidators(),
			NonValidators: req.GetNonValidators(), Peers: req.GetPeers()}, req.GetMsg())
	}
	return &emptypb.Empty{}, nil
}
