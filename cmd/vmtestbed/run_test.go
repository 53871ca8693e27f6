package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/fakes/refvm"
	"github.com/vmtestbed/vmtestbed/scenarios"
	"github.com/vmtestbed/vmtestbed/sim"
)

// runScenarioCLI runs `vmtestbed run ARGS --report DIR` and returns the
// result and the trace it wrote.
func runScenarioCLI(t *testing.T, args ...string) (cliResult, []byte) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "report")
	res := runCLI(t, 2*time.Minute, append(append([]string{"run"}, args...), "--report", dir)...)
	trace, err := os.ReadFile(filepath.Join(dir, "trace.json"))
	if err != nil {
		t.Fatalf("vmtestbed run %v wrote no trace: %v\n%s", args, err, res.out)
	}
	for _, f := range []string{"summary.txt", "timeline.html"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("no %s in the report: %v", f, err)
		}
	}
	return res, trace
}

// TestRunSameSeedSameTrace: `vmtestbed run three-node-conflict --seed 7`
// twice writes the same trace bytes, --seed 8 another; the trace lists each
// node's Initialize before any call that depends on it.
func TestRunSameSeedSameTrace(t *testing.T) {
	a, traceA := runScenarioCLI(t, "three-node-conflict", "--seed", "7")
	if a.code != exitOK || !strings.Contains(a.out, "seed 7") || !strings.Contains(a.out, "step 5: run_until_height 1") || !strings.Contains(a.out, "passed with seed 7") {
		t.Fatalf("exit %d, want 0 with the seed and progress:\n%s", a.code, a.out)
	}
	_, traceB := runScenarioCLI(t, "three-node-conflict", "--seed", "7")
	if !bytes.Equal(traceA, traceB) {
		t.Fatal("two runs with seed 7 wrote different trace.json")
	}
	c, traceC := runScenarioCLI(t, "three-node-conflict", "--seed", "8")
	if c.code != exitOK || bytes.Equal(traceA, traceC) {
		t.Fatalf("seed 8: exit %d, same trace %v", c.code, bytes.Equal(traceA, traceC))
	}
	evs, err := sim.ReadEventsJSON(bytes.NewReader(traceA))
	if err != nil {
		t.Fatal(err)
	}
	initialized := map[string]bool{}
	for _, ev := range evs {
		if ev.Kind != sim.KindCall || ev.Node == "" {
			continue
		}
		if ev.Name == "vm.VM/Initialize" {
			initialized[ev.Node] = true
		} else if !initialized[ev.Node] {
			t.Fatalf("#%d %s on %s comes before its Initialize", ev.Seq, ev.Name, ev.Node)
		}
	}
	if len(initialized) != 3 {
		t.Fatalf("Initialize on %d nodes, want 3", len(initialized))
	}
}

// TestRunBrokenVariantExitsWithReplay: a reference VM that accepts a block
// the network rejected breaks agreement; the run exits 1 naming the
// invariant, the seed and the command that replays it, and that command
// gives the same trace again.
func TestRunBrokenVariantExitsWithReplay(t *testing.T) {
	known := false
	for _, v := range refvm.MultiNodeVariants() {
		known = known || v.Name == refvm.VariantAcceptOnReject
	}
	if !known {
		t.Fatalf("refvm has no %s variant", refvm.VariantAcceptOnReject)
	}
	plugin := "refvm:" + refvm.VariantAcceptOnReject
	res, trace := runScenarioCLI(t, "three-node-conflict", "--seed", "7", "--plugin", plugin)
	replay := "vmtestbed run three-node-conflict --seed 7 --plugin " + plugin
	if res.code != exitFailed {
		t.Fatalf("exit %d, want 1:\n%s", res.code, res.out)
	}
	for _, want := range []string{"invariant agreement violated on node", "seed 7", "replay: " + replay} {
		if !strings.Contains(res.out, want) {
			t.Errorf("output lacks %q:\n%s", want, res.out)
		}
	}
	if n := strings.Count(res.out, "replay: "); n < 1 {
		t.Errorf("no replay line:\n%s", res.out)
	}
	args := strings.Fields(strings.TrimPrefix(replay, "vmtestbed "))
	again, trace2 := runScenarioCLI(t, args[1:]...)
	if again.code != exitFailed || !bytes.Equal(trace, trace2) {
		t.Fatalf("the replay command: exit %d, same trace %v", again.code, bytes.Equal(trace, trace2))
	}
}

func TestRunScenarioFileNodesAndUsage(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "mine.yaml")
	if err := os.WriteFile(good, []byte("name: mine\nsteps:\n  - issue: n2\n  - build: n2\n  - run_until_height: 1\nexpect:\n  - height: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, _ := runScenarioCLI(t, good, "--nodes", "5", "--seed", "3")
	if res.code != exitOK || !strings.Contains(res.out, "5 nodes") || !regexp.MustCompile(`n5=1\b`).MatchString(res.out) {
		t.Fatalf("a file with --nodes 5: exit %d:\n%s", res.code, res.out)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: bad\nsteps:\n  - build: n9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	list := runCLI(t, time.Minute, "run", "--list")
	if list.code != exitOK || !regexp.MustCompile(`(?m)^gossip-storm-10-nodes +10 nodes  ten nodes`).MatchString(list.out) || strings.Count(list.out, "\n") != len(scenarios.Names()) {
		t.Errorf("run --list: exit %d:\n%s", list.code, list.out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "no-such-scenario"}, "nor one of the built-in scenarios (" + strings.Join(scenarios.Names(), ", ") + ")"},
		{[]string{"run", bad}, bad + ":3:12: no node \"n9\""},
		{[]string{"run", good, "--nodes", "1"}, "names node n2, but --nodes 1"},
		{[]string{"run", "three-nodes", "--plugin", "refvm:nope"}, "unknown refvm variant \"nope\""},
	} {
		res := runCLI(t, time.Minute, tc.args...)
		if res.code != exitUsage || !strings.Contains(res.out, tc.want) {
			t.Errorf("%v: exit %d, want 2 with %q:\n%s", tc.args, res.code, tc.want, res.out)
		}
	}
}

// TestRunWithPluginBinary: a scenario's nodes can run a plugin binary in
// its own process (here the reference VM's); the run passes and says it is
// not deterministic. A binary that dies before the handshake fails the run
// (exit 1) with what the plugin did.
func TestRunWithPluginBinary(t *testing.T) {
	bin := refvmBinary(t, "")
	res := runCLI(t, 2*time.Minute, "run", "three-nodes", "--plugin", bin, "--seed", "3")
	if res.code != exitOK || !strings.Contains(res.out, "not deterministic: every node ran the plugin") {
		t.Fatalf("run with the refvm binary: exit %d\n%s", res.code, res.out)
	}
	res = runCLI(t, time.Minute, "run", "three-nodes", "--plugin", "/bin/true")
	if res.code != exitFailed || !strings.Contains(res.out, "plugin exited before the handshake") {
		t.Fatalf("run with /bin/true: exit %d\n%s", res.code, res.out)
	}
}
