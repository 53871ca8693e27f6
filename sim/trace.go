package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Kinds of Event.
const (
	KindCall      = "call"      // a call one party makes to another (node -> plugin, plugin -> node)
	KindSend      = "send"      // a message handed to the network
	KindDeliver   = "deliver"   // a message taken off the delivery queue at its destination
	KindDrop      = "drop"      // a message the network lost (loss, partition, fault)
	KindFault     = "fault"     // a fault point fired
	KindTopology  = "topology"  // partition, heal, link change
	KindDecide    = "decide"    // a consensus decision (accept, reject)
	KindInvariant = "invariant" // an invariant violation
	KindNote      = "note"      // anything else worth showing on a timeline
)

// Event is one thing that happened in the world. Events are appended in the
// order they happen (a call when it begins), so calls made while serving a
// call come after it and name it as Parent.
type Event struct {
	Seq int `json:"seq"` // 1, 2, ... in trace order
	// At is the virtual time since the epoch, in nanoseconds in JSON.
	At time.Duration `json:"at"`
	// End is when a call returned (virtual time); equal to At unless the
	// call was slowed or stalled. Zero for events that are not calls.
	End  time.Duration `json:"end,omitempty"`
	Node string        `json:"node,omitempty"` // the lane: the node (or endpoint) this happened at
	Kind string        `json:"kind"`
	Name string        `json:"name"` // method or message kind, e.g. "vm.VM/BlockVerify", "push-query"
	From string        `json:"from,omitempty"`
	To   string        `json:"to,omitempty"`
	// Span identifies a call or delivery that can have children; 0 = none.
	Span uint64 `json:"span,omitempty"`
	// Parent is the span this event happened inside (the call being served,
	// the send a delivery came from); 0 = top level.
	Parent uint64 `json:"parent,omitempty"`
	// Background marks work nobody's call caused (a plugin's own goroutine).
	Background bool   `json:"background,omitempty"`
	Detail     string `json:"detail,omitempty"`
	Err        string `json:"err,omitempty"`
}

// Trace is the world's ordered event list. It keeps, per node, the stack of
// open spans so an event added while a span is open on its node nests under
// it. Safe for concurrent use, but determinism needs events added from the
// world's goroutine (or from calls it is waiting on).
type Trace struct {
	elapsed func() time.Duration

	mu       sync.Mutex
	events   []Event
	nextSpan uint64
	open     map[string][]uint64 // node -> open spans, innermost last
	index    map[uint64]int      // span -> index in events
	limit    int                 // 0 = keep every event
	dropped  int
}

func newTrace(elapsed func() time.Duration) *Trace {
	return &Trace{elapsed: elapsed, open: map[string][]uint64{}, index: map[uint64]int{}}
}

// NewTrace is a trace on its own clock (elapsed nil = always 0), for tests
// and tools that record outside a World.
func NewTrace(elapsed func() time.Duration) *Trace {
	if elapsed == nil {
		elapsed = func() time.Duration { return 0 }
	}
	return newTrace(elapsed)
}

// Limit keeps only the first n events (0 = all); later ones are counted in
// Dropped. Long benchmarks use it to bound memory.
func (t *Trace) Limit(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.limit = n
}

// Dropped is how many events Limit left out.
func (t *Trace) Dropped() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dropped
}

// Current is the innermost open span on node, 0 if none.
func (t *Trace) Current(node string) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.current(node)
}

func (t *Trace) current(node string) uint64 {
	if s := t.open[node]; len(s) > 0 {
		return s[len(s)-1]
	}
	return 0
}

// Add appends ev with its Seq and At set. A zero Parent becomes the
// innermost open span on ev.Node, if any. It returns ev as stored.
func (t *Trace) Add(ev Event) Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.add(ev)
}

func (t *Trace) add(ev Event) Event {
	ev.At = t.elapsed()
	if ev.Parent == 0 && !ev.Background {
		ev.Parent = t.current(ev.Node)
	}
	if t.limit > 0 && len(t.events) >= t.limit {
		t.dropped++
		return ev
	}
	ev.Seq = len(t.events) + 1
	t.events = append(t.events, ev)
	return ev
}

// Span is an open call or delivery; End closes it.
type Span struct {
	t    *Trace
	id   uint64
	node string
}

// ID is the span's id (0 for the zero Span).
func (s Span) ID() uint64 { return s.id }

// Begin appends ev as a new span (its Span set) and opens it on ev.Node:
// events added on that node until End nest under it.
func (t *Trace) Begin(ev Event) Span {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nextSpan++
	ev.Span = t.nextSpan
	ev = t.add(ev)
	if ev.Seq > 0 {
		t.index[ev.Span] = ev.Seq - 1
	}
	t.open[ev.Node] = append(t.open[ev.Node], ev.Span)
	return Span{t: t, id: ev.Span, node: ev.Node}
}

// End closes the span: it records the end time and, when set, the detail
// (appended to what Begin said) and the error.
func (s Span) End(detail string, err error) {
	if s.t == nil {
		return
	}
	t := s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	stack := t.open[s.node]
	for i := len(stack) - 1; i >= 0; i-- {
		if stack[i] == s.id {
			t.open[s.node] = append(stack[:i:i], stack[i+1:]...)
			break
		}
	}
	if len(t.open[s.node]) == 0 {
		delete(t.open, s.node)
	}
	i, ok := t.index[s.id]
	if !ok {
		return
	}
	delete(t.index, s.id)
	ev := &t.events[i]
	ev.End = t.elapsed()
	if detail != "" {
		if ev.Detail != "" {
			ev.Detail += " -> " + detail
		} else {
			ev.Detail = "-> " + detail
		}
	}
	if err != nil {
		ev.Err = err.Error()
	}
}

// Events is a copy of the events in order.
func (t *Trace) Events() []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Event(nil), t.events...)
}

// Len is the number of events kept.
func (t *Trace) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.events)
}

// WriteJSON writes the events as one JSON array, one event per line. The
// same events give the same bytes.
func (t *Trace) WriteJSON(w io.Writer) error { return WriteEventsJSON(w, t.Events()) }

// WriteEventsJSON writes events as WriteJSON does.
func WriteEventsJSON(w io.Writer, events []Event) error {
	if _, err := io.WriteString(w, "[\n"); err != nil {
		return fmt.Errorf("write trace: %w", err)
	}
	for i, ev := range events {
		b, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("encode event %d: %w", ev.Seq, err)
		}
		if i < len(events)-1 {
			b = append(b, ',')
		}
		b = append(b, '\n')
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("write trace: %w", err)
		}
	}
	if _, err := io.WriteString(w, "]\n"); err != nil {
		return fmt.Errorf("write trace: %w", err)
	}
	return nil
}

// ReadEventsJSON decodes what WriteJSON wrote.
func ReadEventsJSON(r io.Reader) ([]Event, error) {
	var out []Event
	if err := json.NewDecoder(r).Decode(&out); err != nil {
		return nil, fmt.Errorf("read trace: %w", err)
	}
	return out, nil
}
