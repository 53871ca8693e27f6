package avalanche_test

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vmtestbed/vmtestbed/conformance/avalanche"
	"github.com/vmtestbed/vmtestbed/conformance/avalanche/multinode"
	"github.com/vmtestbed/vmtestbed/fakes/refvm"
	"github.com/vmtestbed/vmtestbed/internal/killtest"
	"github.com/vmtestbed/vmtestbed/transport"
)

func TestMain(m *testing.M) {
	if killtest.ChildName() != "" {
		os.Exit(killtest.Main(runChild))
	}
	// Ginkgo's interrupt handler lives as long as the process; it is not ours.
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/onsi/ginkgo/v2/internal/interrupt_handler.(*InterruptHandler).registerForInterrupts.func2"),
		goleak.IgnoreTopFunction("os/signal.signal_recv"),
	)
}

// inProcessRefVM is a correct refvm served in this process over bn.
func inProcessRefVM(bn *transport.Bufnet, rc refvm.Config) func(ctx context.Context, engineAddr string) error {
	rc.Transport = bn
	if rc.Stderr == nil {
		rc.Stderr = io.Discard
	}
	return func(ctx context.Context, engineAddr string) error { return refvm.Serve(ctx, engineAddr, rc) }
}

// TestSuiteInProcessRefVM: the correct reference VM passes every spec, the
// multi-node ones with 3 instances.
func TestSuiteInProcessRefVM(t *testing.T) {
	bn := transport.NewBufnet()
	avalanche.Run(t, avalanche.Config{
		InProcess:   inProcessRefVM(bn, refvm.Config{}),
		Bufnet:      bn,
		CallTimeout: 5 * time.Second,
		GracePeriod: 2 * time.Second,
		Nodes:       3,
		NewNetwork:  multinode.Network(""),
	})
}
