package avalanche

import (
	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	. "github.com/onsi/ginkgo/v2" //nolint:revive // ginkgo DSL
	. "github.com/onsi/gomega"    //nolint:revive // gomega DSL
)

// conflictSpecs: two siblings on one parent, as consensus sees them when
// two builders race. One is accepted, the other rejected.
func (c *chain) conflictSpecs() {
	var a, b Block
	c.s.it("AVA-CON-001", func(ctx SpecContext) {
		c.needBlocks(ctx)
		parent := c.lastAccepted()
		expectOK(c.t.setPreference(ctx, parent.ID), "SetPreference(%s), the last accepted block", parent.ID)
		var err error
		a, err = c.t.newBlock(ctx)
		expectOK(err, "building the first sibling")
		expectOK(c.t.verify(ctx, a.Bytes, nil), "BlockVerify of the first sibling %s", a)
		// The preference stays on the parent, so the next block is a sibling.
		b, err = c.t.newBlock(ctx)
		expectOK(err, "building the second sibling")
		Expect(b.ParentID).To(Equal(parent.ID), "with the preference on %s, BuildBlock built on %s", parent.ID, b.ParentID)
		Expect(b.ID).NotTo(Equal(a.ID), "two blocks with different transactions got the same id %s", a.ID)
		expectOK(c.t.verify(ctx, b.Bytes, nil), "BlockVerify of the second sibling %s, after verifying its conflict %s", b, a.ID)
	})

	c.s.it("AVA-CON-002", func(ctx SpecContext) {
		c.s.needs("AVA-CON-001")
		if a.Bytes == nil || b.Bytes == nil {
			Fail("no siblings to decide: building them failed earlier (see AVA-CON-001)")
		}
		expectOK(c.t.setPreference(ctx, a.ID), "SetPreference(%s), the sibling about to be accepted", a.ID)
		expectOK(c.t.accept(ctx, a.ID), "BlockAccept of %s", a)
		expectOK(c.t.reject(ctx, b.ID), "BlockReject of the conflicting sibling %s", b)
		c.blk.chain = append(c.blk.chain, a)
		got, err := c.t.setState(ctx, vmpb.State_STATE_NORMAL_OP)
		expectOK(err, "SetState(NormalOp) after the decision")
		Expect(got.ID).To(Equal(a.ID), "after accepting %s and rejecting %s, last accepted is %s", a.ID, b.ID, got.ID)
	})

	c.s.it("AVA-CON-003", func(ctx SpecContext) {
		c.s.needs("AVA-CON-001")
		if a.Bytes == nil || b.Bytes == nil {
			Fail("no siblings to decide: building them failed earlier (see AVA-CON-001)")
		}
		id, errEnum, err := c.t.idAtHeight(ctx, b.Height)
		expectOK(err, "GetBlockIDAtHeight(%d) after the decision", b.Height)
		Expect(errEnum).To(Equal(vmpb.Error_ERROR_UNSPECIFIED), "GetBlockIDAtHeight(%d) answered %s", b.Height, errEnum)
		Expect(id).NotTo(Equal(b.ID), "the rejected sibling %s is recorded at height %d", b.ID, b.Height)
		Expect(id).To(Equal(a.ID), "height %d holds %s, the accepted sibling is %s", b.Height, id, a.ID)
	})
}
