package avalanche

import (
	. "github.com/onsi/ginkgo/v2" //nolint:revive // ginkgo DSL
)

// contextSpecs: building and verifying with a P-chain height, as the node
// does for blocks built after the proposervm fork.
func (c *chain) contextSpecs() {
	c.s.it("AVA-CTX-001", func(ctx SpecContext) {
		c.needBlocks(ctx)
		expectOK(c.t.wantBlock(ctx), "making the VM want a block")
		pHeight := uint64(1)
		blk, err := c.t.buildBlock(ctx, &pHeight)
		expectOK(err, "BuildBlock with p_chain_height %d", pHeight)
		if !blk.VerifyWithContext {
			Skip("the VM does not ask to verify with context (verify_with_context is false)")
		}
		expectOK(c.t.verify(ctx, blk.Bytes, &pHeight), "BlockVerify of %s with p_chain_height %d, after the VM asked to verify with context", blk, pHeight)
	})
}
