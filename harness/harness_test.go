package harness

import (
	"bytes"
	"context"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/vmtestbed/vmtestbed/scenarios"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func defaultScenario(t *testing.T) *Scenario {
	t.Helper()
	b, err := fs.ReadFile(scenarios.FS, scenarios.Default)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ParseScenario(b)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestParseScenarioRejectsBadInput(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"no steps", "name: x\n", "has no steps"},
		{"two actions in a step", "name: x\nsteps:\n  - issue: 1\n    build: 1\n", "exactly one"},
		{"empty step", "name: x\nsteps:\n  - {}\n", "exactly one"},
		{"negative count", "name: x\nsteps:\n  - issue: -1\n", "positive"},
		{"unknown field", "name: x\nstepz: []\n", "stepz"},
		{"not yaml", "name: [\n", "parse scenario"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseScenario([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestDefaultScenarioPasses(t *testing.T) {
	res, err := RunScenario(context.Background(), defaultScenario(t), RunOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Blocks) != 3 || res.Height != 3 {
		t.Fatalf("accepted %d blocks to height %d, want 3 to 3", len(res.Blocks), res.Height)
	}
}

// The same seed must print the same trace byte for byte; the golden file
// pins it (go test ./harness -run Golden -update rewrites it).
func TestSameSeedSameTraceGolden(t *testing.T) {
	run := func(seed int64) string {
		var out bytes.Buffer
		if _, err := RunScenario(context.Background(), defaultScenario(t), RunOptions{Seed: seed, Out: &out}); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	first := run(7)
	for range 3 {
		if again := run(7); again != first {
			t.Fatalf("seed 7 printed two different traces:\n%s", diffLines(first, again))
		}
	}
	if other := run(8); other == first {
		t.Fatal("seeds 7 and 8 printed the same trace; the seed is not used")
	}
	golden := filepath.Join("testdata", "default-seed7.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(first), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != first {
		t.Fatalf("trace differs from %s (rerun with -update if the change is intended):\n%s", golden, diffLines(string(want), first))
	}
}

func TestFailedExpectationIsReported(t *testing.T) {
	sc, err := ParseScenario([]byte("name: wrong\nsteps:\n  - issue: 1\n  - build: 1\n  - expect_height: 5\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = RunScenario(context.Background(), sc, RunOptions{Seed: 1})
	if err == nil || !strings.Contains(err.Error(), "step 3 (expect_height 5)") || !strings.Contains(err.Error(), "height is 1") {
		t.Fatalf("got %v, want a failure naming step 3 and the real height 1", err)
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
