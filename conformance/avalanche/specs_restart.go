package avalanche

import (
	"context"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	. "github.com/onsi/ginkgo/v2" //nolint:revive // ginkgo DSL
	. "github.com/onsi/gomega"    //nolint:revive // gomega DSL
)

// restartSpecs: the first instance, stopped by AVA-SHD-001, relaunched on
// its database as after a node restart: a new process and a new node, the
// chain's files kept.
func (c *chain) restartSpecs() {
	c.s.it("AVA-RST-001", func(ctx SpecContext) {
		r := c.mustRestarted()
		last := c.lastAccepted()
		resp, err := r.initialize(ctx)
		expectOK(err, "Initialize of the plugin relaunched on its database failed")
		Expect(r.genesis.ID).To(Equal(last.ID), "relaunched on its database, the VM reports last accepted %s at height %d; before the restart it had accepted %s at height %d", r.genesis.ID, r.genesis.Height, last.ID, last.Height)
		Expect(r.genesis.Height).To(Equal(last.Height), "relaunched, the VM reports height %d for last accepted %s, want %d", r.genesis.Height, last.ID, last.Height)
		Expect(resp.GetBytes()).To(Equal(last.Bytes), "relaunched, Initialize reports other bytes for last accepted %s", last.ID)
	})

	c.s.it("AVA-RST-002", func(ctx SpecContext) {
		r := c.mustRestartedInitialized()
		for _, blk := range append([]Block{c.t.genesis}, c.blk.chain...) {
			id, errEnum, err := r.idAtHeight(ctx, blk.Height)
			expectOK(err, "GetBlockIDAtHeight(%d) after the restart", blk.Height)
			Expect(errEnum).To(Equal(vmpb.Error_ERROR_UNSPECIFIED), "after the restart GetBlockIDAtHeight(%d) answered %s; %s was accepted there before it", blk.Height, errEnum, blk.ID)
			Expect(id).To(Equal(blk.ID), "after the restart height %d holds %s; before it, %s", blk.Height, id, blk.ID)
			got, errEnum, err := r.getBlock(ctx, blk.ID)
			expectOK(err, "GetBlock(%s) after the restart", blk.ID)
			Expect(errEnum).To(Equal(vmpb.Error_ERROR_UNSPECIFIED), "after the restart GetBlock of the accepted %s answered %s", blk.ID, errEnum)
			Expect(got.Bytes).To(Equal(blk.Bytes), "after the restart GetBlock(%s) returns other bytes", blk.ID)
		}
	})

	c.s.it("AVA-RST-003", func(ctx SpecContext) {
		r := c.mustRestartedInitialized()
		if _, _, err := r.workload(ctx); err == errNoWorkload {
			Skip(err.Error())
		}
		last := c.lastAccepted()
		_, err := r.setState(ctx, vmpb.State_STATE_BOOTSTRAPPING)
		expectOK(err, "SetState(Bootstrapping) after the restart")
		_, err = r.normalOp(ctx, last.ID)
		expectOK(err, "SetPreference(%s) and SetState(NormalOp) after the restart", last.ID)
		blk, err := r.newBlock(ctx)
		expectOK(err, "building the first block after the restart")
		Expect(blk.ParentID).To(Equal(last.ID), "the first block after the restart builds on %s; the last accepted block is %s", blk.ParentID, last.ID)
		Expect(blk.Height).To(Equal(last.Height+1), "the first block after the restart is at height %d, want %d", blk.Height, last.Height+1)
		expectOK(r.verify(ctx, blk.Bytes, nil), "BlockVerify of %s, the first block after the restart", blk)
		expectOK(r.setPreference(ctx, blk.ID), "SetPreference(%s)", blk.ID)
		expectOK(r.accept(ctx, blk.ID), "BlockAccept of %s, the first block after the restart", blk)
		id, errEnum, err := r.idAtHeight(ctx, blk.Height)
		expectOK(err, "GetBlockIDAtHeight(%d)", blk.Height)
		Expect(errEnum).To(Equal(vmpb.Error_ERROR_UNSPECIFIED))
		Expect(id).To(Equal(blk.ID), "after accepting %s, height %d holds %s", blk.ID, blk.Height, id)
	})
}

// mustRestarted relaunches the first instance on its database, once.
func (c *chain) mustRestarted() *target {
	c.s.needs("AVA-SHD-001")
	if c.restarted != nil {
		return c.restarted
	}
	select {
	case <-c.t.plugin.Exited():
	default:
		Fail("the first instance is still running: AVA-SHD-001 did not stop it, so it cannot be restarted")
	}
	r, err := c.s.relaunch(context.Background(), c.t)
	expectOK(err, "relaunching the plugin on its database failed")
	c.restarted = r // closed with the container (chainSpecs)
	return r
}

// mustRestartedInitialized is the restarted instance after AVA-RST-001.
func (c *chain) mustRestartedInitialized() *target {
	c.s.needs("AVA-RST-001")
	r := c.mustRestarted()
	if r.genesis.Bytes == nil {
		Fail("the relaunched plugin did not initialize (see AVA-RST-001)")
	}
	return r
}
