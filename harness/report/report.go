package report

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vmtestbed/vmtestbed/harness"
	"github.com/vmtestbed/vmtestbed/sim"
)

// Files a report directory holds.
const (
	TraceFile    = "trace.json"
	SummaryFile  = "summary.txt"
	TimelineFile = "timeline.html"
)

// Run is one scenario run as the report shows it.
type Run struct {
	Result *harness.Result
	// Source is where the scenario came from: an embedded name or a path.
	Source string
	// Replay is the command that runs it again with the same seed.
	Replay string
}

// WriteDir writes trace.json, summary.txt and timeline.html into dir
// (created if needed).
func WriteDir(dir string, r Run) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	var trace, summary, timeline bytes.Buffer
	if err := sim.WriteEventsJSON(&trace, r.Result.Events); err != nil {
		return err
	}
	WriteSummary(&summary, r)
	if err := WriteTimeline(&timeline, r); err != nil {
		return err
	}
	for name, b := range map[string][]byte{TraceFile: trace.Bytes(), SummaryFile: summary.Bytes(), TimelineFile: timeline.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	return nil
}

// WriteSummary writes the run in a few lines: result, replay command, nodes,
// counts, and what was deterministic.
func WriteSummary(w io.Writer, r Run) {
	res := r.Result
	sc := res.Scenario
	from := "built in"
	if sc.File != "" && r.Source != sc.Name && r.Source != sc.Name+".yaml" {
		from = r.Source
	}
	fmt.Fprintf(w, "scenario   %s (%s)\n", sc.Name, from)
	if sc.Description != "" {
		fmt.Fprintf(w, "           %s\n", sc.Description)
	}
	fmt.Fprintf(w, "seed       %d\n", res.Seed)
	if res.Passed() {
		fmt.Fprintf(w, "result     PASSED: %d of %d steps, %d expectations held\n", res.StepsRun, len(sc.Steps), res.Checked)
	} else {
		fmt.Fprintf(w, "result     FAILED after %d of %d steps: %v\n", res.StepsRun, len(sc.Steps), res.Failure)
		if v := res.Violation; v != nil {
			fmt.Fprintf(w, "invariant  %s on node %s at height %d (virtual time %s): %s\n", v.Invariant, v.Node, v.Height, v.At, v.Detail)
		}
	}
	fmt.Fprintf(w, "replay     %s\n", r.Replay)
	fmt.Fprintf(w, "time       %s virtual, %s wall\n", fmtTime(res.Virtual), res.Wall.Round(time.Millisecond))
	fmt.Fprintf(w, "nodes\n")
	for _, n := range res.Nodes {
		name := n.Name
		if n.Alias != "" {
			name += " (" + n.Alias + ")"
		}
		la := "-"
		if n.LastAccepted != "" {
			la = fmt.Sprintf("height %d, last accepted %s", n.Height, n.LastAccepted)
		}
		fmt.Fprintf(w, "  %-12s %-28s %-13s %s\n", name, n.Plugin, n.State, la)
	}
	kinds := map[string]int{}
	for _, ev := range res.Events {
		kinds[ev.Kind]++
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, kinds[k]))
	}
	fmt.Fprintf(w, "events     %d (%s)\n", len(res.Events), strings.Join(parts, ", "))
	var inv []string
	for _, name := range harness.Invariants() {
		if on, ok := sc.Invariants[name]; ok && !on {
			inv = append(inv, name+" off")
		} else {
			inv = append(inv, name)
		}
	}
	fmt.Fprintf(w, "invariants %s\n", strings.Join(inv, ", "))
	if res.Nondeterministic != "" {
		fmt.Fprintf(w, "determinism NOT deterministic: %s\n", res.Nondeterministic)
		return
	}
	fmt.Fprintf(w, "determinism every plugin ran in process on the virtual clock: the same seed gives the same %s bytes\n", TraceFile)
}
