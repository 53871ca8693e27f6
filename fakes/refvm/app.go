package refvm

import (
	"context"
	"encoding/json"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/ava-labs/avalanchego/ids"
	appsenderpb "github.com/ava-labs/avalanchego/proto/pb/appsender"
	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
)

// App-level request handling: the one known request is "ping" (answered
// "pong"); anything else gets SendAppError with ErrCodeUnknownHandler.
const (
	PingRequest           = "ping"
	PongResponse          = "pong"
	ErrCodeUnknownHandler = -2
)

func (v *vm) sender() (appsenderpb.AppSenderClient, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, err := v.ready(); err != nil {
		return nil, err
	}
	return v.appSender, nil
}

func (v *vm) AppRequest(ctx context.Context, req *vmpb.AppRequestMsg) (*emptypb.Empty, error) {
	if _, err := ids.ToNodeID(req.NodeId); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "refvm: AppRequest: node id: %v", err)
	}
	s, err := v.sender()
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	v.metrics.appRequests++
	v.mu.Unlock()
	if string(req.Request) == PingRequest {
		to := req.NodeId
		if v.cfg.Variant == VariantPongToSelf {
			v.mu.Lock()
			to = v.nodeID.Bytes() // the bug: the answer goes to this node, the requester waits in vain
			v.mu.Unlock()
		}
		_, err = s.SendAppResponse(ctx, &appsenderpb.SendAppResponseMsg{NodeId: to, RequestId: req.RequestId, Response: []byte(PongResponse)})
	} else {
		if v.cfg.Variant == VariantNoAppError {
			return &emptypb.Empty{}, nil
		}
		_, err = s.SendAppError(ctx, &appsenderpb.SendAppErrorMsg{
			NodeId:       req.NodeId,
			RequestId:    req.RequestId,
			ErrorCode:    ErrCodeUnknownHandler,
			ErrorMessage: fmt.Sprintf("refvm: no handler for a %d-byte request", len(req.Request)),
		})
	}
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "refvm: AppRequest %d: answer through the app sender: %v", req.RequestId, err)
	}
	return &emptypb.Empty{}, nil
}

// ping sends a "ping" AppRequest to peer and remembers it until answered.
func (v *vm) ping(ctx context.Context, peer ids.NodeID) error {
	s, err := v.sender()
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.nextReq++
	id := v.nextReq
	v.pending[id] = peer
	v.metrics.appRequestsSent++
	v.mu.Unlock()
	if _, err := s.SendAppRequest(ctx, &appsenderpb.SendAppRequestMsg{NodeIds: [][]byte{peer.Bytes()}, RequestId: id, Request: []byte(PingRequest)}); err != nil {
		return fmt.Errorf("ping %s: %w", peer, err)
	}
	return nil
}

// answered takes the request id off the pending list; false means refvm
// never sent it to that node (or it was answered already).
func (v *vm) answered(node []byte, reqID uint32) (bool, error) {
	id, err := ids.ToNodeID(node)
	if err != nil {
		return false, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if peer, ok := v.pending[reqID]; !ok || peer != id {
		v.metrics.unrequested++
		return false, nil
	}
	delete(v.pending, reqID)
	return true, nil
}

// AppRequestFailed ends one of refvm's requests (the peer did not answer
// in time, or answered with an error). One refvm never sent is counted and
// dropped, as a real VM drops unrequested answers.
func (v *vm) AppRequestFailed(_ context.Context, req *vmpb.AppRequestFailedMsg) (*emptypb.Empty, error) {
	mine, err := v.answered(req.NodeId, req.RequestId)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "refvm: AppRequestFailed: node id: %v", err)
	}
	if mine {
		if v.cfg.Variant == VariantAppFailedError {
			return nil, status.Errorf(codes.Internal, "refvm: request %d failed (%d: %s)", req.RequestId, req.ErrorCode, req.ErrorMessage)
		}
		v.mu.Lock()
		v.metrics.appFailures++
		v.mu.Unlock()
	}
	return &emptypb.Empty{}, nil
}

// AppResponse ends one of refvm's requests with the peer's answer.
func (v *vm) AppResponse(_ context.Context, req *vmpb.AppResponseMsg) (*emptypb.Empty, error) {
	mine, err := v.answered(req.NodeId, req.RequestId)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "refvm: AppResponse: node id: %v", err)
	}
	if mine {
		if v.cfg.Variant == VariantAppResponseError || string(req.Response) != PongResponse {
			return nil, status.Errorf(codes.InvalidArgument, "refvm: request %d: answer %q is not %q", req.RequestId, req.Response, PongResponse)
		}
		v.mu.Lock()
		v.metrics.appResponses++
		v.mu.Unlock()
	}
	return &emptypb.Empty{}, nil
}

// AppGossip adds gossiped txs to the mempool. Malformed gossip is logged and
// dropped (an error would be fatal to the node's engine).
func (v *vm) AppGossip(ctx context.Context, req *vmpb.AppGossipMsg) (*emptypb.Empty, error) {
	if _, err := ids.ToNodeID(req.NodeId); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "refvm: AppGossip: node id: %v", err)
	}
	var filled bool // gossip made the mempool non-empty
	defer func() { v.notifyBuild(ctx, filled) }()
	v.mu.Lock()
	defer v.mu.Unlock()
	wasEmpty := len(v.mempool.txs) == 0
	defer func() { filled = wasEmpty && len(v.mempool.txs) > 0 }()
	if _, err := v.ready(); err != nil {
		return nil, err
	}
	txs, err := parseTxs(req.Msg)
	if err != nil {
		v.metrics.gossipDropped++
		v.logf("refvm: AppGossip: dropping %d bytes: %v", len(req.Msg), err)
		return &emptypb.Empty{}, nil
	}
	for _, tx := range txs {
		if _, err := v.mempool.add(tx); err != nil {
			v.metrics.gossipDropped++
		}
	}
	return &emptypb.Empty{}, nil
}

// gossip sends txs to peers through the node's AppSender.
func (v *vm) gossip(ctx context.Context, txs []Tx) error {
	s, err := v.sender()
	if err != nil {
		return err
	}
	msg := &appsenderpb.SendAppGossipMsg{Validators: 10, Peers: 10, Msg: encodeTxs(txs)}
	if v.cfg.Variant == VariantGossipNoTargets {
		msg.Validators, msg.Peers = 0, 0 // the bug: a gossip nobody gets
	}
	_, err = s.SendAppGossip(ctx, msg)
	if err != nil {
		return fmt.Errorf("gossip %d txs: %w", len(txs), err)
	}
	return nil
}

// Health reports JSON details about the chain.
func (v *vm) Health(context.Context, *emptypb.Empty) (*vmpb.HealthResponse, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	d := map[string]any{"initialized": v.initialized, "state": v.state.String(), "peers": len(v.peers), "mempool": len(v.mempool.txs)}
	if v.chain != nil {
		d["lastAccepted"] = v.chain.lastAccepted.ID.String()
		d["height"] = v.chain.lastAccepted.Height
		d["processing"] = len(v.chain.processing)
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "refvm: Health: %v", err)
	}
	return &vmpb.HealthResponse{Details: b}, nil
}
