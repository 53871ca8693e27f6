package avalanche

import (
	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	. "github.com/onsi/ginkgo/v2" //nolint:revive // ginkgo DSL
	. "github.com/onsi/gomega"    //nolint:revive // gomega DSL
)

// initSpecs: Initialize, genesis and the first state transitions.
func (c *chain) initSpecs() {
	it("AVA-INI-001", func(ctx SpecContext) {
		resp, err := c.t.initialize(ctx)
		Expect(err).NotTo(HaveOccurred(), "Initialize with the node's complete request (32-byte ids, 20-byte node id, BLS key, every upgrade time) failed")
		Expect(resp.GetBytes()).NotTo(BeEmpty(), "Initialize reported last accepted %x without its bytes", resp.GetLastAcceptedId())
	})

	it("AVA-INI-002", func(ctx SpecContext) {
		c.mustInitialized()
		Expect(c.t.genesis.Height).To(BeZero(), "a fresh chain reported last accepted %s at height %d, want genesis at 0", c.t.genesis.ID, c.t.genesis.Height)
	})

	it("AVA-INI-003", func(ctx SpecContext) {
		c.mustInitialized()
		g := c.t.genesis
		parsed, err := c.t.parseBlock(ctx, g.Bytes)
		Expect(err).NotTo(HaveOccurred(), "ParseBlock of the %d genesis bytes Initialize returned failed", len(g.Bytes))
		Expect(parsed.ID).To(Equal(g.ID), "Initialize reported last accepted %s, but ParseBlock of its bytes gives %s: the node would not recognise its own genesis", g.ID, parsed.ID)
		Expect(parsed.Height).To(Equal(g.Height), "ParseBlock of genesis bytes gives height %d, Initialize said %d", parsed.Height, g.Height)
	})

	it("AVA-INI-004", func(ctx SpecContext) {
		g := c.t.genesis
		got, errEnum, err := c.t.getBlock(ctx, g.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(errEnum).To(Equal(vmpb.Error_ERROR_UNSPECIFIED), "GetBlock of the last accepted id %s Initialize reported answered %s", g.ID, errEnum)
		Expect(got.Bytes).To(Equal(g.Bytes), "GetBlock(%s) bytes differ from Initialize's", g.ID)
		Expect(got.ParentID).To(Equal(g.ParentID), "GetBlock(%s) parent differs from Initialize's", g.ID)
		Expect(got.Height).To(Equal(g.Height), "GetBlock(%s) height differs from Initialize's", g.ID)
	})

	it("AVA-INI-005", func(ctx SpecContext) {
		id, errEnum, err := c.t.idAtHeight(ctx, 0)
		Expect(err).NotTo(HaveOccurred(), "AvalancheGo calls GetBlockIDAtHeight(0) for every GetAccepted query")
		Expect(errEnum).To(Equal(vmpb.Error_ERROR_UNSPECIFIED), "GetBlockIDAtHeight(0) answered %s", errEnum)
		Expect(id).To(Equal(c.t.genesis.ID), "GetBlockIDAtHeight(0) = %s, genesis is %s", id, c.t.genesis.ID)
	})

	it("AVA-STA-001", func(ctx SpecContext) {
		got, err := c.t.setState(ctx, vmpb.State_STATE_BOOTSTRAPPING)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.ID).To(Equal(c.t.genesis.ID), "SetState(Bootstrapping) reported last accepted %s, Initialize %s", got.ID, c.t.genesis.ID)
		Expect(got.Height).To(Equal(c.t.genesis.Height))
	})

	it("AVA-STA-002", func(ctx SpecContext) {
		Expect(c.t.setPreference(ctx, c.t.genesis.ID)).To(Succeed(), "AvalancheGo sets the preference to last accepted before normal operation")
		got, err := c.t.setState(ctx, vmpb.State_STATE_NORMAL_OP)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.ID).To(Equal(c.t.genesis.ID), "SetState(NormalOp) reported last accepted %s, want %s", got.ID, c.t.genesis.ID)
	})
}
