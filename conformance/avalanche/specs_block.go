package avalanche

import (
	"bytes"
	"context"
	"fmt"

	"github.com/ava-labs/avalanchego/ids"
	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	. "github.com/onsi/ginkgo/v2" //nolint:revive // ginkgo DSL
	. "github.com/onsi/gomega"    //nolint:revive // gomega DSL
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// blockState is what the block specs hand to each other, in order.
type blockState struct {
	wanted bool    // BLK-001 left a transaction pending
	built  Block   // the block BLK-002 built
	chain  []Block // accepted blocks after genesis, oldest first
}

// mustBuilt is the block BLK-002 built; without it the spec cannot run.
func (c *chain) mustBuilt() Block {
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

// blockSpecs: build, parse, verify and accept, as the builder node does.
func (c *chain) blockSpecs() {
	it("AVA-BLK-001", func(ctx SpecContext) {
		c.needBlocks(ctx)
		Expect(c.t.wantBlock(ctx)).To(Succeed(), "the VM MUST signal MESSAGE_BUILD_BLOCK while it has transactions to include")
		c.blk.wanted = true
	})

	it("AVA-BLK-002", func(ctx SpecContext) {
		c.needBlocks(ctx)
		if !c.blk.wanted {
			Expect(c.t.wantBlock(ctx)).To(Succeed())
		}
		pref := c.lastAccepted()
		blk, err := c.t.buildBlock(ctx, nil)
		Expect(err).NotTo(HaveOccurred(), func() string {
			return fmt.Sprintf("BuildBlock after MESSAGE_BUILD_BLOCK failed; plugin exit status %q, last output:\n%s", c.t.settledExitStatus(), c.t.plugin.StderrTail())
		})
		c.blk.built = blk
		Expect(blk.ParentID).To(Equal(pref.ID), "BuildBlock built on %s; the preferred block is %s", blk.ParentID, pref.ID)
		Expect(blk.Height).To(Equal(pref.Height+1), "BuildBlock on a parent at height %d gave height %d", pref.Height, blk.Height)
	})

	it("AVA-BLK-003", func(ctx SpecContext) {
		blk := c.mustBuilt()
		for range c.t.cfg.Repeat {
			again, err := c.t.parseBlock(ctx, blk.Bytes)
			Expect(err).NotTo(HaveOccurred())
			Expect(again.ID).To(Equal(blk.ID), "ParseBlock of the same %d bytes gave %s, BuildBlock said %s", len(blk.Bytes), again.ID, blk.ID)
		}
	})

	it("AVA-BLK-004", func(ctx SpecContext) {
		blk := c.mustBuilt()
		parsed, err := c.t.parseBlock(ctx, blk.Bytes)
		Expect(err).NotTo(HaveOccurred())
		Expect(parsed.ID).To(Equal(blk.ID), "ParseBlock id differs from BuildBlock's")
		Expect(parsed.ParentID).To(Equal(blk.ParentID), "ParseBlock parent %s, BuildBlock %s", parsed.ParentID, blk.ParentID)
		Expect(parsed.Height).To(Equal(blk.Height), "ParseBlock height %d, BuildBlock %d", parsed.Height, blk.Height)
		Expect(parsed.Timestamp.Equal(blk.Timestamp)).To(BeTrue(), "ParseBlock timestamp %s, BuildBlock %s", parsed.Timestamp, blk.Timestamp)
	})

	it("AVA-BLK-005", func(ctx SpecContext) {
		blk := c.mustBuilt()
		for i := range c.t.cfg.Repeat {
			Expect(c.t.verify(ctx, blk.Bytes, nil)).To(Succeed(), "BlockVerify of the block the VM just built failed (attempt %d)", i+1)
		}
	})

	it("AVA-BLK-011", func(ctx SpecContext) {
		blk := c.mustBuilt()
		for i := range c.t.cfg.Repeat {
			Expect(c.t.setPreference(ctx, blk.ID)).To(Succeed(), "SetPreference(%s) failed on attempt %d; the node repeats it whenever its preference is re-confirmed", blk.ID, i+1)
		}
	})

	it("AVA-BLK-006", func(ctx SpecContext) {
		blk := c.mustBuilt()
		Expect(c.t.accept(ctx, blk.ID)).To(Succeed())
		c.blk.chain = append(c.blk.chain, blk)
		id, errEnum, err := c.t.idAtHeight(ctx, blk.Height)
		Expect(err).NotTo(HaveOccurred())
		Expect(errEnum).To(Equal(vmpb.Error_ERROR_UNSPECIFIED), "GetBlockIDAtHeight(%d) answered %s right after BlockAccept(%s)", blk.Height, errEnum, blk.ID)
		Expect(id).To(Equal(blk.ID), "after BlockAccept(%s) at height %d, GetBlockIDAtHeight(%d) = %s", blk.ID, blk.Height, blk.Height, id)
	})

	it("AVA-STA-003", func(ctx SpecContext) {
		last := c.lastAccepted()
		got, err := c.t.setState(ctx, vmpb.State_STATE_NORMAL_OP)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.ID).To(Equal(last.ID), "SetState reports last accepted %s (height %d); the node accepted %s (height %d)", got.ID, got.Height, last.ID, last.Height)
	})

	it("AVA-BLK-014", func(ctx SpecContext) {
		blk := c.mustBuilt()
		got, errEnum, err := c.t.getBlock(ctx, blk.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(errEnum).To(Equal(vmpb.Error_ERROR_UNSPECIFIED), "GetBlock of accepted %s answered %s", blk.ID, errEnum)
		Expect(got.Bytes).To(Equal(blk.Bytes), "GetBlock(%s) bytes differ from the built block's", blk.ID)
		Expect(got.Height).To(Equal(blk.Height))
	})

	it("AVA-BLK-007", func(ctx SpecContext) {
		unknown := ids.ID{0xde, 0xad, 0xbe, 0xef, 0x76, 0x6d}
		_, errEnum, err := c.t.getBlock(ctx, unknown)
		if st, ok := status.FromError(err); err != nil && ok {
			Fail("GetBlock of unknown id " + unknown.String() + " failed with gRPC " + st.Code().String() + " (" + st.Message() + "); the contract answers ERROR_NOT_FOUND inside GetBlockResponse.err, and AvalancheGo treats a gRPC error as fatal")
		}
		Expect(err).NotTo(HaveOccurred())
		Expect(errEnum).To(Equal(vmpb.Error_ERROR_NOT_FOUND), "GetBlock of unknown id %s answered err=%s", unknown, errEnum)
	})

	it("AVA-BLK-008", func(ctx SpecContext) {
		h := c.lastAccepted().Height + 1000
		_, errEnum, err := c.t.idAtHeight(ctx, h)
		Expect(err).NotTo(HaveOccurred(), "GetBlockIDAtHeight above the last accepted height MUST answer ERROR_NOT_FOUND in the reply, not a gRPC error")
		Expect(errEnum).To(Equal(vmpb.Error_ERROR_NOT_FOUND), "GetBlockIDAtHeight(%d) answered err=%s", h, errEnum)
	})

	it("AVA-BLK-013", func(ctx SpecContext) {
		_, err := c.t.parseBlock(ctx, []byte("vmtestbed: these bytes are not a block"))
		Expect(err).To(HaveOccurred(), "ParseBlock accepted bytes that are not a block")
		_, err = c.t.version(ctx)
		Expect(err).NotTo(HaveOccurred(), func() string {
			return fmt.Sprintf("the plugin stopped serving after ParseBlock of garbage (exit status %q)", c.t.settledExitStatus())
		})
	})

	it("AVA-BLK-009", func(ctx SpecContext) {
		c.needBlocks(ctx)
		first := c.mustBuilt()
		second, err := c.t.acceptNew(ctx)
		Expect(err).NotTo(HaveOccurred(), "building and accepting a second block failed")
		c.blk.chain = append(c.blk.chain, second)
		got := c.ancestors(ctx, second.ID, 2)
		Expect(got).To(HaveLen(2), "GetAncestors(%s, max 2) returned %d blocks", second.ID, len(got))
		Expect(bytes.Equal(got[0], second.Bytes)).To(BeTrue(), "GetAncestors MUST start with the requested block's own bytes")
		Expect(bytes.Equal(got[1], first.Bytes)).To(BeTrue(), "GetAncestors' second entry MUST be the parent %s", first.ID)
		all := c.ancestors(ctx, second.ID, 100)
		Expect(len(all)).To(BeNumerically("<=", int(second.Height)+1), "GetAncestors returned %d blocks for a block at height %d", len(all), second.Height)
	})

	it("AVA-BLK-010", func(ctx SpecContext) {
		raws := [][]byte{c.lastAccepted().Bytes, c.mustBuilt().Bytes, c.t.genesis.Bytes}
		cctx, cancel := c.t.call(ctx)
		defer cancel()
		resp, err := c.t.vm.BatchedParseBlock(cctx, &vmpb.BatchedParseBlockRequest{Request: raws})
		if status.Code(err) == codes.Unimplemented {
			Skip("BatchedParseBlock is not implemented by this VM")
		}
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.GetResponse()).To(HaveLen(len(raws)), "BatchedParseBlock of %d blocks answered %d", len(raws), len(resp.GetResponse()))
		for i, raw := range raws {
			one, err := c.t.parseBlock(ctx, raw)
			Expect(err).NotTo(HaveOccurred())
			Expect(resp.GetResponse()[i].GetId()).To(Equal(one.ID[:]), "BatchedParseBlock entry %d has id %x, ParseBlock says %s", i, resp.GetResponse()[i].GetId(), one.ID)
			Expect(resp.GetResponse()[i].GetHeight()).To(Equal(one.Height), "BatchedParseBlock entry %d height differs from ParseBlock's", i)
		}
	})

	it("AVA-BLK-012", func(ctx SpecContext) {
		c.needBlocks(ctx)
		Expect(c.blk.chain).To(HaveLen(2), "two accepted blocks are needed (see AVA-BLK-006, AVA-BLK-009)")
		child := c.blk.chain[1]
		// A fresh plugin on the same genesis has never seen child's parent.
		fresh, err := c.s.launch(context.Background())
		Expect(err).NotTo(HaveOccurred(), "launching a second plugin failed")
		deferClose(fresh)
		Expect(fresh.start(ctx)).To(Succeed())
		Expect(fresh.genesis.ID).To(Equal(c.t.genesis.ID), "two plugins on the same genesis disagree on its id")
		if _, err := fresh.parseBlock(ctx, child.Bytes); err != nil {
			return // refusing to parse an orphan is also safe
		}
		err = fresh.verify(ctx, child.Bytes, nil)
		Expect(err).To(HaveOccurred(), "BlockVerify succeeded for %s whose parent %s the VM has never seen; a VM MUST NOT verify a block it cannot check against its parent", child, child.ParentID)
	})
}

// ancestors calls GetAncestors with a generous size and time limit.
func (c *chain) ancestors(ctx context.Context, id ids.ID, max int32) [][]byte {
	cctx, cancel := c.t.call(ctx)
	defer cancel()
	resp, err := c.t.vm.GetAncestors(cctx, &vmpb.GetAncestorsRequest{
		BlkId: id[:], MaxBlocksNum: max, MaxBlocksSize: 2 << 20, MaxBlocksRetrivalTime: int64(c.t.cfg.CallTimeout),
	})
	Expect(err).NotTo(HaveOccurred(), "GetAncestors(%s, %d)", id, max)
	Expect(len(resp.GetBlksBytes())).To(BeNumerically("<=", max), "GetAncestors returned %d blocks, more than max_blocks_num %d", len(resp.GetBlksBytes()), max)
	return resp.GetBlksBytes()
}
