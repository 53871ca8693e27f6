package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nightlyScript is ci/nightly.sh, from this package's directory.
const nightlyScript = "../../ci/nightly.sh"

// TestNightlyScript: ci/nightly.sh parses (bash -n), and its quick tier on
// the fake backend alone runs every suite and the two quick scenarios in a
// dated directory, keeps each job's reports and writes summary.md and
// index.html listing them. The realhv jobs run the same commands as the
// realhv tests of this package (TestConformBackends,
// TestRunValidatorsOnRealGuestsOverTwoHosts).
func TestNightlyScript(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	if out, err := exec.Command(bash, "-n", nightlyScript).CombinedOutput(); err != nil {
		t.Fatalf("bash -n %s: %v\n%s", nightlyScript, err, out)
	}
	vmtestbed := cliBinary(t)
	bin, out := t.TempDir(), t.TempDir()
	if err := os.Symlink(vmtestbed, filepath.Join(bin, "vmtestbed")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, nightlyScript, "--quick", "--fake-only", "--no-build", "--bin", bin, "--out", out)
	log, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ci/nightly.sh --quick --fake-only: %v\n%s", err, log)
	}
	run, err := filepath.EvalSymlinks(filepath.Join(out, "latest"))
	if err != nil {
		t.Fatalf("no latest run directory: %v\n%s", err, log)
	}
	summary, err := os.ReadFile(filepath.Join(run, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	jobs := map[string][]string{
		"conform-avalanche-refvm":           {"result.json", "junit.xml", "output.log"},
		"conform-hypervisor-fake":           {"result.json", "junit.xml", "output.log"},
		"conform-agent-fake":                {"result.json", "junit.xml", "output.log"},
		"run-three-nodes-fake":              {"report/summary.txt", "report/timeline.html", "report/trace.json"},
		"run-validators-on-hypervisor-fake": {"report/summary.txt", "report/timeline.html", "report/trace.json"},
	}
	if !strings.Contains(string(summary), "5 of 5 jobs passed (quick tier)") {
		t.Errorf("summary.md:\n%s", summary)
	}
	index, err := os.ReadFile(filepath.Join(run, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for job, files := range jobs {
		if !strings.Contains(string(summary), "| "+job+" | fake | PASS (exit 0) |") {
			t.Errorf("summary.md lacks a passing %s:\n%s", job, summary)
		}
		for _, f := range files {
			if _, err := os.Stat(filepath.Join(run, job, f)); err != nil {
				t.Errorf("%s kept no %s: %v", job, f, err)
			}
			if link := `href="` + job + "/" + f + `"`; !strings.Contains(string(index), link) {
				t.Errorf("index.html lacks the link %s", link)
			}
		}
	}
	if strings.Contains(string(summary), "| realhv |") {
		t.Errorf("--fake-only ran realhv jobs:\n%s", summary)
	}
}
