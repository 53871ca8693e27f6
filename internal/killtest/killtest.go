// Package killtest is the one fault runner of the conformance suites'
// "every spec can fail" tests. A suite's test lists children: each names a
// deliberately broken target (a fault, a broken variant, an agent fault
// mode), says whether it is wrong in meaning (semantic) or merely broken
// (unimplemented, silent, a crash), and which spec IDs it MUST fail. Ginkgo
// runs one suite per process, so every child runs in a child process of the
// test binary: killtest starts it with $VMTESTBED_KILL_CHILD naming the
// child, the child runs the suite and writes its report.Result as JSON to
// $VMTESTBED_KILL_RESULT, and the parent checks each child's expected
// failures and builds the kill matrix (spec ID -> children that failed it).
//
// The matrix test fails when a spec is failed by no child. Asked to
// (VMTESTBED_UPDATE_KILLMATRIX=1 or -update-killmatrix) it writes the
// matrix to the suite's testdata/killmatrix.json, which tools/gendocs turns
// into docs/CONFORMANCE.md; with $VMTESTBED_KILLMATRIX_OUT set to a
// directory it writes it there too (make killrate).
package killtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/conformance/report"
)

// Environment of a child process, and of the parent's matrix output.
const (
	EnvChild  = "VMTESTBED_KILL_CHILD"        // the child's name
	EnvResult = "VMTESTBED_KILL_RESULT"       // where the child writes its report.Result JSON
	EnvUpdate = "VMTESTBED_UPDATE_KILLMATRIX" // "1": rewrite testdata/killmatrix.json
	EnvOut    = "VMTESTBED_KILLMATRIX_OUT"    // a directory: also write <suite>.json there
)

// MatrixFile is where a suite's committed kill matrix lives, relative to
// its package directory.
const MatrixFile = "testdata/killmatrix.json"

var update = flag.Bool("update-killmatrix", false, "rewrite testdata/killmatrix.json from this run")

// Child is one deliberately broken target.
type Child struct {
	// Name is unique in the suite, e.g. "fault:health-not-json" or
	// "variant:crash-build"; the child process gets it in $VMTESTBED_KILL_CHILD.
	Name string
	// Semantic: the target keeps working but is wrong in meaning (a wrong
	// value or status code, a wrong order, a lost object). Not semantic: a
	// whole service unimplemented or broken, an agent silent, hung up or
	// writing garbage, a crash, a hang.
	Semantic bool
	// What says in one line what is broken (the docs show it).
	What string
	// Want are the spec IDs the child MUST fail.
	Want []string
	// Env is added to the child's environment.
	Env []string
	// Check, when set, checks more of the child's result and output.
	Check func(t *testing.T, res report.Result, output []byte)
	// Need, when set, is called in the child's subtest before it runs in
	// parallel: it may skip it (a missing external program; the kill
	// matrix is then not complete) or fail it.
	Need func(t *testing.T)
}

// Suite is what a suite's matrix test runs.
type Suite struct {
	Name     string   // the matrix's name: avalanche, hypervisor, guestagent
	Specs    []string // every spec ID of the suite's table, in table order
	Children []Child
	// Args are the test binary's arguments in a child (default
	// "-test.run=^$": the child runs from TestMain).
	Args []string
}

// ChildName is the child this process runs, "" in the parent.
func ChildName() string { return os.Getenv(EnvChild) }

// WriteResult writes res where the parent reads it.
func WriteResult(res report.Result) error {
	path := os.Getenv(EnvResult)
	if path == "" {
		return errors.New("killtest: no $" + EnvResult + " to write the result to")
	}
	var buf bytes.Buffer
	if err := res.WriteJSON(&buf); err != nil {
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("killtest: write result: %w", err)
	}
	return nil
}

// Main is a child run from TestMain: it runs the named child and writes its
// result. It returns the process's exit code: 0 when the result was written
// (whatever the suite found), 2 otherwise.
func Main(run func(name string) (report.Result, error)) int {
	res, err := run(ChildName())
	if err == nil {
		err = WriteResult(res)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kill child %s: %v\n", ChildName(), err)
		return 2
	}
	return 0
}

// Exec runs the test binary as child name with args and env and returns its
// combined output; no result is read.
func Exec(t testing.TB, args []string, name string, env ...string) ([]byte, error) {
	t.Helper()
	if len(args) == 0 {
		args = []string{"-test.run=^$"}
	}
	ctx, cancel := TestContext(t)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(append(os.Environ(), EnvChild+"="+name), env...)
	return cmd.CombinedOutput()
}

// TestContext returns a context that ends 10 s before t's deadline (the
// go test -timeout), so a child process that hangs is killed while the
// parent can still report it; without a deadline it never ends by itself.
// Commands run under it should set a WaitDelay.
func TestContext(t testing.TB) (context.Context, context.CancelFunc) {
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if deadline, ok := d.Deadline(); ok {
			return context.WithDeadline(context.Background(), deadline.Add(-10*time.Second))
		}
	}
	return context.WithCancel(context.Background())
}

// RunChild runs child name in a child process and returns the result it
// wrote and its combined output. A child that writes no result fails t.
func RunChild(t testing.TB, args []string, name string, env ...string) (report.Result, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "result.json")
	out, err := Exec(t, args, name, append([]string{EnvResult + "=" + path}, env...)...)
	if err != nil {
		t.Fatalf("child %s: %v\n%s", name, err, out)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("child %s wrote no result: %v\n%s", name, err, out)
	}
	defer f.Close()
	res, err := report.ReadJSON(f)
	if err != nil {
		t.Fatalf("child %s: %v\n%s", name, err, out)
	}
	return res, out
}

// Run runs every child of s in parallel subtests, checks each one's
// expected failures and its Check, and then the kill matrix: every spec of
// the table MUST be failed by some child. It writes the matrix when asked
// (see the package doc) and returns it; the matrix is nil when some child
// did not run (a -run filter, a skip), and then coverage is not checked.
func Run(t *testing.T, s Suite) *Matrix {
	t.Helper()
	m := &Matrix{Suite: s.Name, Specs: slices.Clone(s.Specs), Kills: map[string][]string{}, Targets: map[string][]string{}}
	inTable := map[string]bool{}
	for _, id := range s.Specs {
		inTable[id] = true
	}
	names := map[string]bool{}
	for _, c := range s.Children {
		if names[c.Name] {
			t.Fatalf("child %s is listed twice", c.Name)
		}
		names[c.Name] = true
		for _, id := range c.Want {
			if !inTable[id] {
				t.Errorf("child %s wants %s to fail, which is not in the spec table", c.Name, id)
			}
		}
		m.Faults = append(m.Faults, Fault{Name: c.Name, Semantic: c.Semantic, What: c.What})
	}
	var mu sync.Mutex
	ran := 0
	t.Run("children", func(t *testing.T) {
		for _, c := range s.Children {
			t.Run(c.Name, func(t *testing.T) {
				if c.Need != nil {
					c.Need(t)
				}
				t.Parallel()
				res, out := RunChild(t, s.Args, c.Name, c.Env...)
				failed := res.FailedIDs()
				t.Logf("%s failed %v", c.Name, failed)
				for _, id := range c.Want {
					if !slices.Contains(failed, id) {
						t.Errorf("%s: spec %s did not fail (failed: %v)", c.Name, id, failed)
					}
				}
				if c.Check != nil {
					c.Check(t, res, out)
				}
				mu.Lock()
				defer mu.Unlock()
				ran++
				for _, id := range c.Want {
					if slices.Contains(failed, id) {
						m.Targets[id] = append(m.Targets[id], c.Name)
					}
				}
				for _, sp := range res.Specs {
					switch {
					case !sp.Failed() || sp.ID == "":
					case inTable[sp.ID]:
						if !slices.Contains(m.Kills[sp.ID], c.Name) {
							m.Kills[sp.ID] = append(m.Kills[sp.ID], c.Name)
						}
					default:
						t.Errorf("%s: spec %s failed, and it is not in the spec table", c.Name, sp.ID)
					}
				}
				if t.Failed() {
					t.Logf("child output:\n%s", out)
				}
			})
		}
	})
	if ran < len(s.Children) {
		t.Logf("%d of %d children ran: the kill matrix is not complete, not checked and not written", ran, len(s.Children))
		return nil
	}
	for id := range m.Kills {
		slices.Sort(m.Kills[id])
	}
	for id := range m.Targets {
		slices.Sort(m.Targets[id])
	}
	for _, id := range s.Specs {
		if len(m.Kills[id]) == 0 {
			t.Errorf("spec %s is failed by no broken target: nothing proves it can fail", id)
		}
	}
	sum := m.Summary()
	t.Logf("%s: %d specs, %d killed (%.0f%%), %d by a semantic fault (%.0f%%); not by a semantic fault: %v",
		s.Name, sum.Specs, sum.Killed, sum.KilledPct(), sum.Semantic, sum.SemanticPct(), sum.NotSemantic)
	switch {
	case (*update || os.Getenv(EnvUpdate) == "1") && t.Failed():
		t.Logf("not rewriting %s: the run failed", MatrixFile)
	case *update || os.Getenv(EnvUpdate) == "1":
		if err := m.WriteFile(MatrixFile); err != nil {
			t.Error(err)
		}
	default:
		// Specs, faults and targets are the same on every passing run: a
		// committed matrix that differs in them is out of date (and so is
		// docs/CONFORMANCE.md, made from it). Collateral kills vary.
		old, err := ReadFile(MatrixFile)
		switch {
		case err != nil:
			t.Errorf("%v: make killmatrix records the kill matrix", err)
		case !old.SameTargets(m):
			t.Errorf("%s is out of date: this run's specs, faults or targets differ from it; make killmatrix records them (and rewrites docs/CONFORMANCE.md)", MatrixFile)
		case !old.Equal(m):
			t.Logf("the collateral kills measured differ from %s (they vary from run to run; targets do not)", MatrixFile)
		}
	}
	if dir := os.Getenv(EnvOut); dir != "" {
		if err := m.WriteFile(filepath.Join(dir, s.Name+".json")); err != nil {
			t.Error(err)
		}
	}
	return m
}

// Fault is one child as the matrix records it.
type Fault struct {
	Name     string `json:"name"`
	Semantic bool   `json:"semantic"`
	What     string `json:"what"`
}

// Matrix is a suite's kill matrix.
type Matrix struct {
	Suite  string   `json:"suite"`
	Specs  []string `json:"specs"`  // every spec ID, in table order
	Faults []Fault  `json:"faults"` // every child, in the test's order
	// Targets: spec ID -> the children that MUST fail it (their Want) and
	// did, sorted. In a passing run every Want failed, so Targets is the
	// same on every run, unlike Kills.
	Targets map[string][]string `json:"targets"`
	// Kills: spec ID -> every child that failed it in the run that wrote the
	// matrix, sorted: the targets and the collateral (a broken Initialize
	// fails most specs after it).
	Kills map[string][]string `json:"kills"`
}

// Fault returns the child named name.
func (m *Matrix) Fault(name string) (Fault, bool) {
	for _, f := range m.Faults {
		if f.Name == name {
			return f, true
		}
	}
	return Fault{}, false
}

// KilledSemantically reports whether a semantic child targets spec id: it
// was built to fail it and did. Collateral failures do not count, so a
// semantic fault that breaks Initialize does not count for every spec
// after it.
func (m *Matrix) KilledSemantically(id string) bool {
	for _, name := range m.Targets[id] {
		if f, _ := m.Fault(name); f.Semantic {
			return true
		}
	}
	return false
}

// Summary is a matrix's totals.
type Summary struct {
	Suite       string
	Specs       int
	Killed      int      // specs some child failed
	Semantic    int      // specs some semantic child targets (and failed)
	NotKilled   []string // spec IDs no child failed
	NotSemantic []string // spec IDs no semantic child targets
}

// KilledPct is Killed in percent of Specs.
func (s Summary) KilledPct() float64 { return pct(s.Killed, s.Specs) }

// SemanticPct is Semantic in percent of Specs.
func (s Summary) SemanticPct() float64 { return pct(s.Semantic, s.Specs) }

func pct(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

// Summary counts m.
func (m *Matrix) Summary() Summary {
	s := Summary{Suite: m.Suite, Specs: len(m.Specs)}
	for _, id := range m.Specs {
		if len(m.Kills[id]) == 0 {
			s.NotKilled = append(s.NotKilled, id)
		} else {
			s.Killed++
		}
		if m.KilledSemantically(id) {
			s.Semantic++
		} else {
			s.NotSemantic = append(s.NotSemantic, id)
		}
	}
	return s
}

// Equal reports whether m and o record the same specs, faults and kills.
func (m *Matrix) Equal(o *Matrix) bool {
	if o == nil {
		return false
	}
	a, _ := json.Marshal(m)
	b, _ := json.Marshal(o)
	return bytes.Equal(a, b)
}

// SameTargets reports whether m and o agree on everything a passing run
// decides (suite, specs, faults, targets), whatever their collateral Kills.
func (m *Matrix) SameTargets(o *Matrix) bool {
	if o == nil {
		return false
	}
	a, b := *m, *o
	a.Kills, b.Kills = nil, nil
	return a.Equal(&b)
}

// WriteFile writes m as indented JSON.
func (m *Matrix) WriteFile(path string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode kill matrix: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write kill matrix: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write kill matrix: %w", err)
	}
	return nil
}

// ReadFile reads a matrix written by WriteFile.
func ReadFile(path string) (*Matrix, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read kill matrix: %w", err)
	}
	var m Matrix
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("read kill matrix %s: %w", path, err)
	}
	if m.Kills == nil {
		m.Kills = map[string][]string{}
	}
	if m.Targets == nil {
		m.Targets = map[string][]string{}
	}
	return &m, nil
}
