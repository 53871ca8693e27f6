package killtest

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestSummary: a spec counts as killed by any child that failed it, and as
// killed by a semantic fault only when a semantic child targets it.
func TestSummary(t *testing.T) {
	m := &Matrix{
		Suite:  "x",
		Specs:  []string{"X-1", "X-2", "X-3", "X-4"},
		Faults: []Fault{{Name: "sem", Semantic: true}, {Name: "crash"}},
		Targets: map[string][]string{
			"X-1": {"sem"},
			"X-2": {"crash"},
		},
		Kills: map[string][]string{
			"X-1": {"crash", "sem"},
			"X-2": {"crash", "sem"}, // sem fails X-2 only as collateral
			"X-3": {"crash"},
		},
	}
	s := m.Summary()
	if s.Specs != 4 || s.Killed != 3 || s.Semantic != 1 {
		t.Errorf("summary %+v, want 4 specs, 3 killed, 1 by a semantic fault", s)
	}
	if !slices.Equal(s.NotKilled, []string{"X-4"}) || !slices.Equal(s.NotSemantic, []string{"X-2", "X-3", "X-4"}) {
		t.Errorf("not killed %v, not semantic %v", s.NotKilled, s.NotSemantic)
	}
	if s.KilledPct() != 75 || s.SemanticPct() != 25 {
		t.Errorf("percentages %v, %v", s.KilledPct(), s.SemanticPct())
	}
	path := filepath.Join(t.TempDir(), "m.json")
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(m) {
		t.Errorf("read back %+v, wrote %+v", back, m)
	}
}

// TestSameTargets: collateral kills do not make a matrix out of date; a
// changed target, fault or spec does.
func TestSameTargets(t *testing.T) {
	base := func() *Matrix {
		return &Matrix{
			Suite:   "x",
			Specs:   []string{"X-1", "X-2"},
			Faults:  []Fault{{Name: "sem", Semantic: true}},
			Targets: map[string][]string{"X-1": {"sem"}},
			Kills:   map[string][]string{"X-1": {"sem"}},
		}
	}
	collateral := base()
	collateral.Kills["X-2"] = []string{"sem"}
	if m := base(); !m.SameTargets(collateral) || m.Equal(collateral) {
		t.Error("collateral kills: want same targets, not equal")
	}
	for name, change := range map[string]func(*Matrix){
		"target": func(m *Matrix) { m.Targets["X-2"] = []string{"sem"} },
		"fault":  func(m *Matrix) { m.Faults[0].Semantic = false },
		"spec":   func(m *Matrix) { m.Specs = append(m.Specs, "X-3") },
	} {
		m := base()
		change(m)
		if base().SameTargets(m) {
			t.Errorf("a changed %s is not noticed", name)
		}
	}
	if base().SameTargets(nil) {
		t.Error("nil matrix counts as the same")
	}
}
