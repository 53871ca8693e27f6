package xsvm_test

import (
	"context"
	"testing"

	"github.com/vmtestbed/vmtestbed/conformance/avalanche/xsvm"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/fidelity/fidelitytest"
)

// TestFakeNodeDrivingXSVMMatchesRealNode is the differential test on the
// plugin the real recordings were made with: the fake node drives xsvm
// v1.14.2 (protocol 45) behind the recorder through pre-init, chain start
// with one peer, three blocks of signed transfers issued through xsvm's
// own HTTP handler, and stop; every fidelity rule derived from the real
// AvalancheGo v1.14.2 recordings of xsvm holds on the fake's sessions, or
// breaks as docs/FIDELITY.md says. VMTESTBED_SKIP_XSVM=1 skips it on
// machines without the module proxy.
func TestFakeNodeDrivingXSVMMatchesRealNode(t *testing.T) {
	// The rules mean something only next to the recordings they come from.
	fidelitytest.RealSessions(t)
	bin := xsvmPlugin(t)
	w, err := xsvm.NewWorkload()
	if err != nil {
		t.Fatal(err)
	}
	genesis, err := w.Genesis()
	if err != nil {
		t.Fatal(err)
	}
	sessions := fidelitytest.Record(t, fidelitytest.Run{
		Plugin: bin,
		Launch: avalanchego.LaunchConfig{Protocol: 45},
		Node:   avalanchego.NodeConfig{Genesis: genesis},
		Peers:  1,
		Blocks: 3,
		Issue: func(ctx context.Context, c *fidelitytest.Chain, _ int) error {
			hc, err := c.Handler("") // xsvm serves its API at the chain's root
			if err != nil {
				return err
			}
			defer hc.Close()
			return w.IssueTx(ctx, hc, 1)
		},
	})
	for _, s := range sessions {
		if s.Header.Protocol != 45 || s.Header.Plugin != "xsvm" {
			t.Fatalf("session %s: plugin %q protocol %d, want xsvm 45", s.Name, s.Header.Plugin, s.Header.Protocol)
		}
	}
	fidelitytest.CheckFake(t, sessions)
}
