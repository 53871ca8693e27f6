package avalanchego

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/vmtestbed/vmtestbed/sim"
)

// Directions of a traced call.
const (
	DirNodeToPlugin = "node->plugin"
	DirPluginToNode = "plugin->node"
)

// TraceEvent is one RPC, recorded when it finished.
type TraceEvent struct {
	Seq      int           `json:"seq"`
	At       time.Duration `json:"at"` // call start, since the trace started
	Dir      string        `json:"dir"`
	Method   string        `json:"method"` // full gRPC method, e.g. /vm.VM/Version
	Request  string        `json:"request"`
	Response string        `json:"response"`
	Latency  time.Duration `json:"latency"`
	Code     string        `json:"code"` // gRPC code name, "OK" on success
}

// Trace records RPCs in both directions. It is safe for concurrent use.
type Trace struct {
	clock func() time.Time
	start time.Time

	mu     sync.Mutex
	events []TraceEvent
}

// NewTrace starts a trace on clock (nil: the wall clock).
func NewTrace(clock sim.Clock) *Trace {
	if clock == nil {
		clock = sim.RealClock{}
	}
	return &Trace{clock: clock.Now, start: clock.Now()}
}

// Events returns a copy of the events in completion order.
func (t *Trace) Events() []TraceEvent {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]TraceEvent, len(t.events))
	copy(out, t.events)
	return out
}

// Len is the number of recorded events.
func (t *Trace) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.events)
}

// Record adds an event for a finished call; begun is the call's start time
// from the trace's clock.
func (t *Trace) Record(dir, method string, req, resp any, begun time.Time, err error) {
	end := t.clock()
	ev := TraceEvent{
		At:       begun.Sub(t.start),
		Dir:      dir,
		Method:   method,
		Request:  Summarize(req),
		Response: "",
		Latency:  end.Sub(begun),
		Code:     status.Code(err).String(),
	}
	if err == nil {
		ev.Response = Summarize(resp)
	} else {
		ev.Response = shorten(status.Convert(err).Message(), 80)
	}
	t.mu.Lock()
	ev.Seq = len(t.events) + 1
	t.events = append(t.events, ev)
	t.mu.Unlock()
}

// UnaryClientInterceptor traces calls the node makes to the plugin.
func (t *Trace) UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		begun := t.clock()
		err := invoker(ctx, method, req, reply, cc, opts...)
		t.Record(DirNodeToPlugin, method, req, reply, begun, err)
		return err
	}
}

// UnaryServerInterceptor traces calls the plugin makes to node services.
func (t *Trace) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		begun := t.clock()
		resp, err := handler(ctx, req)
		t.Record(DirPluginToNode, info.FullMethod, req, resp, begun, err)
		return resp, err
	}
}

// StreamServerInterceptor traces streaming calls to node services (none of
// the rpcchainvm services stream today; kept so every service is covered).
func (t *Trace) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		begun := t.clock()
		err := handler(srv, ss)
		t.Record(DirPluginToNode, info.FullMethod, "stream", "stream", begun, err)
		return err
	}
}
