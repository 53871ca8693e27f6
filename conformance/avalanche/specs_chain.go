package avalanche

import (
	"github.com/ava-labs/avalanchego/ids"
	. "github.com/onsi/ginkgo/v2" //nolint:revive // ginkgo DSL
	. "github.com/onsi/gomega"    //nolint:revive // gomega DSL
)

// chain is the state the chain specs share: one plugin, initialized once,
// taken through AvalancheGo's life of a chain in order.
type chain struct {
	s   *suite
	t   *target
	blk blockState
}

// mustInitialized fails the spec when Initialize failed earlier.
func (c *chain) mustInitialized() {
	if c.t.genesis.ID == (ids.ID{}) {
		Fail("Initialize did not succeed earlier (see " + spec("AVA-INI-001").ID + "), so there is no last accepted block to check")
	}
}

// needBlocks skips the spec when the suite cannot make the VM build blocks.
func (c *chain) needBlocks(ctx SpecContext) {
	if _, _, err := c.t.workload(ctx); err == errNoWorkload {
		Skip(err.Error())
	}
}

// chainSpecs: one plugin taken from Initialize through block building,
// conflicts, app messages and Shutdown.
func (s *suite) chainSpecs() {
	Describe("life of a chain", Ordered, ContinueOnFailure, func() {
		c := &chain{s: s}
		BeforeAll(func() { c.t = s.mustLaunch() })

		c.initSpecs()
		c.httpSpecs()
		c.nodeSpecs()
		c.blockSpecs()
		c.conflictSpecs()
		c.contextSpecs()

		it("AVA-SHD-001", func(ctx SpecContext) {
			Expect(c.t.genesis.Bytes).NotTo(BeNil(), "Initialize did not succeed earlier; Shutdown is checked after Initialize")
			expectCleanExit(ctx, c.t, "after Initialize")
		})
	})
}
