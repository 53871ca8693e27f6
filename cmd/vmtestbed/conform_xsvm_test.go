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
// third-party plugin: xsvm v1.14.2 (protocol 45, same wire as our 46), with
// no flags but --junit. The suite must find xsvm by itself (a probe launch),
// pass, and write at least 30 test cases, none failed.
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
	junit := filepath.Join(t.TempDir(), "out.xml")
	res := runCLI(t, 2*time.Minute, "conform", "avalanche", "--plugin", plugin, "--junit", junit)
	if res.code != exitOK {
		t.Fatalf("exit %d, want 0:\n%s", res.code, res.out)
	}
	b, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	cases, failures := strings.Count(string(b), "<testcase "), strings.Count(string(b), "<failure")
	if cases < 30 || failures != 0 {
		t.Fatalf("JUnit report has %d test cases and %d failures, want >= 30 and 0", cases, failures)
	}
	if n := strings.Count(res.out, "notice: "); n != 1 || !strings.Contains(res.out, "45") {
		t.Fatalf("want exactly one notice naming protocol 45 (same wire as ours), got %d:\n%s", n, res.out)
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
		if out, err := exec.Command(bin, "conform", "avalanche", "--plugin", plugin).CombinedOutput(); err != nil {
			b.Fatalf("suite run: %v\n%s", err, out)
		}
	}
}
