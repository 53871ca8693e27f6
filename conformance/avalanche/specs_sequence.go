package avalanche

import (
	"context"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // ginkgo DSL
	. "github.com/onsi/gomega"    //nolint:revive // gomega DSL

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
)

// sequenceSpecs: a fresh plugin driven by the fake node's own sequencer,
// exactly in the order a real AvalancheGo node calls it.
func (s *suite) sequenceSpecs() {
	Describe("AvalancheGo call sequence", func() {
		s.it("AVA-SEQ-001", func(ctx SpecContext) {
			t := s.mustLaunch()
			seq := &avalanchego.Sequencer{Node: t.node, Plugin: t.plugin, Protocol: t.cfg.Protocol}
			res, err := seq.Start(ctx)
			DeferCleanup(func() {
				stopCtx, cancel := s.runCtx(context.Background())
				defer cancel()
				if err := seq.Stop(stopCtx); err != nil {
					GinkgoWriter.Printf("cleanup: stop sequencer: %v\n", err)
				}
			})
			expectOK(err, "AvalancheGo's start sequence (Initialize, CreateHandlers, NewHTTPHandler, StateSyncEnabled, SetState, Connected, SetPreference, SetState) failed")
			t.genesis = Block{ID: res.LastAccepted.ID}
			if _, _, err := t.workload(ctx); err == errNoWorkload {
				Skip(err.Error())
			}
			expectOK(t.wantTx(ctx), "issuing a transaction through the workload")
			bctx, cancel := context.WithTimeout(ctx, 4*t.cfg.CallTimeout)
			defer cancel()
			blk, err := seq.BuildAndAccept(bctx)
			expectOK(err, "the builder's steady-state cycle (WaitForEvent, BuildBlock, BlockVerify, SetPreference, ParseBlock, BlockAccept) failed")
			Expect(blk.ParentID).To(Equal(res.LastAccepted.ID), "the first block built after start has parent %s, last accepted was %s", blk.ParentID, res.LastAccepted.ID)
			Expect(blk.Height).To(Equal(res.LastAccepted.Height + 1))
		})
	})
}
