package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/conformance/avalanche/xsvm"
	"github.com/vmtestbed/vmtestbed/internal/buildbin"
)

// TestConformAvalancheXSVM is the plugin author's command against a real
// third-party plugin: xsvm v1.14.2 speaks protocol 45. Against the default
// emulation (v1.15.0, protocol 46) it fails AVA-HSK-001 with exit 1 and the
// hint to emulate v1.14.2, as AvalancheGo v1.15.0 refuses it; emulating
// v1.14.2, with no other flag but --junit, the suite finds xsvm by itself (a
// probe launch), passes, and writes at least 40 test cases, none failed.
func TestConformAvalancheXSVM(t *testing.T) {
	if os.Getenv("VMTESTBED_SKIP_XSVM") == "1" {
		t.Skip("VMTESTBED_SKIP_XSVM=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	plugin, err := xsvm.Build(ctx, buildbin.CacheDir(), xsvm.DefaultVersion)
	if err != nil {
		t.Fatal(err)
	}
	res := runCLI(t, 2*time.Minute, "conform", "avalanche", "--plugin", plugin)
	if res.code != exitFailed {
		t.Fatalf("against v1.15.0: exit %d, want %d:\n%s", res.code, exitFailed, res.out)
	}
	for _, want := range []string{"FAIL [AVA-HSK-001]", "protocol 45", "--avalanchego v1.14.2"} {
		if !strings.Contains(res.out, want) {
			t.Errorf("against v1.15.0 the output lacks %q:\n%s", want, res.out)
		}
	}
	junit := filepath.Join(t.TempDir(), "out.xml")
	res = runCLI(t, 2*time.Minute, "conform", "avalanche", "--plugin", plugin, "--avalanchego", "v1.14.2", "--junit", junit)
	if res.code != exitOK {
		t.Fatalf("emulating v1.14.2: exit %d, want 0:\n%s", res.code, res.out)
	}
	b, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	cases, failures := strings.Count(string(b), "<testcase "), strings.Count(string(b), "<failure")
	if cases < 40 || failures != 0 {
		t.Fatalf("JUnit report has %d test cases and %d failures, want >= 40 and 0", cases, failures)
	}
	if strings.Contains(res.out, "notice: ") {
		t.Fatalf("an exact protocol match needs no notice:\n%s", res.out)
	}
}

// BenchmarkSuiteXSVM is the wall time of one whole `vmtestbed conform
// avalanche --plugin xsvm` run (process start, the xsvm probe launch and
// five plugin launches included; the xsvm build is cached and not timed).
func BenchmarkSuiteXSVM(b *testing.B) {
	bin, err := buildbin.Build("./cmd/vmtestbed", "")
	if err != nil {
		b.Fatal(err)
	}
	plugin, err := xsvm.Build(context.Background(), buildbin.CacheDir(), xsvm.DefaultVersion)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if out, err := exec.Command(bin, "conform", "avalanche", "--plugin", plugin, "--avalanchego", "v1.14.2").CombinedOutput(); err != nil {
			b.Fatalf("suite run: %v\n%s", err, out)
		}
	}
}
