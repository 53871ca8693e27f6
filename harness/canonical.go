package harness

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
)

// writeCanonicalTrace prints the trace so that the same seed prints the same
// bytes. The order of calls that run concurrently inside one step (the
// node's WaitForEvent loop answering while an HTTP call returns) is decided
// by the Go scheduler, not by the scenario, so events are grouped by step
// and sorted inside a group; masks replace environment-specific strings.
func writeCanonicalTrace(w io.Writer, events []avalanchego.TraceEvent, stepStarts []int, masks map[string]string) {
	bounds := append(slices.Clone(stepStarts), len(events))
	from := 0
	for i, to := range bounds {
		if to > len(events) {
			to = len(events)
		}
		group := slices.Clone(events[from:to])
		slices.SortStableFunc(group, func(a, b avalanchego.TraceEvent) int {
			return cmp.Or(cmp.Compare(a.Dir, b.Dir), cmp.Compare(a.Method, b.Method),
				cmp.Compare(a.Request, b.Request), cmp.Compare(a.Response, b.Response), cmp.Compare(a.Code, b.Code))
		})
		if i == 0 {
			fmt.Fprintln(w, "-- start-up")
		} else {
			fmt.Fprintf(w, "-- step %d\n", i)
		}
		for _, ev := range group {
			line := fmt.Sprintf("   %-13s %-45s %s -> %s [%s]", ev.Dir, trimService(ev.Method), ev.Request, ev.Response, ev.Code)
			for from, to := range masks {
				if from != "" {
					line = strings.ReplaceAll(line, from, to)
				}
			}
			fmt.Fprintln(w, line)
		}
		from = to
	}
}

// newStepClock is the reference VM's block clock in scenarios: a fixed epoch
// picked by the seed, one second further at every reading, so block
// timestamps (and with them block ids) depend only on the seed.
func newStepClock(seed int64) func() time.Time {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(seed%86400) * time.Second)
	var ticks int64
	return func() time.Time {
		t := base.Add(time.Duration(ticks) * time.Second)
		ticks++
		return t
	}
}
