package sim

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// Fault kinds. The world handles drop and delay itself (in Net.Send); the
// owner of the nodes registers handlers for the others with Faults.Handle.
const (
	FaultCrash   = "crash"   // a plugin dies (target: node)
	FaultRestart = "restart" // a crashed plugin is started again (target: node)
	FaultStall   = "stall"   // a plugin's calls stop being served (target: node)
	FaultResume  = "resume"  // a stalled plugin serves again (target: node)
	FaultSlow    = "slow"    // each call to a plugin takes extra virtual time (target: node)
	FaultDrop    = "drop"    // a message is lost (target: "from->to")
	FaultDelay   = "delay"   // a message is held back (target: "from->to")
)

// Faults are the world's fault points: fired by script (At), by chance on
// every roll (Chance), or at once (Fire). Every firing is in the trace.
type Faults struct {
	w        *World
	handlers map[string]func(target, arg string) error
	chances  []chance
	delays   map[string]time.Duration // FaultDelay by target, set by Fire
	drops    map[string]int           // FaultDrop by target: messages left to drop (-1 = all)
}

type chance struct {
	kind, target string // target "" = any
	p            float64
	arg          string
}

func newFaults(w *World) *Faults {
	f := &Faults{w: w, handlers: map[string]func(string, string) error{}, delays: map[string]time.Duration{}, drops: map[string]int{}}
	f.handlers[FaultDrop] = func(target, arg string) error {
		n := -1
		if arg != "" {
			if _, err := fmt.Sscan(arg, &n); err != nil {
				return fmt.Errorf("drop %s: count %q: %w", target, arg, err)
			}
		}
		if n == 0 {
			delete(f.drops, target)
		} else {
			f.drops[target] = n
		}
		return nil
	}
	f.handlers[FaultDelay] = func(target, arg string) error {
		d, err := DurationArg(arg)
		if err != nil {
			return fmt.Errorf("delay %s: %w", target, err)
		}
		if d == 0 {
			delete(f.delays, target)
		} else {
			f.delays[target] = d
		}
		return nil
	}
	return f
}

// DurationArg parses a fault's duration argument: "" is zero (the fault
// ends), anything else a time.ParseDuration string.
func DurationArg(arg string) (time.Duration, error) {
	if arg == "" {
		return 0, nil
	}
	return time.ParseDuration(arg)
}

// Handle registers what firing kind does; target and arg come from the
// script or Chance.
func (f *Faults) Handle(kind string, fn func(target, arg string) error) {
	f.handlers[kind] = fn
}

// Kinds lists the kinds that have a handler, sorted.
func (f *Faults) Kinds() []string {
	return slices.Sorted(maps.Keys(f.handlers))
}

// Fire runs kind's handler on target now. Built in: drop with arg a count
// ("" = every message until "drop ... 0"), delay with arg a duration ("" ends it).
func (f *Faults) Fire(kind, target, arg string) error {
	h, ok := f.handlers[kind]
	if !ok {
		return fmt.Errorf("fault %s: no handler (known: %v)", kind, f.Kinds())
	}
	f.w.trace.Add(Event{Node: nodeOf(kind, target), Kind: KindFault, Name: kind, To: target, Detail: arg})
	if err := h(target, arg); err != nil {
		return fmt.Errorf("fault %s %s: %w", kind, target, err)
	}
	return nil
}

// At fires kind on target at virtual time t (since the epoch); a failing
// handler stops the world with its error.
func (f *Faults) At(t time.Duration, kind, target, arg string) {
	f.w.At(t, func() {
		if err := f.Fire(kind, target, arg); err != nil {
			f.w.Stop(err)
		}
	})
}

// Chance makes kind fire with probability p at every Roll of kind on
// target (target "" = any target). For drop, every Send rolls. A later
// Chance for the same kind and target replaces the earlier one; p = 0
// removes it.
func (f *Faults) Chance(kind, target string, p float64, arg string) {
	f.chances = slices.DeleteFunc(f.chances, func(c chance) bool { return c.kind == kind && c.target == target })
	if p > 0 {
		f.chances = append(f.chances, chance{kind: kind, target: target, p: p, arg: arg})
	}
}

// Roll draws for kind on target: it fires (and reports true) with the
// probability Chance gave, using the world's source.
func (f *Faults) Roll(kind, target string) bool {
	c, ok := f.draw(kind, target)
	if ok {
		if err := f.Fire(kind, target, c.arg); err != nil {
			f.w.Stop(err)
		}
	}
	return ok
}

// draw goes through the chances for kind on target in order, drawing from
// the world's source for each; it returns the first that comes up.
func (f *Faults) draw(kind, target string) (chance, bool) {
	for _, c := range f.chances {
		if c.kind != kind || (c.target != "" && c.target != target) {
			continue
		}
		if f.w.rng.Float64() < c.p {
			return c, true
		}
	}
	return chance{}, false
}

// roll is Roll for the built-in drop: a scripted drop counts down first.
func (f *Faults) roll(kind, target string) bool {
	if kind == FaultDrop {
		if n, ok := f.drops[target]; ok {
			if n > 0 {
				if n == 1 {
					delete(f.drops, target)
				} else {
					f.drops[target] = n - 1
				}
			}
			return true
		}
		_, ok := f.draw(kind, target)
		return ok
	}
	return f.Roll(kind, target)
}

func (f *Faults) delay(target string) time.Duration { return f.delays[target] }

// nodeOf is the lane a fault shows on: the node, or the sender of a link.
func nodeOf(kind, target string) string {
	if kind == FaultDrop || kind == FaultDelay {
		for i := 0; i+1 < len(target); i++ {
			if target[i] == '-' && target[i+1] == '>' {
				return target[:i]
			}
		}
	}
	return target
}
