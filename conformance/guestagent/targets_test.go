package guestagent

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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
	for _, target := range []string{"json/pty", "json/pty-spaced", "json/unix", "json/unix-single", "line/pty", "line/unix", "qga/qemu-ga", "qga/qemu-ga-pty"} {
		t.Run(strings.ReplaceAll(target, "/", "-"), func(t *testing.T) {
			if strings.HasPrefix(target, "qga/qemu-ga") {
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

// TestQemuGAOnPTYTenRuns is the bar: Debian's qemu-ga started on a
// pty the way `conform agent --exec "qemu-ga -m isa-serial -p {pty}"` starts
// it passes the qga profile 10 runs in a row.
func TestQemuGAOnPTYTenRuns(t *testing.T) {
	needQemuGA(t)
	start := time.Now()
	for run := range 10 {
		out, err := child(t, "qga/qemu-ga-pty", "")
		if err != nil || !strings.Contains(out, "0 Failed") || strings.Contains(out, "Ran 0 of") {
			t.Fatalf("run %d of 10 against qemu-ga on a pty failed: %v\n%s", run+1, err, out)
		}
	}
	t.Logf("10 runs against qemu-ga on a pty passed in %v", time.Since(start).Round(time.Millisecond))
}

// runFailing runs the suite against target in a child and returns its result.
func runFailing(t *testing.T, target string) (report.Result, time.Duration) {
	t.Helper()
	resultPath := filepath.Join(t.TempDir(), "result.json")
	start := time.Now()
	out, err := child(t, target, resultPath)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("child for %s: %v\n%s", target, err, out)
	}
	f, err := os.Open(resultPath)
	if err != nil {
		t.Fatalf("no result from %s: %v\n%s", target, err, out)
	}
	defer f.Close()
	res, err := report.ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	return res, elapsed
}

// TestTargetsFail runs the suite against broken agents: each fault fails the
// specs it must, with a reason that says what the agent did, passes the specs
// it must (a fault wrong in meaning is caught by the spec about that meaning,
// not by a dead channel), never lets an agent's control characters into a
// report, and together the faults fail every spec of every profile.
func TestTargetsFail(t *testing.T) {
	all := []string{"[GA-PING-001]", "[GA-HELLO-001]", "[GA-CHAN-002]"}
	tests := []struct {
		target string
		want   []string // spec IDs that must fail
		pass   []string // spec IDs that must pass
		reason string   // must appear in some failure
	}{
		{"json/unix/drop", all, nil, "no reply within 300ms"},
		{"json/unix/delay", all, nil, "no reply within 300ms"},
		{"json/unix/garbage", all, nil, "was not a JSON object: 0x"},
		{"json/unix/partial", all, nil, "bytes without a newline"},
		{"json/unix/hangup", all, nil, "hung up"},
		{"json/pty/partial", all, nil, "no reply within 300ms"},
		{"json/unix/slow-reader", []string{"[GA-FILE-004]", "[GA-ERR-003]"}, nil, "no reply within 300ms"},
		{"json/unix/ignore-allowlist", []string{"[GA-EXEC-003]", "[GA-EXEC-004]"}, []string{"[GA-PING-001]", "[GA-EXEC-001]"}, "outside the allow-list"},
		{"json/unix/bad-checksum", []string{"[GA-FILE-002]"}, []string{"[GA-FILE-001]", "[GA-FILE-004]"}, "wrong sha256"},
		{"json/unix/constant-status", []string{"[GA-STATUS-001]"}, []string{"[GA-PING-001]", "[GA-HELLO-001]"}, "uptime did not advance"},
		{"json/unix/constant-metrics", []string{"[GA-METRICS-001]"}, []string{"[GA-PING-001]"}, "constants, not measurements"},
		{"json/unix/no-id", []string{"[GA-HELLO-002]"}, []string{"[GA-PING-001]", "[GA-EXEC-001]"}, "carries no id"},
		{"json/pty/escapes", []string{"[GA-HELLO-001]", "[GA-EXEC-001]", "[GA-EXEC-004]"}, []string{"[GA-PING-001]"}, `\x1b[2J`},
		{"json/unix-single2", []string{"[GA-CHAN-001]"}, []string{"[GA-PING-001]", "[GA-CHAN-002]"}, "serves one client at a time"},
		{"line/unix/drop", []string{"[GA-LINE-001]", "[GA-LINE-004]", "[GA-TIME-001]"}, nil, "no reply within 300ms"},
		{"json/unix/no-version", []string{"[GA-HELLO-001]"}, []string{"[GA-PING-001]", "[GA-HELLO-002]"}, "protocol version"},
		{"line/unix/no-version", []string{"[GA-LINE-003]"}, []string{"[GA-LINE-001]", "[GA-LINE-002]"}, "has no version number"},
		{"line/pty/escapes", []string{"[GA-LINE-002]", "[GA-LINE-004]"}, []string{"[GA-LINE-001]"}, `\x1b[2J`},
		{"qga/qemu-ga-blocked", []string{"[GA-QGA-003]", "[GA-QGA-007]"}, []string{"[GA-QGA-002]", "[GA-QGA-005]", "[GA-QGA-008]"}, "has been disabled"},
		{"qga/unix", []string{"[GA-QGA-001]", "[GA-QGA-002]", "[GA-QGA-006]", "[GA-QGA-007]", "[GA-QGA-008]", "[GA-TIME-001]"}, nil, "guest-sync-delimited"},
	}
	var mu sync.Mutex
	ran := 0
	specs := map[string]map[string]bool{}  // profile -> every spec ID run
	failed := map[string]map[string]bool{} // profile -> spec IDs some fault failed
	t.Run("faults", func(t *testing.T) {
		for _, tc := range tests {
			t.Run(strings.ReplaceAll(tc.target, "/", "-"), func(t *testing.T) {
				if strings.Contains(tc.target, "qemu-ga") {
					needQemuGA(t)
				}
				t.Parallel()
				res, elapsed := runFailing(t, tc.target)
				if res.Succeeded {
					t.Fatalf("suite passed against %s", tc.target)
				}
				profile := strings.Split(tc.target, "/")[0]
				mu.Lock()
				ran++
				if specs[profile] == nil {
					specs[profile], failed[profile] = map[string]bool{}, map[string]bool{}
				}
				for _, s := range res.Specs {
					specs[profile][s.ID] = true
				}
				for _, id := range res.FailedIDs() {
					failed[profile][id] = true
				}
				mu.Unlock()
				failedHere := map[string]bool{}
				for _, id := range res.FailedIDs() {
					failedHere["["+id+"]"] = true
				}
				for _, id := range tc.want {
					if !failedHere[id] {
						t.Errorf("%s did not fail against %s; failed: %v", id, tc.target, res.FailedIDs())
					}
				}
				var reasons strings.Builder
				for _, s := range res.Specs {
					reasons.WriteString(s.Failure + "\n")
					if failedHere["["+s.ID+"]"] && slices.Contains(tc.pass, "["+s.ID+"]") {
						t.Errorf("%s failed against %s, which breaks only something else: %s", s.ID, tc.target, s.Failure)
					}
				}
				if !strings.Contains(reasons.String(), tc.reason) {
					t.Errorf("no failure against %s says %q; failures:\n%s", tc.target, tc.reason, reasons.String())
				}
				if strings.Contains(reasons.String(), "Unexpected error:") || strings.Contains(reasons.String(), "but got an error:") {
					t.Errorf("a failure against %s is a gomega dump of an error value, not its text:\n%s", tc.target, reasons.String())
				}
				if i := strings.IndexFunc(reasons.String(), func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || r == 0x202e }); i >= 0 {
					t.Errorf("a failure against %s carries a raw control character at byte %d:\n%q", tc.target, i, reasons.String())
				}
				if elapsed > 45*time.Second {
					t.Errorf("suite against %s took %v, want under 45s", tc.target, elapsed)
				}
				t.Logf("%s: %d failed in %v: %v", tc.target, res.Failed, elapsed.Round(time.Millisecond), res.FailedIDs())
			})
		}
	})
	if ran < len(tests) {
		return // -run picked some faults: the coverage of all of them is not known
	}
	for profile, ids := range specs {
		for id := range ids {
			if !failed[profile][id] {
				t.Errorf("spec %s of the %s profile fails under no fault mode", id, profile)
			}
		}
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
