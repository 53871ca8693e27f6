package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/conformance/avalanche/xsvm"
	"github.com/vmtestbed/vmtestbed/fakes/refvm"
	"github.com/vmtestbed/vmtestbed/internal/buildbin"
)

// netSpecs are the multi-node specs `conform avalanche --nodes N` adds.
var netSpecs = []string{"AVA-NET-001", "AVA-NET-002", "AVA-NET-003", "AVA-NET-004", "AVA-NET-005"}

// netVariantSpec is the multi-node spec each multi-node refvm variant fails.
var netVariantSpec = map[string]string{
	refvm.VariantLocalBlockID:    "AVA-NET-001",
	refvm.VariantGossipNoTargets: "AVA-NET-002",
	refvm.VariantAcceptOnReject:  "AVA-NET-003",
	refvm.VariantBootstrapStale:  "AVA-NET-004",
	refvm.VariantPongToSelf:      "AVA-NET-005",
}

// TestConformAvalancheNodes: with --nodes 3 the in-process reference VM and
// its binary pass every spec, the multi-node ones included; with one node
// those are not run.
func TestConformAvalancheNodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"in-process", []string{"--in-process", "refvm"}},
		{"binary", []string{"--plugin", refvmBinary(t, "")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runCLI(t, 90*time.Second, append(append([]string{"conform", "avalanche", "--nodes", "3"}, tc.args...), fastTimeouts...)...)
			if res.code != 0 {
				t.Fatalf("exit %d, want 0:\n%s", res.code, res.out)
			}
			for _, id := range netSpecs {
				if !strings.Contains(res.out, "ok   ["+id+"]") {
					t.Errorf("%s did not pass:\n%s", id, res.out)
				}
			}
			t.Logf("--nodes 3 %s: exit 0 in %s", tc.name, res.duration.Round(time.Millisecond))
		})
	}
	res := runCLI(t, 60*time.Second, "conform", "avalanche", "--in-process", "refvm")
	if res.code != 0 || strings.Contains(res.out, "AVA-NET-") {
		t.Errorf("one node: exit %d, want 0 and no multi-node spec:\n%s", res.code, res.out)
	}
	if res := runCLI(t, 30*time.Second, "conform", "avalanche", "--in-process", "refvm", "--nodes", "0"); res.code != exitUsage || !strings.Contains(res.out, "--nodes 0") {
		t.Errorf("--nodes 0: exit %d, want %d naming the flag:\n%s", res.code, exitUsage, res.out)
	}
}

// TestConformAvalancheNodesBrokenVariants: each multi-node refvm variant,
// on 3 nodes, fails its multi-node spec and exits 1.
func TestConformAvalancheNodesBrokenVariants(t *testing.T) {
	for _, v := range refvm.MultiNodeVariants() {
		id, ok := netVariantSpec[v.Name]
		if !ok {
			t.Errorf("multi-node variant %s is missing from netVariantSpec", v.Name)
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			res := runCLI(t, 90*time.Second, append([]string{"conform", "avalanche", "--nodes", "3", "--in-process", "refvm:" + v.Name}, fastTimeouts...)...)
			if res.code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", res.code, res.out)
			}
			if strings.Contains(res.out, "ok   ["+id+"]") || !strings.Contains(res.out, id) {
				t.Errorf("%s did not fail:\n%s", id, res.out)
			}
			t.Logf("%s: exit 1 in %s", v.Name, res.duration.Round(time.Millisecond))
		})
	}
}

// TestConformAvalancheXSVMNodes: xsvm v1.14.2 (a third-party plugin, each
// instance in its own process) on 3 nodes passes; it neither gossips
// transactions nor asks its peers, so AVA-NET-002 and AVA-NET-005 are
// skipped with that reason.
func TestConformAvalancheXSVMNodes(t *testing.T) {
	if os.Getenv("VMTESTBED_SKIP_XSVM") == "1" {
		t.Skip("VMTESTBED_SKIP_XSVM=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	plugin, err := xsvm.Build(ctx, buildbin.CacheDir(), xsvm.DefaultVersion)
	if err != nil {
		t.Fatal(err)
	}
	res := runCLI(t, 2*time.Minute, "conform", "avalanche", "--plugin", plugin, "--avalanchego", "v1.14.2", "--nodes", "3")
	if res.code != exitOK {
		t.Fatalf("exit %d, want 0:\n%s", res.code, res.out)
	}
	for _, want := range []string{"ok   [AVA-NET-001]", "ok   [AVA-NET-003]", "ok   [AVA-NET-004]", "skip [AVA-NET-002]", "skip [AVA-NET-005]"} {
		if !strings.Contains(res.out, want) {
			t.Errorf("the output lacks %q:\n%s", want, res.out)
		}
	}
	t.Logf("xsvm on 3 nodes: exit 0 in %s", res.duration.Round(time.Millisecond))
}
