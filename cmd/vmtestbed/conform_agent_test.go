package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/conformance/report"
	"github.com/vmtestbed/vmtestbed/internal/buildbin"
)

// vmtestbedBin builds this command once per test process.
func vmtestbedBin(t *testing.T) string {
	t.Helper()
	bin, err := buildbin.Build("./cmd/vmtestbed", "")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// runBin runs the built binary and returns its output and exit code.
func runBin(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("run %s %v: %v", bin, args, err)
	return "", -1
}

func TestConformAgentExecPasses(t *testing.T) {
	bin := vmtestbedBin(t)
	dir := t.TempDir()
	jsonOut, junitOut := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.xml")
	agent := bin + " agent --port {pty} --root " + t.TempDir()
	out, code := runBin(t, bin, "conform", "agent", "--exec", agent, "--protocol", "json", "--json", jsonOut, "--junit", junitOut)
	if code != exitOK {
		t.Fatalf("conform agent against `%s` exited %d:\n%s", agent, code, out)
	}
	f, err := os.Open(jsonOut)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := report.ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Succeeded || res.Passed < 20 {
		t.Fatalf("result: succeeded=%v passed=%d failed=%d", res.Succeeded, res.Passed, res.Failed)
	}
	if x, err := os.ReadFile(junitOut); err != nil || !strings.Contains(string(x), "GA-FILE-004") {
		t.Fatalf("JUnit report missing GA-FILE-004 (err %v)", err)
	}
	line := bin + " agent --protocol line --port {pty}"
	if out, code := runBin(t, bin, "conform", "agent", "--exec", line, "--protocol", "line"); code != exitOK {
		t.Fatalf("conform agent --protocol line exited %d:\n%s", code, out)
	}
}

func TestConformAgentExecFaultFails(t *testing.T) {
	bin := vmtestbedBin(t)
	for _, fault := range []string{"drop", "garbage", "hangup"} {
		t.Run(fault, func(t *testing.T) {
			start := time.Now()
			out, code := runBin(t, bin, "conform", "agent", "--call-timeout", "300ms",
				"--exec", bin+" agent --port {pty} --fault "+fault)
			if el := time.Since(start); el > 30*time.Second {
				t.Errorf("suite against --fault %s took %v, want under 30s", fault, el)
			}
			if code != exitFailed {
				t.Fatalf("exit %d against --fault %s, want %d:\n%s", code, fault, exitFailed, out)
			}
			if !strings.Contains(out, "FAIL [GA-PING-001]") {
				t.Fatalf("output does not name GA-PING-001:\n%s", out)
			}
		})
	}
}

func TestConformAgentUsage(t *testing.T) {
	bin := vmtestbedBin(t)
	for _, args := range [][]string{
		{"conform", "agent", "--protocol", "qga"}, // the project's own agent does not speak qga
		{"conform", "agent", "--socket", "/x", "--exec", "y {pty}"},
		{"conform", "agent", "--exec", "cat"},
		{"conform", "agent", "--exec", "/nonexistent/agent {pty}"},
		{"conform", "agent", "--socket", filepath.Join(t.TempDir(), "none.sock")},
		{"conform", "agent", "--socket", "/x", "--protocol", "xml"},
		{"agent"},
		{"agent", "--port", "/dev/null", "--fault", "melt"},
		{"agent", "--port", filepath.Join(t.TempDir(), "missing")},
	} {
		out, code := runBin(t, bin, args...)
		if code != exitUsage {
			t.Errorf("%v exited %d, want %d:\n%s", args, code, exitUsage, out)
		}
	}
}
