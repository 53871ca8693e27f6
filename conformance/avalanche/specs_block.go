package avalanche

import (
	"bytes"
	"context"
	"fmt"

	"github.com/ava-labs/avalanchego/ids"
	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	. "github.com/onsi/ginkgo/v2" //nolint:revive // ginkgo DSL
	. "github.com/onsi/gomega"    //nolint:revive // gomega DSL
	"google.golang.org/grpc/status"
)

// blockState is what the block specs hand to each other, in order.
type blockState struct {
	wanted bool    // BLK-001 left a transaction pending
	built  Block   // the block BLK-002 built
	child  Block   // the block BLK-011 built on it while it was undecided
	chain  []Block // accepted blocks after genesis, oldest first
}

// mustBuilt is the block BLK-002 built; without it the spec cannot run.
func (c *chain) mustBuilt() Block {
	c.s.needs("AVA-BLK-002")
	if c.blk.built.Bytes == nil {
		Fail("no block to check: building one failed earlier (see " + spec("AVA-BLK-002").ID + ")")
	}
	return c.blk.built
}

// lastAccepted is the newest block the specs accepted, or genesis.
func (c *chain) lastAccepted() Block {
	if n := len(c.blk.chain); n > 0 {
		return c.blk.chain[n-1]
	}
	return c.t.genesis
}

// blockSpecs: build, verify, prefer, parse and accept, as the builder node
// does, calling the VM in the node's order: the node's block cache parses
// the same bytes once, and BuildBlock is followed by BlockVerify.
func (c *chain) blockSpecs() {
	c.s.it("AVA-BLK-001", func(ctx SpecContext) {
		c.needBlocks(ctx)
		expectOK(c.t.wantBlock(ctx), "the VM MUST signal MESSAGE_BUILD_BLOCK while it has transactions to include")
		c.blk.wanted = true
	})

	c.s.it("AVA-BLK-002", func(ctx SpecContext) {
		c.needBlocks(ctx)
		if !c.blk.wanted {
			expectOK(c.t.wantBlock(ctx), "making the VM want a block")
		}
		pref := c.lastAccepted()
		blk, err := c.t.buildBlock(ctx, nil)
		expectOK(err, "BuildBlock after MESSAGE_BUILD_BLOCK failed")
		c.blk.built = blk
		Expect(blk.ParentID).To(Equal(pref.ID), "BuildBlock built on %s; the preferred block is %s", blk.ParentID, pref.ID)
		Expect(blk.Height).To(Equal(pref.Height+1), "BuildBlock on a parent at height %d gave height %d", pref.Height, blk.Height)
	})

	c.s.it("AVA-BLK-005", func(ctx SpecContext) {
		blk := c.mustBuilt()
		expectOK(c.t.verify(ctx, blk.Bytes, nil), "BlockVerify of %s, which the VM just built, failed", blk)
	})

	c.s.it("AVA-BLK-017", func(ctx SpecContext) {
		blk := c.mustBuilt()
		id, errEnum, err := c.t.idAtHeight(ctx, blk.Height)
		expectOK(err, "GetBlockIDAtHeight(%d) with a verified block at that height", blk.Height)
		Expect(errEnum).To(Equal(vmpb.Error_ERROR_NOT_FOUND),
			"GetBlockIDAtHeight(%d) answered %s (id %s) while %s is only verified; the height index holds accepted blocks, so it MUST answer ERROR_NOT_FOUND", blk.Height, errEnum, id, blk.ID)
	})

	c.s.it("AVA-BLK-015", func(ctx SpecContext) {
		blk := c.mustBuilt()
		for i := range c.t.cfg.Repeat {
			expectOK(c.t.verify(ctx, blk.Bytes, nil), "BlockVerify of the verified, undecided %s again (time %d) failed; the proposervm verifies an inner block once for every block that wraps it", blk, i+2)
		}
	})

	c.s.it("AVA-BLK-011", func(ctx SpecContext) {
		c.s.needs("AVA-BLK-005")
		blk := c.mustBuilt()
		for i := range c.t.cfg.Repeat {
			expectOK(c.t.setPreference(ctx, blk.ID), "SetPreference(%s) failed on attempt %d; the node repeats it whenever its preference is re-confirmed", blk.ID, i+1)
		}
		expectOK(c.t.wantBlock(ctx), "making the VM want a second block")
		child, err := c.t.buildBlock(ctx, nil)
		expectOK(err, "BuildBlock with the undecided %s preferred failed", blk)
		c.blk.child = child
		Expect(child.ParentID).To(Equal(blk.ID), "with %s preferred, BuildBlock built on %s", blk.ID, child.ParentID)
		Expect(child.Height).To(Equal(blk.Height+1), "BuildBlock on a parent at height %d gave height %d", blk.Height, child.Height)
		expectOK(c.t.verify(ctx, child.Bytes, nil), "BlockVerify of %s, built on the undecided %s", child, blk.ID)
	})

	c.s.it("AVA-BLK-004", func(ctx SpecContext) {
		blk := c.mustBuilt()
		parsed, err := c.t.parseBlock(ctx, blk.Bytes)
		expectOK(err, "ParseBlock of the bytes of %s, which the VM built (the node parses its own block before accepting it)", blk)
		Expect(parsed.ID).To(Equal(blk.ID), "ParseBlock id differs from BuildBlock's")
		Expect(parsed.ParentID).To(Equal(blk.ParentID), "ParseBlock parent %s, BuildBlock %s", parsed.ParentID, blk.ParentID)
		Expect(parsed.Height).To(Equal(blk.Height), "ParseBlock height %d, BuildBlock %d", parsed.Height, blk.Height)
		Expect(parsed.Timestamp.Equal(blk.Timestamp)).To(BeTrue(), "ParseBlock timestamp %s, BuildBlock %s", parsed.Timestamp, blk.Timestamp)
	})

	c.s.it("AVA-BLK-006", func(ctx SpecContext) {
		c.s.needs("AVA-BLK-005")
		blk := c.mustBuilt()
		expectOK(c.t.accept(ctx, blk.ID), "BlockAccept of the verified, preferred %s", blk)
		c.blk.chain = append(c.blk.chain, blk)
		id, errEnum, err := c.t.idAtHeight(ctx, blk.Height)
		expectOK(err, "GetBlockIDAtHeight(%d) right after BlockAccept", blk.Height)
		Expect(errEnum).To(Equal(vmpb.Error_ERROR_UNSPECIFIED), "GetBlockIDAtHeight(%d) answered %s right after BlockAccept(%s)", blk.Height, errEnum, blk.ID)
		Expect(id).To(Equal(blk.ID), "after BlockAccept(%s) at height %d, GetBlockIDAtHeight(%d) = %s", blk.ID, blk.Height, blk.Height, id)
	})

	c.s.it("AVA-STA-003", func(ctx SpecContext) {
		c.s.needs("AVA-BLK-006")
		c.mustInitialized(ctx)
		last := c.lastAccepted()
		got, err := c.t.setState(ctx, vmpb.State_STATE_NORMAL_OP)
		expectOK(err, "SetState(NormalOp) after BlockAccept")
		Expect(got.ID).To(Equal(last.ID), "SetState reports last accepted %s (height %d); the node accepted %s (height %d)", got.ID, got.Height, last.ID, last.Height)
	})

	c.s.it("AVA-BLK-016", func(ctx SpecContext) {
		c.s.needs("AVA-BLK-006")
		blk := c.mustBuilt()
		// Either answer is fine; what the VM reports afterwards is not.
		verifyErr := c.t.verify(ctx, blk.Bytes, nil)
		id, errEnum, err := c.t.idAtHeight(ctx, blk.Height)
		expectOK(err, "GetBlockIDAtHeight(%d) after BlockVerify of the accepted %s", blk.Height, blk.ID)
		Expect(errEnum).To(Equal(vmpb.Error_ERROR_UNSPECIFIED), "after BlockVerify of the accepted %s (answer: %v), GetBlockIDAtHeight(%d) answered %s", blk.ID, verifyErr, blk.Height, errEnum)
		Expect(id).To(Equal(blk.ID), "after BlockVerify of the accepted %s (answer: %v), height %d holds %s", blk.ID, verifyErr, blk.Height, id)
	})

	c.s.it("AVA-BLK-014", func(ctx SpecContext) {
		c.s.needs("AVA-BLK-006")
		blk := c.mustBuilt()
		got, errEnum, err := c.t.getBlock(ctx, blk.ID)
		expectOK(err, "GetBlock of the accepted %s", blk)
		Expect(errEnum).To(Equal(vmpb.Error_ERROR_UNSPECIFIED), "GetBlock of accepted %s answered %s", blk.ID, errEnum)
		Expect(got.Bytes).To(Equal(blk.Bytes), "GetBlock(%s) bytes differ from the built block's", blk.ID)
		Expect(got.Height).To(Equal(blk.Height))
	})

	c.s.it("AVA-BLK-007", func(ctx SpecContext) {
		c.mustInitialized(ctx)
		unknown := ids.ID{0xde, 0xad, 0xbe, 0xef, 0x76, 0x6d}
		_, errEnum, err := c.t.getBlock(ctx, unknown)
		if st, ok := status.FromError(err); err != nil && ok {
			Fail("GetBlock of unknown id " + unknown.String() + " failed with gRPC " + st.Code().String() + ": " + st.Message() + "; the contract answers ERROR_NOT_FOUND inside GetBlockResponse.err, and AvalancheGo treats a gRPC error as fatal")
		}
		expectOK(err, "GetBlock of an unknown id")
		Expect(errEnum).To(Equal(vmpb.Error_ERROR_NOT_FOUND), "GetBlock of unknown id %s answered err=%s", unknown, errEnum)
	})

	c.s.it("AVA-BLK-008", func(ctx SpecContext) {
		c.mustInitialized(ctx)
		h := c.lastAccepted().Height + 1000
		_, errEnum, err := c.t.idAtHeight(ctx, h)
		expectOK(err, "GetBlockIDAtHeight above the last accepted height MUST answer ERROR_NOT_FOUND in the reply, not a gRPC error")
		Expect(errEnum).To(Equal(vmpb.Error_ERROR_NOT_FOUND), "GetBlockIDAtHeight(%d) answered err=%s", h, errEnum)
	})

	c.s.it("AVA-BLK-013", func(ctx SpecContext) {
		c.mustInitialized(ctx)
		_, err := c.t.parseBlock(ctx, []byte("vmtestbed: these bytes are not a block"))
		Expect(err).To(HaveOccurred(), "ParseBlock accepted bytes that are not a block")
		_, _, err = c.t.idAtHeight(ctx, 0)
		expectOK(err, "the plugin stopped serving after ParseBlock of garbage")
	})

	c.s.it("AVA-BLK-009", func(ctx SpecContext) {
		c.s.needs("AVA-BLK-006", "AVA-BLK-011")
		c.needBlocks(ctx)
		first, second := c.mustBuilt(), c.blk.child
		if second.Bytes == nil {
			Fail("no second block: building it failed earlier (see " + spec("AVA-BLK-011").ID + ")")
		}
		expectOK(c.t.setPreference(ctx, second.ID), "SetPreference(%s) before accepting it", second.ID)
		expectOK(c.t.accept(ctx, second.ID), "BlockAccept of %s, the verified child of the last accepted block", second)
		c.blk.chain = append(c.blk.chain, second)
		got := c.ancestors(ctx, second.ID, 2)
		Expect(got).To(HaveLen(2), "GetAncestors(%s, max 2) returned %d blocks", second.ID, len(got))
		Expect(bytes.Equal(got[0], second.Bytes)).To(BeTrue(), "GetAncestors MUST start with the requested block's own bytes")
		Expect(bytes.Equal(got[1], first.Bytes)).To(BeTrue(), "GetAncestors' second entry MUST be the parent %s", first.ID)
		all := c.ancestors(ctx, second.ID, 100)
		Expect(len(all)).To(BeNumerically("<=", int(second.Height)+1), "GetAncestors returned %d blocks for a block at height %d", len(all), second.Height)
	})
}

// ancestors calls GetAncestors with a generous size and time limit.
func (c *chain) ancestors(ctx context.Context, id ids.ID, max int32) [][]byte {
	var resp *vmpb.GetAncestorsResponse
	expectOK(c.t.doCall(ctx, fmt.Sprintf("GetAncestors(%s, %d)", id, max), func(ctx context.Context) (err error) {
		resp, err = c.t.vm.GetAncestors(ctx, &vmpb.GetAncestorsRequest{
			BlkId: id[:], MaxBlocksNum: max, MaxBlocksSize: 2 << 20, MaxBlocksRetrivalTime: int64(c.t.cfg.CallTimeout),
		})
		return err
	}), "peers fetch ancestors while bootstrapping")
	Expect(len(resp.GetBlksBytes())).To(BeNumerically("<=", max), "GetAncestors returned %d blocks, more than max_blocks_num %d", len(resp.GetBlksBytes()), max)
	return resp.GetBlksBytes()
}
