package harness

import (
	"errors"
	"io/fs"
	"slices"
	"testing"

	"github.com/vmtestbed/vmtestbed/scenarios"
)

// FuzzParseScenario: the parser never panics; it either returns a
// ParseError with a position or a scenario whose every step and
// expectation names nodes of its topology. Seeds: the shipped scenarios
// and testdata/fuzz/FuzzParseScenario.
func FuzzParseScenario(f *testing.F) {
	entries, err := fs.ReadDir(scenarios.FS, ".")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		b, err := fs.ReadFile(scenarios.FS, e.Name())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := ParseScenarioFile("f.yaml", b)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a ParseError", err, err)
			}
			return
		}
		if sc.Name == "" || len(sc.Steps) == 0 || len(sc.Topology.Nodes) == 0 || len(sc.Topology.Nodes) > MaxScenarioNodes {
			t.Fatalf("accepted a scenario without a name, steps or nodes: %+v", sc)
		}
		names := map[string]bool{}
		for _, n := range sc.Topology.Nodes {
			names[n.Name] = true
		}
		for _, st := range sc.Steps {
			_ = st.String()
			nodes := slices.Clone(st.Nodes)
			for _, g := range st.Groups {
				nodes = append(nodes, g...)
			}
			for _, n := range []string{st.From, st.To} {
				if n != "" { // "" = any, in a chance step
					nodes = append(nodes, n)
				}
			}
			for _, n := range nodes {
				if !names[n] {
					t.Fatalf("step %q names node %q outside the topology", st, n)
				}
			}
		}
		for _, l := range sc.Topology.Links {
			if !names[l.From] || !names[l.To] {
				t.Fatalf("link %s->%s outside the topology", l.From, l.To)
			}
		}
		if _, err := sc.WithNodes(len(sc.Topology.Nodes)); err != nil {
			t.Fatalf("WithNodes of its own count: %v", err)
		}
	})
}
