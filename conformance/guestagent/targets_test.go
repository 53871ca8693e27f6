package guestagent

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/conformance/report"
)

// child runs TestChildSuite for target in a new process and returns its
// combined output and exit error.
func child(t *testing.T, target, resultPath string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestChildSuite$", "-test.v")
	cmd.Env = append(os.Environ(), envTarget+"="+target, envResult+"="+resultPath)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestTargetsPass(t *testing.T) {
	for _, target := range []string{"json/pty", "json/unix", "line/pty", "line/unix", "qga/qemu-ga"} {
		t.Run(strings.ReplaceAll(target, "/", "-"), func(t *testing.T) {
			if target == "qga/qemu-ga" {
				needQemuGA(t)
			}
			t.Parallel()
			out, err := child(t, target, "")
			if err != nil {
				t.Fatalf("suite against %s failed: %v\n%s", target, err, out)
			}
			if !strings.Contains(out, "0 Failed") || strings.Contains(out, "Ran 0 of") {
				t.Fatalf("suite against %s did not run cleanly:\n%s", target, out)
			}
		})
	}
}

func TestTargetsFail(t *testing.T) {
	all := []string{"[GA-PING-001]", "[GA-HELLO-001]", "[GA-CHAN-002]"}
	tests := []struct {
		target string
		want   []string // spec IDs that must fail
		reason string   // must appear in some failure
	}{
		{"json/unix/drop", all, "no reply within 300ms"},
		{"json/unix/delay", all, "no reply within 300ms"},
		{"json/unix/garbage", all, "was not a JSON object: 0x"},
		{"json/unix/partial", all, "bytes without a newline"},
		{"json/unix/hangup", all, "hung up"},
		{"json/pty/partial", all, "no reply within 300ms"},
		{"json/unix/slow-reader", []string{"[GA-FILE-004]", "[GA-ERR-003]"}, "no reply within 300ms"},
		{"line/unix/drop", []string{"[GA-LINE-001]", "[GA-LINE-004]", "[GA-TIME-001]"}, "no reply within 300ms"},
		{"qga/unix", []string{"[GA-QGA-001]", "[GA-QGA-002]", "[GA-QGA-006]", "[GA-TIME-001]"}, "guest-sync-delimited"},
	}
	for _, tc := range tests {
		t.Run(strings.ReplaceAll(tc.target, "/", "-"), func(t *testing.T) {
			t.Parallel()
			resultPath := filepath.Join(t.TempDir(), "result.json")
			start := time.Now()
			out, err := child(t, tc.target, resultPath)
			elapsed := time.Since(start)
			if err != nil {
				t.Fatalf("child for %s: %v\n%s", tc.target, err, out)
			}
			f, err := os.Open(resultPath)
			if err != nil {
				t.Fatalf("no result from %s: %v\n%s", tc.target, err, out)
			}
			defer f.Close()
			res, err := report.ReadJSON(f)
			if err != nil {
				t.Fatal(err)
			}
			if res.Succeeded {
				t.Fatalf("suite passed against %s", tc.target)
			}
			failed := map[string]bool{}
			for _, id := range res.FailedIDs() {
				failed["["+id+"]"] = true
			}
			for _, id := range tc.want {
				if !failed[id] {
					t.Errorf("%s did not fail against %s; failed: %v", id, tc.target, res.FailedIDs())
				}
			}
			var reasons strings.Builder
			for _, s := range res.Specs {
				reasons.WriteString(s.Failure + "\n")
			}
			if !strings.Contains(reasons.String(), tc.reason) {
				t.Errorf("no failure against %s says %q; failures:\n%s", tc.target, tc.reason, reasons.String())
			}
			if elapsed > 45*time.Second {
				t.Errorf("suite against %s took %v, want under 45s", tc.target, elapsed)
			}
			t.Logf("%s: %d failed in %v: %v", tc.target, res.Failed, elapsed.Round(time.Millisecond), res.FailedIDs())
		})
	}
}

// needQemuGA fails without Debian's qemu-ga (CI installs qemu-guest-agent)
// unless VMTESTBED_NO_QEMU_GA=1 asks to skip.
func needQemuGA(t *testing.T) {
	if _, err := os.Stat(qemuGAPath()); err == nil {
		return
	}
	if os.Getenv("VMTESTBED_NO_QEMU_GA") == "1" {
		t.Skip("qemu-ga not installed and VMTESTBED_NO_QEMU_GA=1")
	}
	t.Fatal("qemu-ga not found: apt-get install qemu-guest-agent, or set VMTESTBED_NO_QEMU_GA=1 to skip")
}
