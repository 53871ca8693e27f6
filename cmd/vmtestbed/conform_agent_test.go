package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/conformance/report"
)

func TestConformAgentExecPasses(t *testing.T) {
	bin := cliBinary(t)
	dir := t.TempDir()
	jsonOut, junitOut := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.xml")
	agent := bin + " agent --port {pty} --root " + t.TempDir()
	run := runCLI(t, time.Minute, "conform", "agent", "--exec", agent, "--protocol", "json", "--json", jsonOut, "--junit", junitOut)
	if run.code != exitOK {
		t.Fatalf("conform agent against `%s` exited %d:\n%s", agent, run.code, run.out)
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
	if run := runCLI(t, time.Minute, "conform", "agent", "--exec", line, "--protocol", "line"); run.code != exitOK {
		t.Fatalf("conform agent --protocol line exited %d:\n%s", run.code, run.out)
	}
}

func TestConformAgentExecFaultFails(t *testing.T) {
	bin := cliBinary(t)
	for _, fault := range []string{"drop", "garbage", "hangup"} {
		t.Run(fault, func(t *testing.T) {
			start := time.Now()
			res := runCLI(t, time.Minute, "conform", "agent", "--call-timeout", "300ms",
				"--exec", bin+" agent --port {pty} --fault "+fault)
			if el := time.Since(start); el > 30*time.Second {
				t.Errorf("suite against --fault %s took %v, want under 30s", fault, el)
			}
			if res.code != exitFailed {
				t.Fatalf("exit %d against --fault %s, want %d:\n%s", res.code, fault, exitFailed, res.out)
			}
			if !strings.Contains(res.out, "FAIL [GA-PING-001]") {
				t.Fatalf("output does not name GA-PING-001:\n%s", res.out)
			}
		})
	}
}

func TestConformAgentUsage(t *testing.T) {
	for _, args := range [][]string{
		{"conform", "agent", "--protocol", "qga"}, // the project's own agent does not speak qga
		{"conform", "agent", "--socket", "/x", "--exec", "y {pty}"},
		{"conform", "agent", "--exec", "cat"},
		{"conform", "agent", "--exec", "/nonexistent/agent {pty}"},
		{"conform", "agent", "--socket", filepath.Join(t.TempDir(), "none.sock")},
		{"conform", "agent", "--socket", "/x", "--protocol", "xml"},
		{"conform", "agent", "--backend", "realhv", "--libvirt-uri", "qemu:///a", "--libvirt-uri", "qemu:///b"}, // one guest, one host
		{"agent"},
		{"agent", "--port", "/dev/null", "--fault", "melt"},
		{"agent", "--port", filepath.Join(t.TempDir(), "missing")},
	} {
		if res := runCLI(t, time.Minute, args...); res.code != exitUsage {
			t.Errorf("%v exited %d, want %d:\n%s", args, res.code, exitUsage, res.out)
		}
	}
}
