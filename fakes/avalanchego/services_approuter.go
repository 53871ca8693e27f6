package avalanchego

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ava-labs/avalanchego/ids"
	"google.golang.org/protobuf/types/known/timestamppb"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
)

// DefaultAppRequestTimeout is how long the node waits for an answer to an
// AppRequest the plugin sent: AvalancheGo's network-initial-timeout.
const DefaultAppRequestTimeout = 5 * time.Second

// AppError is an application-level error answer (AvalancheGo's
// common.AppError), delivered to the requesting VM by AppRequestFailed.
type AppError struct {
	Code    int32
	Message string
}

func (e *AppError) Error() string { return e.Message }

// ErrAppTimeout is what AvalancheGo delivers when nobody answered in time
// (common.ErrTimeout: code -1, "timed out").
var ErrAppTimeout = &AppError{Code: -1, Message: "timed out"}

// PeerAppHandler answers an AppRequest the plugin sent to a connected peer.
// A *AppError is delivered as that error; any other error, or ctx ending
// (the request's timeout), as ErrAppTimeout.
type PeerAppHandler func(ctx context.Context, peer ids.NodeID, request []byte) ([]byte, error)

// appRouter answers the plugin's AppRequests as AvalancheGo's sender and
// router do: a request to the node itself goes to the VM's own AppRequest,
// and its SendAppResponse/SendAppError comes back as AppResponse or
// AppRequestFailed; a request to a connected peer is answered by PeerApp or
// fails with ErrAppTimeout after the timeout; a request to a node that is
// not connected fails at once. Until a VM is attached (Node.RouteApp) the
// node only records what the plugin sends.
var _ AppNetwork = (*appRouter)(nil)

type appRouter struct {
	timeout time.Duration
	peerApp PeerAppHandler

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	vm        vmpb.VMClient
	self      ids.NodeID
	connected map[ids.NodeID]bool
	selfReqs  map[uint32]chan *vmpb.AppResponseMsg // requests to self awaiting the VM's answer
	delivered []AppDelivery
	notify    chan struct{} // closed and replaced on every delivery
}

// AppDelivery is one call the node made to the VM on behalf of the app
// network: the request to itself (AppRequest), a peer's answer
// (AppResponse), or a failed request (AppRequestFailed).
type AppDelivery struct {
	Call      string // "AppRequest", "AppResponse" or "AppRequestFailed"
	NodeID    ids.NodeID
	RequestID uint32
	ErrorCode int32 // AppRequestFailed only
	Err       error // what the VM answered; nil = accepted
}

func newAppRouter(timeout time.Duration, peerApp PeerAppHandler) *appRouter {
	if timeout <= 0 {
		timeout = DefaultAppRequestTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &appRouter{timeout: timeout, peerApp: peerApp, ctx: ctx, cancel: cancel,
		connected: map[ids.NodeID]bool{}, selfReqs: map[uint32]chan *vmpb.AppResponseMsg{}, notify: make(chan struct{})}
}

// RouteApp makes the node deliver answers to the plugin's AppRequests
// through vm (the plugin's VM client), as node self.
func (n *Node) RouteApp(vm vmpb.VMClient) {
	n.apps.mu.Lock()
	defer n.apps.mu.Unlock()
	n.apps.vm, n.apps.self = vm, n.nodeID
}

// SetConnected records whether a peer is connected (the sequencer calls it
// with Connected and Disconnected); AppRequests to others fail at once.
func (n *Node) SetConnected(id ids.NodeID, up bool) {
	n.apps.mu.Lock()
	defer n.apps.mu.Unlock()
	if up {
		n.apps.connected[id] = true
	} else {
		delete(n.apps.connected, id)
	}
}

// AppDeliveries lists, in order, what the node delivered to the VM for the
// app network and whether the VM accepted it.
func (n *Node) AppDeliveries() []AppDelivery {
	n.apps.mu.Lock()
	defer n.apps.mu.Unlock()
	return append([]AppDelivery(nil), n.apps.delivered...)
}

// AwaitAppDelivery blocks until a delivery matching match was made (also
// one made before the call), or ctx ends.
func (n *Node) AwaitAppDelivery(ctx context.Context, match func(AppDelivery) bool) (AppDelivery, error) {
	for {
		n.apps.mu.Lock()
		for _, d := range n.apps.delivered {
			if match(d) {
				n.apps.mu.Unlock()
				return d, nil
			}
		}
		wait := n.apps.notify
		n.apps.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return AppDelivery{}, fmt.Errorf("wait for an app delivery: %w", ctx.Err())
		}
	}
}

func (r *appRouter) attached() (vmpb.VMClient, ids.NodeID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.vm, r.self
}

// go runs f tracked, unless the router is closed.
func (r *appRouter) run(f func(ctx context.Context)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f(r.ctx)
	}()
}

// note records a delivery once the VM answered it.
func (r *appRouter) note(d AppDelivery) {
	if r.ctx.Err() != nil {
		return // the node is closing: the call was cut, not answered
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delivered = append(r.delivered, d)
	close(r.notify)
	r.notify = make(chan struct{})
}

// SendAppRequest routes one request (AppNetwork).
func (r *appRouter) SendAppRequest(nodes []ids.NodeID, reqID uint32, msg []byte) {
	vm, self := r.attached()
	if vm == nil {
		return
	}
	for _, id := range nodes {
		switch {
		case id == self:
			r.requestSelf(vm, self, reqID, msg)
		case r.isConnected(id):
			r.run(func(ctx context.Context) { r.askPeer(ctx, vm, id, reqID, msg) })
		default: // not sent: AvalancheGo fails it at once
			r.run(func(ctx context.Context) { r.fail(ctx, vm, id, reqID, ErrAppTimeout) })
		}
	}
}

func (r *appRouter) isConnected(id ids.NodeID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.connected[id]
}

func (r *appRouter) requestSelf(vm vmpb.VMClient, self ids.NodeID, reqID uint32, msg []byte) {
	answer := make(chan *vmpb.AppResponseMsg, 1)
	r.mu.Lock()
	r.selfReqs[reqID] = answer
	r.mu.Unlock()
	r.run(func(ctx context.Context) {
		deadline := time.Now().Add(r.timeout)
		_, err := vm.AppRequest(ctx, &vmpb.AppRequestMsg{NodeId: self.Bytes(), RequestId: reqID, Deadline: timestamppb.New(deadline), Request: msg})
		r.note(AppDelivery{Call: "AppRequest", NodeID: self, RequestID: reqID, Err: err})
		t := time.NewTimer(r.timeout)
		defer t.Stop()
		select {
		case resp := <-answer:
			if resp != nil {
				_, err := vm.AppResponse(ctx, resp)
				r.note(AppDelivery{Call: "AppResponse", NodeID: self, RequestID: reqID, Err: err})
			}
		case <-t.C:
			r.takeSelf(reqID)
			r.fail(ctx, vm, self, reqID, ErrAppTimeout)
		case <-ctx.Done():
		}
	})
}

// takeSelf removes a pending request to self; nil if there is none.
func (r *appRouter) takeSelf(reqID uint32) chan *vmpb.AppResponseMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := r.selfReqs[reqID]
	delete(r.selfReqs, reqID)
	return ch
}

// SendAppResponse routes a response; only answers to self go anywhere.
func (r *appRouter) SendAppResponse(to ids.NodeID, reqID uint32, msg []byte) {
	if _, self := r.attached(); to != self {
		return
	}
	if ch := r.takeSelf(reqID); ch != nil {
		ch <- &vmpb.AppResponseMsg{NodeId: to.Bytes(), RequestId: reqID, Response: msg}
	}
}

// SendAppGossip goes nowhere: the node has no peers to gossip to.
func (r *appRouter) SendAppGossip(GossipTargets, []byte) {}

// SendAppError routes an error answer; only answers to self go anywhere.
func (r *appRouter) SendAppError(to ids.NodeID, reqID uint32, code int32, text string) {
	vm, self := r.attached()
	if to != self {
		return
	}
	if ch := r.takeSelf(reqID); ch != nil {
		ch <- nil
		r.run(func(ctx context.Context) { r.fail(ctx, vm, self, reqID, &AppError{Code: code, Message: text}) })
	}
}

func (r *appRouter) askPeer(ctx context.Context, vm vmpb.VMClient, peer ids.NodeID, reqID uint32, msg []byte) {
	if r.peerApp == nil {
		t := time.NewTimer(r.timeout)
		defer t.Stop()
		select {
		case <-t.C:
			r.fail(ctx, vm, peer, reqID, ErrAppTimeout)
		case <-ctx.Done():
		}
		return
	}
	pctx, cancel := context.WithTimeout(ctx, r.timeout)
	resp, err := r.peerApp(pctx, peer, msg)
	cancel()
	var appErr *AppError
	switch {
	case ctx.Err() != nil:
	case err == nil:
		_, err := vm.AppResponse(ctx, &vmpb.AppResponseMsg{NodeId: peer.Bytes(), RequestId: reqID, Response: resp})
		r.note(AppDelivery{Call: "AppResponse", NodeID: peer, RequestID: reqID, Err: err})
	case errors.As(err, &appErr):
		r.fail(ctx, vm, peer, reqID, appErr)
	default:
		r.fail(ctx, vm, peer, reqID, ErrAppTimeout)
	}
}

func (r *appRouter) fail(ctx context.Context, vm vmpb.VMClient, peer ids.NodeID, reqID uint32, e *AppError) {
	_, err := vm.AppRequestFailed(ctx, &vmpb.AppRequestFailedMsg{NodeId: peer.Bytes(), RequestId: reqID, ErrorCode: e.Code, ErrorMessage: e.Message})
	r.note(AppDelivery{Call: "AppRequestFailed", NodeID: peer, RequestID: reqID, ErrorCode: e.Code, Err: err})
}

// close cancels pending deliveries and waits for them.
func (r *appRouter) close() {
	r.mu.Lock()
	r.cancel()
	r.mu.Unlock()
	r.wg.Wait()
}
