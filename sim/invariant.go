package sim

import (
	"fmt"
	"time"
)

// Violation is a broken invariant: what, where, and the seed to replay it.
type Violation struct {
	Invariant string        `json:"invariant"`
	Node      string        `json:"node"`
	Height    uint64        `json:"height"`
	Seed      int64         `json:"seed"`
	At        time.Duration `json:"at"`
	Detail    string        `json:"detail"`
}

func (v *Violation) Error() string {
	return fmt.Sprintf("invariant %s violated on node %s at height %d (seed %d, virtual time %s): %s",
		v.Invariant, v.Node, v.Height, v.Seed, v.At, v.Detail)
}

// Invariants holds the world's checks. A continuous check runs after every
// queue item; event-driven checks call Report. Either way a violation stops
// the world and is what Run returns.
type Invariants struct {
	w        *World
	checks   []namedCheck
	disabled map[string]bool
}

type namedCheck struct {
	name  string
	check func() *Violation
}

func newInvariants(w *World) *Invariants {
	return &Invariants{w: w, disabled: map[string]bool{}}
}

// Add registers a continuous check, run after every item while enabled. It
// returns nil when the invariant holds.
func (in *Invariants) Add(name string, check func() *Violation) {
	in.checks = append(in.checks, namedCheck{name, check})
}

// Enable turns an invariant on or off (all are on unless turned off).
func (in *Invariants) Enable(name string, on bool) {
	if on {
		delete(in.disabled, name)
	} else {
		in.disabled[name] = true
	}
}

// Report records a violation found by an event-driven check (v.Invariant
// names it; Seed and At are filled in), unless that invariant is off: it
// goes into the trace and stops the world. Once the world has stopped,
// later reports are ignored. It reports whether it counted.
func (in *Invariants) Report(v Violation) bool {
	if in.disabled[v.Invariant] || in.w.Err() != nil {
		return false // off, or the world already stopped (the first violation stands)
	}
	v.Seed = in.w.seed
	v.At = in.w.Elapsed()
	in.w.trace.Add(Event{Node: v.Node, Kind: KindInvariant, Name: v.Invariant, Detail: fmt.Sprintf("height %d: %s", v.Height, v.Detail)})
	in.w.Stop(&v)
	return true
}

func (in *Invariants) checkAll() {
	for _, c := range in.checks {
		if in.disabled[c.name] {
			continue
		}
		if v := c.check(); v != nil {
			v.Invariant = c.name
			in.Report(*v)
			return
		}
	}
}
