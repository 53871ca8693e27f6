package avalanche

import (
	"context"
	"slices"

	"github.com/ava-labs/avalanchego/ids"
	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	. "github.com/onsi/ginkgo/v2" //nolint:revive // ginkgo DSL
	. "github.com/onsi/gomega"    //nolint:revive // gomega DSL
)

// second is a second plugin instance on the same genesis, bootstrapping
// from the first one's accepted blocks the way a new node does: it parses
// them (newest first, as GetAncestors hands them out, each bytes once),
// then verifies and accepts them in height order.
type second struct {
	t      *target
	parsed map[ids.ID]Block // by the first instance's id: what this one parsed
}

// mustSecond launches the second instance once and bootstraps it.
func (c *chain) mustSecond(ctx SpecContext) *second {
	c.s.needs("AVA-BLK-006", "AVA-BLK-009")
	c.needBlocks(ctx)
	if len(c.blk.chain) < 2 {
		Fail("two accepted blocks are needed, and building them failed earlier (see AVA-BLK-006, AVA-BLK-009)")
	}
	if c.b != nil {
		if c.b.t == nil {
			Fail("the second instance did not start (see AVA-BLK-012)")
		}
		return c.b
	}
	c.b = &second{parsed: map[ids.ID]Block{}}
	t, err := c.s.launch(context.Background())
	expectOK(err, "launching a second plugin on the same genesis failed")
	c.b.t = t // closed with the container (chainSpecs)
	expectOK(t.bootstrap(ctx), "a second instance on the same genesis did not start (Initialize, SetState(Bootstrapping))")
	return c.b
}

// parse parses blk's bytes on the second instance, once.
func (b *second) parse(ctx context.Context, blk Block) (Block, error) {
	if got, ok := b.parsed[blk.ID]; ok {
		return got, nil
	}
	got, err := b.t.parseBlock(ctx, blk.Bytes)
	if err == nil {
		b.parsed[blk.ID] = got
	}
	return got, err
}

// expectSameBlock fails unless got (parsed on another instance) describes want.
func expectSameBlock(got, want Block, how string) {
	Expect(got.ID).To(Equal(want.ID), "%s gives id %s; the first instance built %s", how, got.ID, want)
	Expect(got.ParentID).To(Equal(want.ParentID), "%s of %s gives parent %s, want %s", how, want.ID, got.ParentID, want.ParentID)
	Expect(got.Height).To(Equal(want.Height), "%s of %s gives height %d, want %d", how, want.ID, got.Height, want.Height)
	Expect(got.Timestamp.Equal(want.Timestamp)).To(BeTrue(), "%s of %s gives timestamp %s, want %s", how, want.ID, got.Timestamp, want.Timestamp)
}

// determinismSpecs: the first instance's accepted chain, fed to a second.
func (c *chain) determinismSpecs() {
	c.s.it("AVA-BLK-012", func(ctx SpecContext) {
		b := c.mustSecond(ctx)
		newest := c.lastAccepted()
		parsed, err := b.parse(ctx, newest)
		expectOK(err, "ParseBlock of %s, whose parent %s this instance has not seen, failed; a bootstrapping node parses the blocks GetAncestors returns newest first, before it has their parents", newest, newest.ParentID)
		Expect(parsed.ID).To(Equal(newest.ID), "ParseBlock of %s on a second instance gives id %s", newest, parsed.ID)
		err = b.t.verify(ctx, newest.Bytes, nil)
		Expect(err).To(HaveOccurred(), "BlockVerify succeeded for %s whose parent %s the VM has never seen; a VM MUST NOT verify a block it cannot check against its parent", newest, newest.ParentID)
	})

	c.s.it("AVA-BLK-010", func(ctx SpecContext) {
		b := c.mustSecond(ctx)
		var rest []Block // newest first, not yet parsed here
		for _, blk := range slices.Backward(c.blk.chain) {
			if _, ok := b.parsed[blk.ID]; !ok {
				rest = append(rest, blk)
			}
		}
		raws := make([][]byte, len(rest))
		for i, blk := range rest {
			raws[i] = blk.Bytes
		}
		got, unimplemented, err := b.t.batchedParse(ctx, raws)
		if unimplemented {
			Skip("BatchedParseBlock is not implemented by this VM (the node then parses one block at a time)")
		}
		expectOK(err, "BatchedParseBlock of %d blocks the first instance accepted", len(raws))
		for i, blk := range rest {
			b.parsed[blk.ID] = got[i]
			expectSameBlock(got[i], blk, "BatchedParseBlock")
		}
	})

	c.s.it("AVA-DET-001", func(ctx SpecContext) {
		b := c.mustSecond(ctx)
		Expect(b.t.genesis.ID).To(Equal(c.t.genesis.ID), "two instances on the same genesis bytes report last accepted %s and %s", b.t.genesis.ID, c.t.genesis.ID)
		for _, blk := range slices.Backward(c.blk.chain) {
			got, err := b.parse(ctx, blk)
			expectOK(err, "ParseBlock of %s on a second instance", blk)
			expectSameBlock(got, blk, "ParseBlock on a second instance")
		}
	})

	c.s.it("AVA-DET-002", func(ctx SpecContext) {
		b := c.mustSecond(ctx)
		for _, blk := range c.blk.chain {
			_, err := b.parse(ctx, blk)
			expectOK(err, "ParseBlock of %s on a second instance", blk)
			expectOK(b.t.verify(ctx, blk.Bytes, nil), "BlockVerify of %s, another node's block, once its parent is accepted here", blk)
			expectOK(b.t.accept(ctx, blk.ID), "BlockAccept of %s on the second instance", blk)
		}
		last := c.lastAccepted()
		got, err := b.t.normalOp(ctx, last.ID)
		expectOK(err, "SetPreference(last accepted) and SetState(NormalOp) after bootstrapping")
		Expect(got.ID).To(Equal(last.ID), "after accepting the same blocks, the second instance reports last accepted %s (height %d), the first %s (height %d)", got.ID, got.Height, last.ID, last.Height)
		for _, blk := range c.blk.chain {
			id, errEnum, err := b.t.idAtHeight(ctx, blk.Height)
			expectOK(err, "GetBlockIDAtHeight(%d) on the second instance", blk.Height)
			Expect(errEnum).To(Equal(vmpb.Error_ERROR_UNSPECIFIED), "the second instance answers GetBlockIDAtHeight(%d) with %s", blk.Height, errEnum)
			Expect(id).To(Equal(blk.ID), "height %d holds %s on the second instance, %s on the first", blk.Height, id, blk.ID)
		}
	})
}
