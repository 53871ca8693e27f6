package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Dist is a latency distribution; Sample draws from the world's source.
type Dist interface {
	Sample(r *rand.Rand) time.Duration
	String() string
}

// Fixed is a constant latency.
type Fixed time.Duration

// Sample returns d.
func (d Fixed) Sample(*rand.Rand) time.Duration { return time.Duration(d) }
func (d Fixed) String() string                  { return "fixed(" + time.Duration(d).String() + ")" }

// Uniform is a latency uniform in [Min, Max].
type Uniform struct{ Min, Max time.Duration }

// Sample draws uniformly in [Min, Max].
func (u Uniform) Sample(r *rand.Rand) time.Duration {
	if u.Max <= u.Min {
		return u.Min
	}
	return u.Min + time.Duration(r.Int64N(int64(u.Max-u.Min)+1))
}
func (u Uniform) String() string { return fmt.Sprintf("uniform(%s,%s)", u.Min, u.Max) }

// Normal is a latency with mean Mean and standard deviation StdDev,
// clamped at Min (never negative).
type Normal struct{ Mean, StdDev, Min time.Duration }

// Sample draws from the normal distribution, clamped.
func (n Normal) Sample(r *rand.Rand) time.Duration {
	d := time.Duration(math.Round(float64(n.Mean) + r.NormFloat64()*float64(n.StdDev)))
	return max(d, n.Min, 0)
}
func (n Normal) String() string { return fmt.Sprintf("normal(%s±%s)", n.Mean, n.StdDev) }

// DefaultLatency is a link's latency when Link.Latency is nil.
var DefaultLatency Dist = Uniform{Min: 5 * time.Millisecond, Max: 15 * time.Millisecond}

// Link is what happens to messages from one endpoint to another.
type Link struct {
	Latency   Dist    // nil = DefaultLatency
	Loss      float64 // probability a message is lost
	Duplicate float64 // probability a message is delivered twice (the copy with its own latency)
	// Reorder is the probability a message is held back by ReorderDelay
	// on top of its latency, so later messages overtake it.
	Reorder      float64
	ReorderDelay Dist // nil = 5x the latency draw
}

func (l Link) String() string {
	lat := l.Latency
	if lat == nil {
		lat = DefaultLatency
	}
	return fmt.Sprintf("latency=%s loss=%g dup=%g reorder=%g", lat, l.Loss, l.Duplicate, l.Reorder)
}

// Message is one cross-node message. Deliver runs at the destination when
// the message comes off the delivery queue, inside a span (KindDeliver) on
// node To, so work it does nests under the delivery.
type Message struct {
	From, To string
	Kind     string // e.g. "app-gossip", "push-query"
	Detail   string
	Deliver  func()
}

// Net routes messages between named endpoints through the world's delivery
// queue. Every cross-node message must go through Send.
type Net struct {
	w       *World
	def     Link
	links   map[[2]string]Link
	group   map[string]int // partition group per endpoint; absent = group 0
	parted  bool
	watches []func()
}

func newNet(w *World) *Net {
	return &Net{w: w, links: map[[2]string]Link{}, group: map[string]int{}}
}

// SetDefault sets the link every pair uses unless SetLink says otherwise.
func (n *Net) SetDefault(l Link) {
	n.def = l
	n.w.trace.Add(Event{Kind: KindTopology, Name: "default-link", Detail: l.String()})
}

// SetLink sets the link from one endpoint to another (one direction).
func (n *Net) SetLink(from, to string, l Link) {
	n.links[[2]string{from, to}] = l
	n.w.trace.Add(Event{Kind: KindTopology, Name: "link", From: from, To: to, Detail: l.String()})
}

// LinkOf is the link from one endpoint to another.
func (n *Net) LinkOf(from, to string) Link {
	if l, ok := n.links[[2]string{from, to}]; ok {
		return l
	}
	return n.def
}

// OnTopology registers f to run (inside the world's goroutine) after every
// Partition and Heal, so the owner of the endpoints can announce
// connections and disconnections.
func (n *Net) OnTopology(f func()) { n.watches = append(n.watches, f) }

// Partition splits the endpoints into groups that cannot reach each other;
// an endpoint in no group is alone in its own. Messages already in flight
// across the cut are lost when they arrive.
func (n *Net) Partition(groups ...[]string) {
	n.group = map[string]int{}
	var parts []string
	for i, g := range groups {
		for _, e := range g {
			n.group[e] = i + 1
		}
		parts = append(parts, "{"+strings.Join(g, ",")+"}")
	}
	n.parted = true
	n.w.trace.Add(Event{Kind: KindTopology, Name: "partition", Detail: strings.Join(parts, " ")})
	n.notify()
}

// Heal ends every partition.
func (n *Net) Heal() {
	n.group = map[string]int{}
	n.parted = false
	n.w.trace.Add(Event{Kind: KindTopology, Name: "heal"})
	n.notify()
}

func (n *Net) notify() {
	for _, f := range slices.Clone(n.watches) {
		f()
	}
}

// Partitioned reports whether a partition is in force (no Heal since).
func (n *Net) Partitioned() bool { return n.parted }

// Reachable reports whether a message from a to b can arrive now.
func (n *Net) Reachable(a, b string) bool {
	if !n.parted || a == b {
		return true
	}
	ga, oka := n.group[a]
	gb, okb := n.group[b]
	if !oka || !okb {
		return false
	}
	return ga == gb
}

// Send hands m to the delivery queue: the link's loss, drop faults and
// partitions may lose it; latency (plus delay faults and reordering) sets
// its arrival; it may be duplicated. It returns the send event's span id.
func (n *Net) Send(m Message) uint64 {
	w := n.w
	sent := w.trace.Add(Event{Node: m.From, Kind: KindSend, Name: m.Kind, From: m.From, To: m.To, Detail: m.Detail, Span: n.nextSpan()})
	l := n.LinkOf(m.From, m.To)
	target := m.From + "->" + m.To
	switch {
	case !n.Reachable(m.From, m.To):
		n.drop(m, sent.Span, "partitioned")
		return sent.Span
	case l.Loss > 0 && w.rng.Float64() < l.Loss:
		n.drop(m, sent.Span, "lost")
		return sent.Span
	case w.faults.roll(FaultDrop, target):
		n.drop(m, sent.Span, "drop fault")
		return sent.Span
	}
	copies := 1
	if l.Duplicate > 0 && w.rng.Float64() < l.Duplicate {
		copies = 2
	}
	for c := range copies {
		d := n.latency(l)
		d += w.faults.delay(target)
		note := ""
		if c > 0 {
			note = "duplicate"
		}
		w.After(d, func() { n.deliver(m, sent.Span, note) })
	}
	return sent.Span
}

func (n *Net) latency(l Link) time.Duration {
	lat := l.Latency
	if lat == nil {
		lat = DefaultLatency
	}
	d := lat.Sample(n.w.rng)
	if l.Reorder > 0 && n.w.rng.Float64() < l.Reorder {
		if l.ReorderDelay != nil {
			d += l.ReorderDelay.Sample(n.w.rng)
		} else {
			d += 5 * d
		}
	}
	return d
}

// nextSpan reserves a span id for a send (so deliveries can name it).
func (n *Net) nextSpan() uint64 {
	t := n.w.trace
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nextSpan++
	return t.nextSpan
}

func (n *Net) drop(m Message, parent uint64, why string) {
	n.w.trace.Add(Event{Node: m.To, Kind: KindDrop, Name: m.Kind, From: m.From, To: m.To, Parent: parent, Detail: why})
}

func (n *Net) deliver(m Message, parent uint64, note string) {
	if !n.Reachable(m.From, m.To) {
		n.drop(m, parent, "partitioned in flight")
		return
	}
	detail := m.Detail
	if note != "" {
		detail = strings.TrimSpace(detail + " (" + note + ")")
	}
	sp := n.w.trace.Begin(Event{Node: m.To, Kind: KindDeliver, Name: m.Kind, From: m.From, To: m.To, Parent: parent, Detail: detail})
	defer sp.End("", nil)
	if m.Deliver != nil {
		m.Deliver()
	}
}
