package avalanche

import (
	"context"
	"encoding/json"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	. "github.com/onsi/ginkgo/v2" //nolint:revive // ginkgo DSL
	. "github.com/onsi/gomega"    //nolint:revive // gomega DSL
	"google.golang.org/protobuf/types/known/emptypb"
)

// initSpecs: Initialize, genesis and the first state transitions, in the
// order AvalancheGo makes them: Initialize, CreateHandlers, NewHTTPHandler,
// StateSyncEnabled, SetState(Bootstrapping), then GetBlockIDAtHeight(0),
// Health and Connected while bootstrapping, then SetPreference(last
// accepted) and SetState(NormalOp).
func (c *chain) initSpecs() {
	c.s.it("AVA-INI-001", func(ctx SpecContext) {
		c.initTried = true
		resp, err := c.t.initialize(ctx)
		expectOK(err, "Initialize with the node's complete request (32-byte ids, 20-byte node id, BLS key, every upgrade time) failed")
		Expect(resp.GetBytes()).NotTo(BeEmpty(), "Initialize reported last accepted %x without its bytes", resp.GetLastAcceptedId())
	})

	c.s.it("AVA-INI-002", func(ctx SpecContext) {
		c.mustInitialized(ctx)
		Expect(c.t.genesis.Height).To(BeZero(), "a fresh chain reported last accepted %s at height %d, want genesis at 0", c.t.genesis.ID, c.t.genesis.Height)
	})

	c.httpSpecs()
	c.stateSyncSpec()

	c.s.it("AVA-STA-001", func(ctx SpecContext) {
		c.mustInitialized(ctx)
		got, err := c.t.setState(ctx, vmpb.State_STATE_BOOTSTRAPPING)
		expectOK(err, "SetState(Bootstrapping) right after Initialize failed")
		Expect(got.ID).To(Equal(c.t.genesis.ID), "SetState(Bootstrapping) reported last accepted %s, Initialize %s", got.ID, c.t.genesis.ID)
		Expect(got.Height).To(Equal(c.t.genesis.Height))
	})

	c.s.it("AVA-INI-005", func(ctx SpecContext) {
		c.mustInitialized(ctx)
		id, errEnum, err := c.t.idAtHeight(ctx, 0)
		expectOK(err, "AvalancheGo calls GetBlockIDAtHeight(0) for every GetAccepted query, from bootstrapping on")
		Expect(errEnum).To(Equal(vmpb.Error_ERROR_UNSPECIFIED), "GetBlockIDAtHeight(0) answered %s", errEnum)
		Expect(id).To(Equal(c.t.genesis.ID), "GetBlockIDAtHeight(0) = %s, genesis is %s", id, c.t.genesis.ID)
	})

	c.s.it("AVA-HLT-001", func(ctx SpecContext) {
		c.mustInitialized(ctx)
		c.t.health(ctx, "while bootstrapping")
	})

	c.peerSpec()

	c.s.it("AVA-INI-003", func(ctx SpecContext) {
		c.mustInitialized(ctx)
		g := c.t.genesis
		parsed, err := c.t.parseBlock(ctx, g.Bytes)
		expectOK(err, "ParseBlock of the %d genesis bytes Initialize returned failed", len(g.Bytes))
		Expect(parsed.ID).To(Equal(g.ID), "Initialize reported last accepted %s, but ParseBlock of its bytes gives %s: the node would not recognise its own genesis", g.ID, parsed.ID)
		Expect(parsed.Height).To(Equal(g.Height), "ParseBlock of genesis bytes gives height %d, Initialize said %d", parsed.Height, g.Height)
	})

	c.s.it("AVA-INI-004", func(ctx SpecContext) {
		c.mustInitialized(ctx)
		g := c.t.genesis
		got, errEnum, err := c.t.getBlock(ctx, g.ID)
		expectOK(err, "GetBlock of the last accepted id failed")
		Expect(errEnum).To(Equal(vmpb.Error_ERROR_UNSPECIFIED), "GetBlock of the last accepted id %s Initialize reported answered %s", g.ID, errEnum)
		Expect(got.Bytes).To(Equal(g.Bytes), "GetBlock(%s) bytes differ from Initialize's", g.ID)
		Expect(got.ParentID).To(Equal(g.ParentID), "GetBlock(%s) parent differs from Initialize's", g.ID)
		Expect(got.Height).To(Equal(g.Height), "GetBlock(%s) height differs from Initialize's", g.ID)
	})

	c.s.it("AVA-STA-002", func(ctx SpecContext) {
		c.mustInitialized(ctx)
		got, err := c.t.normalOp(ctx, c.t.genesis.ID)
		expectOK(err, "SetPreference(last accepted) then SetState(NormalOp), as AvalancheGo ends bootstrapping, failed")
		Expect(got.ID).To(Equal(c.t.genesis.ID), "SetState(NormalOp) reported last accepted %s, want %s", got.ID, c.t.genesis.ID)
	})
}

// health calls Health and checks its details are JSON.
func (t *target) health(ctx context.Context, when string) {
	var resp *vmpb.HealthResponse
	err := t.doCall(ctx, "Health", func(cctx context.Context) (err error) {
		resp, err = t.vm.Health(cctx, &emptypb.Empty{})
		return err
	})
	expectOK(err, "Health %s failed; AvalancheGo calls it every health-check period from bootstrapping on", when)
	d := resp.GetDetails()
	Expect(d).NotTo(BeEmpty(), "Health %s answered without details; AvalancheGo's rpcchainvm server always sends them as JSON", when)
	Expect(json.Valid(d)).To(BeTrue(), "Health details %s are not JSON: %q", when, d)
}
