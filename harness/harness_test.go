package harness

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/vmtestbed/vmtestbed/sim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseScenarioRejectsBadInputWithItsLine(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"no steps", "name: x\n", "x.yaml:1:1: scenario \"x\" has no steps"},
		{"no name", "steps: [heal]\n", "x.yaml:1:1: a scenario needs a name"},
		{"two actions in a step", "name: x\nsteps:\n  - issue: n1\n    build: n1\n", "x.yaml:4:5: a step does one thing: issue and build"},
		{"empty step", "name: x\nsteps:\n  - {}\n", "x.yaml:3:5: a step needs an action"},
		{"unknown field", "name: x\nstepz: []\n", "x.yaml:2:1: a scenario: unknown field \"stepz\""},
		{"unknown node", "name: x\ntopology: {nodes: 2}\nsteps:\n  - build: n3\n", "x.yaml:4:12: no node \"n3\" (nodes: n1 n2)"},
		{"bad duration", "name: x\nsteps:\n  - run_for: soon\n", "x.yaml:3:14: run_for must be a duration"},
		{"time goes back", "name: x\nsteps:\n  - at: 2s\n    heal: \n  - at: 1s\n    heal:\n", "x.yaml:5:5: step at 1s comes after a step at 2s"},
		{"bad latency", "name: x\ntopology:\n  links: {latency: gauss(1ms)}\nsteps: [heal]\n", "x.yaml:3:20: latency \"gauss(1ms)\""},
		{"loss over 1", "name: x\ntopology:\n  links: {loss: 1.5}\nsteps: [heal]\n", "x.yaml:3:17: loss must be between 0 and 1"},
		{"unknown variant", "name: x\ntopology: {plugin: \"refvm:nope\"}\nsteps: [heal]\n", "x.yaml:2:20: unknown refvm variant \"nope\""},
		{"alpha not a majority", "name: x\ntopology:\n  decider: {k: 4, alpha: 2}\nsteps: [heal]\n", "x.yaml:3:12: decider alpha=2 is not a majority"},
		{"unknown label", "name: x\nsteps:\n  - expect: {accepted: b9}\n", "x.yaml:3:24: no build step labels a block \"b9\""},
		{"node in two groups", "name: x\nsteps:\n  - partition: [[n1, n2], [n2, n3]]\n", "x.yaml:3:27: node n2 is in two groups"},
		{"unknown invariant", "name: x\nsteps: [heal]\ninvariants: {agreemnt: off}\n", "x.yaml:3:14: invariants: unknown field \"agreemnt\""},
		{"not yaml", "name: [\n", "x.yaml:1:1:"},
		{"workload without binary", "name: x\ntopology: {workload: xsvm}\nsteps: [heal]\n", "x.yaml:2:11: workload \"xsvm\" needs a plugin binary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseScenarioFile("x.yaml", []byte(tc.yaml))
			var pe *ParseError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want a ParseError containing %q", err, tc.want)
			}
		})
	}
}

func TestParseScenarioReadsEveryStep(t *testing.T) {
	sc, err := ParseScenario([]byte(`
name: all
topology:
  nodes: [alice, bob, {name: carol, plugin: "refvm:accept-on-reject"}]
  links:
    - {latency: "normal(20ms, 5ms)", loss: 1%}
    - {from: alice, to: bob, latency: 50ms, duplicate: 0.5, reorder: 0.25, reorder_delay: "uniform(1ms, 2ms)"}
  decider: {k: 3, alpha: 2, beta: 4}
  max_ancestors: 2
steps:
  - issue: {node: [alice, bob], txs: 2}
  - at: 10ms
    build: {node: alice, as: b1}
  - partition: [[alice], [bob, carol]]
  - heal
  - crash: carol
  - restart: carol
  - stall: bob
  - resume: bob
  - slow: {node: all, by: 5ms}
  - drop: {from: alice, to: bob, count: 2}
  - delay: {from: bob, to: alice, by: 100ms}
  - run_for: 1s
  - run_until_height: {height: 1, within: 20s}
  - expect: [same_last_accepted, {height: {alice: 1}}, {accepted: b1}, {state: {carol: normal}}]
expect:
  - height_at_least: 1
  - trace_contains: {node: bob, kind: call, name: vm.VM/BlockAccept, from: node, to: plugin, min: 1, max: 3}
invariants:
  liveness-after-heal: off
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range sc.Steps {
		got = append(got, st.String())
	}
	want := []string{"issue n1,n2 x2", "build n1 as b1", "partition {n1} {n2,n3}", "heal", "crash n3", "restart n3",
		"stall n2", "resume n2", "slow n1,n2,n3 by 5ms", "drop n1->n2 count 2", "delay n2->n1 by 100ms", "run_for 1s",
		"run_until_height 1", "expect same_last_accepted; height n1=1; accepted b1; state n3=normal"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("steps\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if p := sc.Topology.PluginOf(2).String(); p != "refvm:accept-on-reject" {
		t.Errorf("carol runs %s", p)
	}
	if l := sc.Topology.Links; len(l) != 1 || l[0].From != "n1" || l[0].To != "n2" || l[0].Link.Duplicate != 0.5 {
		t.Errorf("links %+v", l)
	}
	if sc.Topology.Link.Loss != 0.01 || sc.Topology.Decider != (SnowParams{K: 3, Alpha: 2, Beta: 4}) || sc.Topology.MaxAncestors != 2 {
		t.Errorf("topology %+v", sc.Topology)
	}
	if on, ok := sc.Invariants[InvLiveness]; !ok || on {
		t.Errorf("invariants %v", sc.Invariants)
	}
	if _, err := sc.WithNodes(2); err == nil || !strings.Contains(err.Error(), "names node n3") {
		t.Errorf("WithNodes(2) = %v, want an error naming n3", err)
	}
}

func TestScenarioFailedExpectationNamesItsLine(t *testing.T) {
	sc, err := ParseScenarioFile("wrong.yaml", []byte("name: wrong\ntopology: {nodes: 2}\nsteps:\n  - issue: n1\n  - build: n1\n  - run_until_height: 1\nexpect:\n  - height: 5\n"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := RunScenario(context.Background(), sc, RunOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failure == nil || !strings.Contains(res.Failure.Error(), "wrong.yaml:8: expect height all=5: n1 is at height 1") {
		t.Fatalf("got %v, want a failure naming line 8 and the real height 1", res.Failure)
	}
}

func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out strings.Builder
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out.WriteString("- " + x + "\n+ " + y + "\n")
		}
	}
	return out.String()
}

func runYAML(t *testing.T, src string, seed int64) *Result {
	t.Helper()
	sc, err := ParseScenarioFile("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	res, err := RunScenario(context.Background(), sc, RunOptions{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Every step kind runs on the network and leaves its mark in the trace.
func TestScenarioRunsEveryStepKind(t *testing.T) {
	res := runYAML(t, `
name: every-step
topology:
  nodes: [alice, bob, carol]
  links:
    - {latency: 10ms}
    - {from: alice, to: carol, latency: "uniform(20ms, 30ms)", duplicate: 1}
  max_ancestors: 1
steps:
  - issue: {node: alice, txs: 2}
  - propose: {node: alice, as: b1}
  - run_until_height: 1
  - stall: carol
  - issue: bob
  - build: bob
  - run_for: 8s
  - expect: [{height: {alice: 2, bob: 2, carol: 1}}, {state: {carol: normal}}]
  - resume: carol
  - run_until_height: 2
  - slow: {node: bob, by: 40ms}
  - drop: {from: alice, to: bob, count: 2}
  - delay: {from: carol, to: alice, by: 15ms}
  - issue: carol
  - build: {node: carol, as: b3}
  - run_until_height: {height: 3, within: 30s}
  - slow: {node: bob, by: 0}
  - delay: {from: carol, to: alice, by: 0}
  - partition: [[alice, bob], [carol]]
  - crash: carol
  - at: 20s
    heal:
  - restart: carol
  - run_for: 2s
expect:
  - accepted: [b1, b3]
  - same_last_accepted
  - state: {carol: normal}
  - trace_contains: {kind: fault, name: stall, to: n3, min: 1, max: 1}
  - trace_contains: {kind: drop, detail: drop fault, min: 2, max: 2}
  - trace_contains: {kind: deliver, from: n1, to: n3, detail: duplicate}
  - trace_contains: {kind: topology, name: heal}
  - trace_contains: {kind: note, name: step, detail: "heal", min: 1, max: 1}
`, 11)
	if !res.Passed() {
		t.Fatal(res.Failure)
	}
	if res.StepsRun != 23 || res.Checked != 10 {
		t.Fatalf("%d steps, %d expectations, want 23 and 10", res.StepsRun, res.Checked)
	}
	if res.Nodes[2].Alias != "carol" || res.Nodes[2].Height != 3 {
		t.Fatalf("node 3: %+v", res.Nodes[2])
	}
}

// Each expectation can fail, and says why.
func TestScenarioExpectationsFail(t *testing.T) {
	const chain = "name: x\ntopology: {nodes: 3}\nsteps:\n  - issue: [n1, n2]\n  - build: {node: n1, as: a}\n  - build: {node: n2, as: b}\n  - run_until_height: 1\n"
	for _, tc := range []struct{ name, expect, want string }{
		{"height", "height: {n2: 4}", "n2 is at height 1, want 4"},
		{"height at least", "height_at_least: 2", "n1 is at height 1, want at least 2"},
		{"both accepted", "accepted: [a, b]", "accepted"},
		{"both rejected", "rejected: [a, b]", "was accepted by n1"},
		{"trace max", "trace_contains: {kind: call, name: vm.VM/Initialize, max: 2}", "the trace has 3 matching events, want 1 to 2"},
		{"trace none", "trace_contains: {kind: invariant}", "the trace has 0 matching events, want at least 1"},
		{"state", "state: {n3: down}", "n3 is normal, want down"},
		{"txs applied", "txs_applied", "1 of 2 issued transactions are not in its state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runYAML(t, chain+"expect:\n  - "+tc.expect+"\n", 3)
			if res.Failure == nil || !strings.Contains(res.Failure.Error(), "t.yaml:9: expect ") || !strings.Contains(res.Failure.Error(), tc.want) {
				t.Fatalf("got %v, want a failure at t.yaml:9 saying %q", res.Failure, tc.want)
			}
		})
	}
	// a step in the past and an invariant violation stop the run at their step
	res := runYAML(t, "name: x\nsteps:\n  - issue: n1\n  - build: n1\n  - run_until_height: 1\n  - at: 1ms\n    heal:\n", 1)
	if res.Failure == nil || !strings.Contains(res.Failure.Error(), "t.yaml:6: step 4 (heal): the step is due at 1ms") || res.StepsRun != 3 {
		t.Fatalf("got %v after %d steps", res.Failure, res.StepsRun)
	}
	res = runYAML(t, "name: x\ntopology: {plugin: \"refvm:accept-on-reject\"}\nsteps:\n  - issue: [n1, n2]\n  - build: [n1, n2]\n  - run_until_height: 1\n", 9)
	if res.Violation == nil || res.Violation.Seed != 9 || !strings.Contains(res.Failure.Error(), "t.yaml:6: step 3 (run_until_height 1)") {
		t.Fatalf("got %v (violation %+v), want an invariant violation at step 3", res.Failure, res.Violation)
	}
}

// Chance steps arm faults that fire by the world's seeded source; p: 0
// turns them off again.
func TestScenarioChanceFaults(t *testing.T) {
	src := `
name: chaos
topology: {nodes: 3}
steps:
  - chance: {fault: drop, p: 0.2}
  - chance: {fault: drop, from: n1, p: 0.5}
  - chance: {fault: slow, node: n2, p: 0.3, by: 5ms}
  - chance: {fault: crash, node: n3, p: 0.05}
  - chance: {fault: restart, node: n3, p: 1}
  - issue: [n1, n2]
  - build: [n1, n2]
  - run_for: 5s
  - chance: {fault: drop, p: 0}
  - chance: {fault: drop, from: n1, p: 0}
  - chance: {fault: crash, node: n3, p: 0}
  - chance: {fault: slow, node: n2, p: 0}
  - run_for: 2s
  - chance: {fault: restart, node: n3, p: 0}
  - issue: n1
  - build: n1
  - run_until_height: {height: 2, within: 2m}
expect:
  - same_last_accepted
  - trace_contains: {kind: drop, detail: drop fault, min: 5}
  - trace_contains: {kind: fault, name: slow, to: n2}
  - trace_contains: {kind: fault, name: crash, to: n3}
  - trace_contains: {kind: fault, name: restart, to: n3}
`
	a := runYAML(t, src, 21)
	if !a.Passed() {
		t.Fatal(a.Failure)
	}
	b := runYAML(t, src, 21)
	var ja, jb strings.Builder
	if err := sim.WriteEventsJSON(&ja, a.Events); err != nil {
		t.Fatal(err)
	}
	if err := sim.WriteEventsJSON(&jb, b.Events); err != nil {
		t.Fatal(err)
	}
	if ja.String() != jb.String() {
		t.Fatalf("seed 21 gave two different traces:\n%s", diffLines(ja.String(), jb.String()))
	}
	for _, tc := range []struct{ yaml, want string }{
		{"{fault: stall}", "chance needs p"},
		{"{fault: resume, p: 1}", "a chance arms one of crash, restart, stall, slow, drop"},
		{"{fault: slow, p: 0.1}", "a slow chance needs by"},
		{"{fault: drop, node: n1, p: 0.1}", "a drop chance is on a link"},
		{"{fault: crash, from: n1, p: 0.1}", "a crash chance is on nodes"},
		{"{fault: crash, p: 2}", "p must be between 0 and 1"},
	} {
		_, err := ParseScenarioFile("c.yaml", []byte("name: x\nsteps:\n  - chance: "+tc.yaml+"\n"))
		if err == nil || !strings.Contains(err.Error(), "c.yaml:3:") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("chance %s: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
