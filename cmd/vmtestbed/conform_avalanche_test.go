package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vmtestbed/vmtestbed/internal/buildbin"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cliResult is one run of the built vmtestbed binary.
type cliResult struct {
	code     int
	out      string
	duration time.Duration
}

func runCLI(t *testing.T, bound time.Duration, args ...string) cliResult {
	t.Helper()
	bin, err := buildbin.Build("./cmd/vmtestbed", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	res := cliResult{out: out.String(), duration: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("vmtestbed %v still running after %s:\n%s", args, bound, res.out)
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run vmtestbed: %v", err)
	}
	return res
}

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

var fastTimeouts = []string{"--handshake-timeout", "3s", "--call-timeout", "2s", "--shutdown-timeout", "1s"}

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
	for path, want := range map[string]string{junit: "<testsuite", js: "AVA-BLK-003", trace: "sequenceDiagram"} {
		b, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("report %s lacks %q (err %v)", filepath.Base(path), want, err)
		}
	}
}

// brokenVariants: every broken refvm and the specs that MUST catch it.
var brokenVariants = []struct {
	variant string
	code    int
	ids     []string
	output  []string // further text the output must hold
}{
	{"wrong-genesis-id", exitFailed, []string{"AVA-INI-003"}, nil},
	{"verify-accepts-invalid", exitFailed, []string{"AVA-BLK-012"}, nil},
	{"nondeterministic-parse", exitFailed, []string{"AVA-BLK-003"}, nil},
	{"stale-last-accepted", exitFailed, []string{"AVA-BLK-006", "AVA-STA-003"}, nil},
	{"wrong-protocol", exitUsage, []string{"AVA-HSK-001"}, []string{"41", "could not be started"}},
	{"hang-shutdown", exitFailed, []string{"AVA-PRE-001", "AVA-SHD-001"}, nil},
	{"crash-build", exitFailed, []string{"AVA-BLK-002"}, []string{"refvm: crashing in BuildBlock", "exit status 2"}},
	{"getblock-status", exitFailed, []string{"AVA-BLK-007"}, nil},
	{"no-app-error", exitFailed, []string{"AVA-APP-001"}, nil},
}

// TestConformAvalancheBrokenVariants: each broken refvm binary fails the
// suite with the right exit code, naming the specs that caught it, in
// bounded time.
func TestConformAvalancheBrokenVariants(t *testing.T) {
	for _, tc := range brokenVariants {
		t.Run(tc.variant, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"conform", "avalanche", "--plugin", refvmBinary(t, tc.variant)}, fastTimeouts...)
			res := runCLI(t, 60*time.Second, args...)
			if res.code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", res.code, tc.code, res.out)
			}
			for _, want := range append(append([]string{}, tc.ids...), tc.output...) {
				if !strings.Contains(res.out, want) {
					t.Errorf("output does not name %q:\n%s", want, res.out)
				}
			}
			// Four plugins at most, each stopped within call + 3 x shutdown timeouts.
			if res.duration > 30*time.Second {
				t.Errorf("took %s, more than the timeouts allow", res.duration)
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
			res := runCLI(t, 30*time.Second, "conform", "avalanche", "--plugin", path, "--handshake-timeout", handshake.String())
			if res.code != exitUsage {
				t.Fatalf("exit %d, want %d:\n%s", res.code, exitUsage, res.out)
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
	if res.code != exitOK || strings.Contains(res.out, "AVA-BLK-003") {
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
