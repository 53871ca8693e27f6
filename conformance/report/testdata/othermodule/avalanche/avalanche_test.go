// Package avalanche_test is a module other than vmtestbed that checks a VM
// plugin (here the reference VM, in process) with the Avalanche suite.
package avalanche_test

import (
	"context"
	"testing"

	"github.com/vmtestbed/vmtestbed/conformance/avalanche"
	"github.com/vmtestbed/vmtestbed/fakes/refvm"
	"github.com/vmtestbed/vmtestbed/transport"
)

func TestAvalanche(t *testing.T) {
	bn := transport.NewBufnet()
	cfg := avalanche.DefaultConfig()
	cfg.Bufnet = bn
	cfg.InProcess = func(ctx context.Context, addr string) error {
		return refvm.Serve(ctx, addr, refvm.Config{Transport: bn, Exit: func(int) {}})
	}
	avalanche.Run(t, cfg)
}
