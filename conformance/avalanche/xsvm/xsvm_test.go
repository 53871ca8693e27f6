package xsvm_test

import (
	"context"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vmtestbed/vmtestbed/conformance/avalanche"
	"github.com/vmtestbed/vmtestbed/conformance/avalanche/xsvm"
	"github.com/vmtestbed/vmtestbed/internal/buildbin"
)

func TestMain(m *testing.M) {
	// ginkgo keeps its interrupt handler (and with it a signal goroutine) for
	// the life of the process.
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/onsi/ginkgo/v2/internal/interrupt_handler.(*InterruptHandler).registerForInterrupts.func2"),
		goleak.IgnoreTopFunction("os/signal.signal_recv"))
}

// xsvm v1.14.2 speaks protocol 45; the node emulates its release exactly.
const (
	xsvmRelease       = "v1.14.2"
	xsvmProtocol uint = 45
)

// TestSuitePassesAgainstXSVM builds xsvm v1.14.2 (protocol 45) from the Go
// module proxy — cached under the vmtestbed cache dir, a few minutes cold —
// and runs the whole Avalanche suite against it as a real subprocess plugin.
// VMTESTBED_SKIP_XSVM=1 skips it on machines without the module proxy.
func TestSuitePassesAgainstXSVM(t *testing.T) {
	bin := xsvmPlugin(t)
	w, err := xsvm.NewWorkload()
	if err != nil {
		t.Fatal(err)
	}
	avalanche.Run(t, avalanche.Config{Plugin: bin, Workload: w, Seed: 1, Release: xsvmRelease})
}

// Detect must recognise xsvm and must not mistake the reference VM for it.
func TestDetect(t *testing.T) {
	if os.Getenv("VMTESTBED_SKIP_XSVM") == "1" {
		t.Skip("VMTESTBED_SKIP_XSVM=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	xsvmBin, err := xsvm.Build(ctx, buildbin.CacheDir(), xsvm.DefaultVersion)
	if err != nil {
		t.Fatal(err)
	}
	refvmBin, err := buildbin.Build("./cmd/refvm", "")
	if err != nil {
		t.Fatal(err)
	}
	w, err := xsvm.NewWorkload()
	if err != nil {
		t.Fatal(err)
	}
	if !w.Detect(ctx, xsvmBin, xsvmProtocol, 5*time.Second) {
		t.Error("Detect did not recognise xsvm")
	}
	if w.Detect(ctx, refvmBin, 0, 5*time.Second) || w.Detect(ctx, refvmBin, xsvmProtocol, 5*time.Second) {
		t.Error("Detect took the reference VM for xsvm")
	}
}

// The genesis must be xsvm's codec: version 0, timestamp, allocation count,
// then 28 bytes per allocation.
func TestGenesisLayout(t *testing.T) {
	w, err := xsvm.NewWorkload()
	if err != nil {
		t.Fatal(err)
	}
	g, err := w.Genesis()
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 + 8 + 4 + xsvm.NumKeys*28; len(g) != want {
		t.Fatalf("genesis is %d bytes, want %d", len(g), want)
	}
}
