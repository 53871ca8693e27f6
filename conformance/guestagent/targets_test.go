package guestagent

import (
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/conformance/report"
	"github.com/vmtestbed/vmtestbed/internal/killtest"
)

// childArgs make a child process run only TestChildSuite.
var childArgs = []string{"-test.run", "^TestChildSuite$", "-test.v"}

// child runs TestChildSuite for target in a new process and returns its
// combined output and exit error.
func child(t *testing.T, target string) (string, error) {
	t.Helper()
	out, err := killtest.Exec(t, childArgs, target)
	return string(out), err
}

func TestTargetsPass(t *testing.T) {
	for _, target := range []string{"json/pty", "json/pty-spaced", "json/unix", "json/unix-single", "line/pty", "line/unix", "qga/qemu-ga", "qga/qemu-ga-pty"} {
		t.Run(strings.ReplaceAll(target, "/", "-"), func(t *testing.T) {
			if strings.HasPrefix(target, "qga/qemu-ga") {
				needQemuGA(t)
			}
			t.Parallel()
			out, err := child(t, target)
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
		out, err := child(t, "qga/qemu-ga-pty")
		if err != nil || !strings.Contains(out, "0 Failed") || strings.Contains(out, "Ran 0 of") {
			t.Fatalf("run %d of 10 against qemu-ga on a pty failed: %v\n%s", run+1, err, out)
		}
	}
	t.Logf("10 runs against qemu-ga on a pty passed in %v", time.Since(start).Round(time.Millisecond))
}

// failTarget is a broken agent: the specs it MUST fail, the specs it MUST
// pass (a fault wrong in meaning is caught by the spec about that meaning,
// not by a dead channel), and text some failure MUST carry.
type failTarget struct {
	target   string
	semantic bool
	what     string
	want     []string // spec IDs that must fail
	pass     []string // spec IDs that must pass
	reason   string   // must appear in some failure ("" = any)
}

var failTargets = []failTarget{
	{"json/unix/drop", false, "reads requests, never replies", []string{"GA-PING-001", "GA-HELLO-001", "GA-CHAN-002"}, nil, "no reply within 300ms"},
	{"json/unix/delay", false, "replies after 1 s", []string{"GA-PING-001", "GA-HELLO-001", "GA-CHAN-002"}, nil, "no reply within 300ms"},
	{"json/unix/garbage", false, "replies with random bytes that are not JSON", []string{"GA-PING-001", "GA-HELLO-001", "GA-CHAN-002"}, nil, "was not a JSON object: 0x"},
	{"json/unix/partial", false, "writes half of the first reply, then stays silent", []string{"GA-PING-001", "GA-HELLO-001", "GA-CHAN-002"}, nil, "bytes without a newline"},
	{"json/unix/hangup", false, "writes half of the first reply, then hangs up", []string{"GA-PING-001", "GA-HELLO-001", "GA-CHAN-002"}, nil, "hung up"},
	{"json/pty/partial", false, "on a pty: writes half of the first reply, then stays silent", []string{"GA-PING-001", "GA-HELLO-001", "GA-CHAN-002"}, nil, "no reply within 300ms"},
	{"json/unix/slow-reader", false, "reads one byte per 2 ms", []string{"GA-FILE-004", "GA-ERR-003"}, nil, "no reply within 300ms"},
	{"json/unix/ignore-allowlist", true, "claims to run commands outside the allow-list", []string{"GA-EXEC-003", "GA-EXEC-004"}, []string{"GA-PING-001", "GA-EXEC-001"}, "outside the allow-list"},
	{"json/unix/bad-checksum", true, "keeps an upload whose sha256 does not match", []string{"GA-FILE-002"}, []string{"GA-FILE-001", "GA-FILE-004"}, "wrong sha256"},
	{"json/unix/constant-status", true, "status reports an uptime that never advances", []string{"GA-STATUS-001"}, []string{"GA-PING-001", "GA-HELLO-001"}, "uptime did not advance"},
	{"json/unix/constant-metrics", true, "get_metrics returns fixed numbers", []string{"GA-METRICS-001"}, []string{"GA-PING-001"}, "constants, not measurements"},
	{"json/unix/no-id", true, "replies do not echo the request's id", []string{"GA-HELLO-002", "GA-TIME-001"}, []string{"GA-PING-001", "GA-EXEC-001"}, "carries no id"},
	{"json/pty/escapes", true, "terminal escape sequences in exec output and hello", []string{"GA-HELLO-001", "GA-EXEC-001", "GA-EXEC-004"}, []string{"GA-PING-001"}, `\x1b[2J`},
	{"json/unix-single2", false, "a single-client agent checked with 2 channels", []string{"GA-CHAN-001"}, []string{"GA-PING-001", "GA-CHAN-002"}, "serves one client at a time"},
	{"line/unix/drop", false, "line agent: reads requests, never replies", []string{"GA-LINE-001", "GA-LINE-004", "GA-TIME-001"}, nil, "no reply within 300ms"},
	{"json/unix/no-version", true, "hello reports protocol 0", []string{"GA-HELLO-001"}, []string{"GA-PING-001", "GA-HELLO-002"}, "protocol version"},
	{"line/unix/no-version", true, "the line version carries no version number", []string{"GA-LINE-003"}, []string{"GA-LINE-001", "GA-LINE-002"}, "has no version number"},
	{"line/pty/escapes", true, "line replies other than pong start with terminal escape sequences", []string{"GA-LINE-002", "GA-LINE-004"}, []string{"GA-LINE-001"}, `\x1b[2J`},
	{"json/unix/ping-every-other", true, "every other ping is answered pang", []string{"GA-PING-001"}, []string{"GA-HELLO-001"}, "pang"},
	{"line/unix/ping-every-other", true, "line agent: every other ping is answered pang", []string{"GA-LINE-001"}, []string{"GA-LINE-002"}, "pang"},
	{"json/unix/seed-ping-wrong", true, `the seed's {"data":"ping"} is answered PONG`, []string{"GA-PING-002"}, []string{"GA-PING-001"}, "PONG"},
	{"json/unix/exit-zero", true, "exec reports exit code 0 for a failing command", []string{"GA-EXEC-002"}, []string{"GA-EXEC-001"}, ""},
	{"json/unix/read-corrupt", true, "file_read flips a bit of the first byte", []string{"GA-FILE-001", "GA-FILE-004"}, []string{"GA-FILE-002"}, ""},
	{"json/unix/path-escape", true, "file paths outside the root are accepted (cut to their base name)", []string{"GA-FILE-003"}, []string{"GA-FILE-001"}, "outside the root was accepted"},
	{"json/unix/app-status-stale", true, "app status always reports stopped", []string{"GA-APP-001"}, []string{"GA-PING-001"}, ""},
	{"json/unix/app-accepts-all", true, "app control accepts unknown apps, unknown actions and invalid transitions", []string{"GA-APP-002"}, []string{"GA-APP-001"}, ""},
	{"json/unix/malformed-ok", true, "malformed requests are answered with a result, not an error", []string{"GA-ERR-001"}, []string{"GA-PING-001"}, ""},
	{"json/unix/unknown-ok", true, "an unknown command is answered with a result, not an error", []string{"GA-ERR-002"}, []string{"GA-PING-001"}, ""},
	{"json/unix/cross-talk", true, "every reply goes to the channel connected last", []string{"GA-CHAN-001"}, []string{"GA-PING-001"}, ""},
	{"json/unix/long-line-ok", true, "an over-long request line is answered with a result, not an error", []string{"GA-ERR-003"}, []string{"GA-PING-001"}, ""},
	{"qga/qemu-ga-blocked", false, "qemu-ga with guest-sync, guest-exec and guest-exec-status disabled", []string{"GA-QGA-003", "GA-QGA-007"}, []string{"GA-QGA-002", "GA-QGA-005", "GA-QGA-008"}, "has been disabled"},
	{"qga/unix", false, "a JSON agent checked as qga", []string{"GA-QGA-001", "GA-QGA-002", "GA-QGA-006", "GA-QGA-007", "GA-QGA-008", "GA-TIME-001"}, nil, "guest-sync-delimited"},
	{"xml/unix", false, "an unknown protocol in the suite's configuration", []string{"GA-CONFIG-001"}, nil, "unknown protocol"},
}

// TestTargetsFail is the suite's kill matrix: each broken agent fails the
// specs it must, with a reason that says what the agent did, passes the
// specs it must, never lets an agent's control characters into a report,
// and together they fail every spec, of every profile that runs it.
func TestTargetsFail(t *testing.T) {
	targets := slices.Clone(failTargets)
	for _, name := range slices.Sorted(maps.Keys(qgaFaults)) {
		f := qgaFaults[name]
		targets = append(targets, failTarget{"qga/qemu-ga/" + name, true, "qemu-ga behind a channel where " + f.what, f.want, []string{"GA-QGA-002"}, ""})
		if name == "ping-not-empty" {
			targets[len(targets)-1].pass = []string{"GA-QGA-004"}
		}
	}
	var mu sync.Mutex
	specs := map[string]map[string]bool{}  // profile -> every spec ID run
	failed := map[string]map[string]bool{} // profile -> spec IDs some target failed
	table := map[string]Spec{}
	var ids []string
	for _, s := range Specs() {
		table[s.ID] = s
		ids = append(ids, s.ID)
	}
	var children []killtest.Child
	for _, tc := range targets {
		c := killtest.Child{Name: tc.target, Semantic: tc.semantic, What: tc.what, Want: tc.want}
		if strings.HasPrefix(tc.target, "qga/qemu-ga/") {
			// Only the QGA specs: qemu-ga 7.2 on a unix socket sometimes
			// exits in GA-CHAN-002 (see docs/CONFORMANCE.md), and the
			// faults concern the QGA commands.
			c.Env = []string{envFocus + `=\[GA-QGA-`}
		}
		if strings.Contains(tc.target, "qemu-ga") {
			c.Need = needQemuGA
		}
		c.Check = func(t *testing.T, res report.Result, _ []byte) {
			if res.Succeeded {
				t.Fatalf("suite passed against %s", tc.target)
			}
			profile := strings.Split(tc.target, "/")[0]
			mu.Lock()
			if specs[profile] == nil {
				specs[profile], failed[profile] = map[string]bool{}, map[string]bool{}
			}
			for _, s := range res.Specs {
				specs[profile][s.ID] = true
				if sp, ok := table[s.ID]; ok && !slices.Contains(sp.Profiles, profile) && s.ID != "GA-CONFIG-001" {
					t.Errorf("%s ran in the %s profile; the spec table says %v", s.ID, profile, sp.Profiles)
				}
			}
			for _, id := range res.FailedIDs() {
				failed[profile][id] = true
			}
			mu.Unlock()
			var reasons strings.Builder
			for _, s := range res.Specs {
				reasons.WriteString(s.Failure + "\n")
				if s.Failed() && slices.Contains(tc.pass, s.ID) {
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
			if d := res.End.Sub(res.Start); d > 45*time.Second {
				t.Errorf("suite against %s took %v, want under 45s", tc.target, d)
			}
		}
		children = append(children, c)
	}
	m := killtest.Run(t, killtest.Suite{Name: "guestagent", Specs: ids, Children: children, Args: childArgs})
	if m == nil {
		return // some target did not run: the coverage of all of them is not known
	}
	for profile, ids := range specs {
		if profile == "xml" {
			continue
		}
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
