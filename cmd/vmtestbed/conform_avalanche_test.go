package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/fakes/refvm"
	"github.com/vmtestbed/vmtestbed/internal/buildbin"
)

func refvmBinary(t *testing.T, variant string) string {
	t.Helper()
	ld := ""
	if variant != "" {
		ld = "-X main.variant=" + variant
	}
	bin, err := buildbin.Build("./cmd/refvm", ld)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

var fastTimeouts = []string{"--handshake-timeout", "3s", "--call-timeout", "2s", "--shutdown-timeout", "1s", "--grace-period", "1s"}

// TestConformAvalancheRefVMBinary: the correct refvm binary passes the whole
// suite over loopback TCP, and the reports are written.
func TestConformAvalancheRefVMBinary(t *testing.T) {
	dir := t.TempDir()
	junit, js, trace := filepath.Join(dir, "r.xml"), filepath.Join(dir, "r.json"), filepath.Join(dir, "trace.md")
	args := append([]string{"conform", "avalanche", "--plugin", refvmBinary(t, ""), "--junit", junit, "--json", js, "--trace", trace}, fastTimeouts...)
	res := runCLI(t, 60*time.Second, args...)
	if res.code != exitOK {
		t.Fatalf("exit %d, want 0:\n%s", res.code, res.out)
	}
	for path, want := range map[string]string{junit: "<testsuite", js: "AVA-BLK-004", trace: "sequenceDiagram"} {
		b, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("report %s lacks %q (err %v)", filepath.Base(path), want, err)
		}
	}
}

// brokenVariants: every broken refvm and the specs that MUST catch it.
// (conformance/avalanche's TestEverySpecCanFail runs them in process.)
var brokenVariants = []struct {
	variant string
	code    int
	ids     []string
	output  []string // further text the output must hold
}{
	{"wrong-genesis-id", exitFailed, []string{"AVA-INI-003"}, nil},
	{"verify-accepts-invalid", exitFailed, []string{"AVA-BLK-012"}, nil},
	{"nondeterministic-parse", exitFailed, []string{"AVA-BLK-004", "AVA-DET-001"}, nil},
	{"stale-last-accepted", exitFailed, []string{"AVA-BLK-006", "AVA-STA-003"}, nil},
	{"wrong-protocol", exitFailed, []string{"AVA-HSK-001"}, []string{"protocol 41", "v1.13.2", "--avalanchego v1.13.2"}},
	{"hang-shutdown", exitFailed, []string{"AVA-PRE-001", "AVA-SHD-001"}, []string{"Shutdown: DeadlineExceeded"}},
	{"crash-build", exitFailed, []string{"AVA-BLK-002"}, []string{"BuildBlock: Unavailable", "refvm: crashing in BuildBlock", "exit status 2"}},
	{"getblock-status", exitFailed, []string{"AVA-BLK-007"}, nil},
	{"no-app-error", exitFailed, []string{"AVA-APP-001", "AVA-APP-003"}, nil},
	{"crash-initialize", exitFailed, []string{"AVA-INI-001"}, []string{"Initialize: Unavailable", "exit status 3", "refvm: cannot open the chain: the database is locked by another process"}},
	{"verify-once", exitFailed, []string{"AVA-BLK-015"}, nil},
	{"verify-rewinds-accepted", exitFailed, []string{"AVA-BLK-016"}, nil},
	{"height-index-at-verify", exitFailed, []string{"AVA-BLK-017"}, nil},
	{"parse-local-timestamp", exitFailed, []string{"AVA-DET-001"}, nil},
	{"verify-own-blocks-only", exitFailed, []string{"AVA-DET-002"}, nil},
	{"memdb-state", exitFailed, []string{"AVA-RST-001"}, nil},
	{"volatile-height-index", exitFailed, []string{"AVA-RST-002"}, nil},
	{"build-on-cached-tip", exitFailed, []string{"AVA-RST-003"}, nil},
	{"shutdown-awaits-events", exitFailed, []string{"AVA-SHD-002"}, nil},
	{"db-after-shutdown", exitFailed, []string{"AVA-SHD-003"}, nil},
	{"http-no-status", exitFailed, []string{"AVA-HTTP-002"}, []string{"status 0"}},
	{"app-response-error", exitFailed, []string{"AVA-APP-004"}, []string{"AppResponse"}},
	{"app-failed-error", exitFailed, []string{"AVA-APP-005"}, []string{"AppRequestFailed"}},
}

// TestConformAvalancheBrokenVariants: each broken refvm binary fails the
// suite with the right exit code, naming the specs that caught it, in
// bounded time; a crash names the call, the exit status and the plugin's
// last words, never a dump of a gRPC status.
func TestConformAvalancheBrokenVariants(t *testing.T) {
	listed := map[string]bool{}
	for _, tc := range brokenVariants {
		listed[tc.variant] = true
	}
	for _, v := range refvm.Variants() {
		if !listed[v.Name] {
			t.Errorf("broken variant %s is missing from brokenVariants", v.Name)
		}
	}
	for _, tc := range brokenVariants {
		t.Run(tc.variant, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"conform", "avalanche", "--plugin", refvmBinary(t, tc.variant)}, fastTimeouts...)
			res := runCLI(t, 90*time.Second, args...)
			if res.code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", res.code, tc.code, res.out)
			}
			for _, want := range append(append([]string{}, tc.ids...), tc.output...) {
				if !strings.Contains(res.out, want) {
					t.Errorf("output does not name %q:\n%s", want, res.out)
				}
			}
			if strings.Contains(res.out, "*status.Error") || strings.Contains(res.out, "s: {") {
				t.Errorf("output dumps an error's structure:\n%s", res.out)
			}
			limit := 45 * time.Second
			if tc.variant == "hang-shutdown" {
				limit = 15 * time.Second // every launch waits out the shutdown and grace limits
			}
			if res.duration > limit {
				t.Errorf("took %s, more than %s", res.duration, limit)
			}
			t.Logf("%s: exit %d in %s", tc.variant, res.code, res.duration.Round(time.Millisecond))
		})
	}
}

// TestConformAvalanchePluginsThatDoNotStart: a plugin that exits before the
// handshake and one that never makes it give exit code 2 within the
// handshake timeout plus 5 s, with the exit status and the output tail.
func TestConformAvalanchePluginsThatDoNotStart(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, script string
		want         []string
	}{
		{"exits-early", "#!/bin/sh\necho boom >&2\nexit 3\n", []string{"exit status 3", "boom"}},
		{"never-handshakes", "#!/bin/sh\necho waiting forever >&2\nexec /bin/sleep 60\n", []string{"handshake", "waiting forever"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, tc.name)
			if err := os.WriteFile(path, []byte(tc.script), 0o755); err != nil {
				t.Fatal(err)
			}
			const handshake = time.Second
			js := filepath.Join(dir, tc.name+".json")
			res := runCLI(t, 30*time.Second, "conform", "avalanche", "--plugin", path, "--handshake-timeout", handshake.String(), "--json", js)
			if res.code != exitUsage {
				t.Fatalf("exit %d, want %d:\n%s", res.code, exitUsage, res.out)
			}
			// The report is written too, naming the spec the plugin failed.
			if b, err := os.ReadFile(js); err != nil || !strings.Contains(string(b), `"id": "AVA-HSK-001"`) {
				t.Errorf("--json report of a plugin that did not start: %v\n%s", err, b)
			}
			for _, want := range tc.want {
				if !strings.Contains(res.out, want) {
					t.Errorf("output lacks %q:\n%s", want, res.out)
				}
			}
			if res.duration > handshake+5*time.Second {
				t.Errorf("took %s, more than the handshake timeout %s + 5s", res.duration, handshake)
			}
		})
	}
}

// TestConformAvalancheUsage: flag mistakes are usage errors (exit 2).
func TestConformAvalancheUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--plugin", "/x", "--in-process", "refvm"},
		{"--in-process", "refvm:no-such-variant"},
		{"--in-process", "othervm"},
		{"--in-process", "refvm", "--protocol", "7"},
		{"--in-process", "refvm", "--avalanchego", "v0.0.1"},
		{"--in-process", "refvm", "--protocol", "46", "--avalanchego", "v1.15.0"},
		{"--in-process", "refvm", "--upgrade", "/nonexistent/upgrade.json"},
		{"--in-process", "refvm", "--subnet-config", "/nonexistent/subnet.json"},
	} {
		res := runCLI(t, 30*time.Second, append([]string{"conform", "avalanche"}, args...)...)
		if res.code != exitUsage {
			t.Errorf("%v: exit %d, want %d:\n%s", args, res.code, exitUsage, res.out)
		}
	}
}

// TestConformAvalancheInProcessVariant: the in-process refvm with a broken
// variant fails with exit 1; the correct one passes and honours --focus.
func TestConformAvalancheInProcessVariant(t *testing.T) {
	res := runCLI(t, 60*time.Second, append([]string{"conform", "avalanche", "--in-process", "refvm:getblock-status"}, fastTimeouts...)...)
	if res.code != exitFailed || !strings.Contains(res.out, "AVA-BLK-007") {
		t.Fatalf("exit %d, want 1 naming AVA-BLK-007:\n%s", res.code, res.out)
	}
	res = runCLI(t, 60*time.Second, "conform", "avalanche", "--in-process", "refvm", "--focus", "AVA-INI")
	if res.code != exitOK || strings.Contains(res.out, "AVA-BLK-004") || !strings.Contains(res.out, "AVA-INI-003") {
		t.Fatalf("focused run: exit %d, or ran unfocused specs:\n%s", res.code, res.out)
	}
}

// BenchmarkSuiteInProcessRefVM measures one whole suite run against the
// in-process refvm. Ginkgo runs one suite per process, so each iteration is
// a `vmtestbed conform avalanche --in-process refvm` subprocess (process
// start included).
func BenchmarkSuiteInProcessRefVM(b *testing.B) {
	bin, err := buildbin.Build("./cmd/vmtestbed", "")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		out, err := exec.Command(bin, "conform", "avalanche", "--in-process", "refvm").CombinedOutput()
		if err != nil {
			b.Fatalf("suite run: %v\n%s", err, out)
		}
	}
}

// TestConformAvalancheDBDir: with --db-dir the node's database is an on-disk
// leveldb, one directory per plugin launch, and the suite still passes.
func TestConformAvalancheDBDir(t *testing.T) {
	dir := t.TempDir()
	args := append([]string{"conform", "avalanche", "--plugin", refvmBinary(t, ""), "--db-dir", dir}, fastTimeouts...)
	res := runCLI(t, 60*time.Second, args...)
	if res.code != exitOK {
		t.Fatalf("exit %d, want 0:\n%s", res.code, res.out)
	}
	launches, err := filepath.Glob(filepath.Join(dir, "launch-*", "CURRENT"))
	if err != nil || len(launches) < 2 {
		t.Fatalf("want a leveldb (CURRENT file) per launch under %s, found %v (err %v)", dir, launches, err)
	}
	var logged int64
	for _, current := range launches {
		matches, _ := filepath.Glob(filepath.Join(filepath.Dir(current), "*.log"))
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil {
				logged += fi.Size()
			}
		}
	}
	if logged == 0 {
		t.Fatal("the on-disk databases hold no data: the plugin's writes did not reach them")
	}
}

// TestConformAvalancheProtocol41: emulating AvalancheGo v1.13.2 (protocol
// 41), the node has no WaitForEvent: the in-process reference VM, speaking
// 41 too, asks for blocks through messenger.Messenger/Notify, and the whole
// suite passes on that path.
func TestConformAvalancheProtocol41(t *testing.T) {
	trace := filepath.Join(t.TempDir(), "trace.txt")
	res := runCLI(t, 60*time.Second, "conform", "avalanche", "--in-process", "refvm", "--avalanchego", "v1.13.2", "--trace", trace)
	if res.code != exitOK {
		t.Fatalf("exit %d, want 0:\n%s", res.code, res.out)
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "messenger.Messenger/Notify") || strings.Contains(string(b), "WaitForEvent") {
		t.Fatalf("protocol 41 run must use Notify and never WaitForEvent; trace:\n%s", b)
	}
}

// TestConformAvalancheProtocolMatch: a plugin speaking protocol 45 (as
// xsvm v1.14.2) against the default v1.15.0 emulation fails AVA-HSK-001
// with exit 1, naming its protocol, the release speaking it and the flag
// emulating that release; with that flag, or --same-wire, it passes.
func TestConformAvalancheProtocolMatch(t *testing.T) {
	bin, err := buildbin.Build("./cmd/refvm", "-X main.protocol=45")
	if err != nil {
		t.Fatal(err)
	}
	base := append([]string{"conform", "avalanche", "--plugin", bin}, fastTimeouts...)
	res := runCLI(t, 60*time.Second, base...)
	if res.code != exitFailed {
		t.Fatalf("exit %d, want %d:\n%s", res.code, exitFailed, res.out)
	}
	for _, want := range []string{"[AVA-HSK-001]", "protocol 45", "v1.14.2", "--avalanchego v1.14.2", "FAIL [AVA-HSK-001]"} {
		if !strings.Contains(res.out, want) {
			t.Errorf("output lacks %q:\n%s", want, res.out)
		}
	}
	if strings.Contains(res.out, "AVA-INI-001") && strings.Contains(res.out, "FAIL [AVA-INI-001]") {
		t.Errorf("the mismatch is blamed on AVA-INI-001:\n%s", res.out)
	}
	for _, extra := range [][]string{{"--avalanchego", "v1.14.2"}, {"--same-wire"}} {
		res := runCLI(t, 60*time.Second, append(append([]string{}, base...), extra...)...)
		if res.code != exitOK {
			t.Errorf("%v: exit %d, want 0:\n%s", extra, res.code, res.out)
		}
	}
}

// TestConformAvalancheNodeFlags: --network-id, --upgrade, --chain-config
// and --subnet-config reach the node and its InitializeRequest, and
// --avalanchego sets the version Connected announces.
func TestConformAvalancheNodeFlags(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"upgrade.json": "{}", "chain.json": `{"a":1}`, "subnet.json": `{"validatorOnly":false}`}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	trace := filepath.Join(dir, "trace.txt")
	res := runCLI(t, 60*time.Second, "conform", "avalanche", "--in-process", "refvm", "--avalanchego", "v1.14.2",
		"--network-id", "7", "--upgrade", filepath.Join(dir, "upgrade.json"), "--chain-config", filepath.Join(dir, "chain.json"),
		"--subnet-config", filepath.Join(dir, "subnet.json"), "--trace", trace, "--focus", "AVA-INI-001|AVA-APP-003")
	if res.code != exitOK {
		t.Fatalf("exit %d, want 0:\n%s", res.code, res.out)
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"network_id=7 ", "upgrade_bytes=<2B>", "config_bytes=<7B>", `name="avalanchego" major=1 minor=14 patch=2`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the trace lacks %q:\n%s", want, b)
		}
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if res := runCLI(t, 60*time.Second, "conform", "avalanche", "--in-process", "refvm", "--subnet-config", bad); res.code != exitUsage {
		t.Errorf("a subnet config that is not JSON: exit %d, want %d:\n%s", res.code, exitUsage, res.out)
	}
}
