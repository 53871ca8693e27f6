package avalanche

import (
	"context"
	"sync"

	"github.com/ava-labs/avalanchego/ids"
	. "github.com/onsi/ginkgo/v2" //nolint:revive // ginkgo DSL
	. "github.com/onsi/gomega"    //nolint:revive // gomega DSL
)

// chain is the state the chain specs share: one plugin, initialized once,
// taken through AvalancheGo's life of a chain in order, then a second
// instance that syncs its blocks, then a restart on the same database.
type chain struct {
	s   *suite
	t   *target
	blk blockState

	initTried bool    // Initialize was sent (by AVA-INI-001, or by the first spec needing it)
	b         *second // the second instance (AVA-BLK-012, AVA-BLK-010, AVA-DET-*)

	restarted *target // the first instance relaunched on its database (AVA-RST-*)

	asksNothing bool // a newly connected peer got no AppRequest (AVA-APP-004/005 skip)
}

// mustInitialized fails the spec when Initialize failed earlier. When
// AVA-INI-001 did not run (--focus), it initializes the VM first.
func (c *chain) mustInitialized(ctx context.Context) {
	if !c.initTried {
		c.initTried = true
		_, err := c.t.initialize(ctx)
		expectOK(err, "Initialize, needed by this spec, failed")
	}
	if c.t.genesis.ID == (ids.ID{}) {
		Fail("Initialize did not succeed earlier (see " + spec("AVA-INI-001").ID + "), so there is no last accepted block to check")
	}
}

// needBlocks skips the spec when the suite cannot make the VM build blocks.
func (c *chain) needBlocks(ctx SpecContext) {
	c.mustInitialized(ctx)
	if _, _, err := c.t.workload(ctx); err == errNoWorkload {
		Skip(err.Error())
	}
}

// chainSpecs: one plugin taken from Initialize through block building,
// conflicts, app messages and Shutdown; a second instance fed its blocks;
// the first relaunched on its database.
func (s *suite) chainSpecs() {
	Describe("life of a chain", Ordered, func() {
		c := &chain{s: s}
		BeforeAll(func() { c.t = s.mustLaunchOwned() })
		AfterAll(func() {
			// A node stops its chains together: the first instance (stopped
			// already unless AVA-SHD-001 failed), the second and the
			// restarted one stop at once.
			var others []*target
			if c.t != nil {
				others = append(others, c.t)
			}
			if c.b != nil && c.b.t != nil {
				others = append(others, c.b.t)
			}
			if c.restarted != nil {
				others = append(others, c.restarted)
			}
			closeAll(others)
		})

		c.initSpecs()
		c.nodeSpecs()
		c.blockSpecs()
		c.conflictSpecs()
		c.contextSpecs()
		c.determinismSpecs()

		s.it("AVA-SHD-001", func(ctx SpecContext) {
			Expect(c.t.genesis.Bytes).NotTo(BeNil(), "Initialize did not succeed earlier; Shutdown is checked after Initialize")
			expectCleanExit(ctx, c.t, "after Initialize")
		})

		c.restartSpecs()

	})
}

// closeAll stops targets concurrently and logs what went wrong.
func closeAll(targets []*target) {
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := t.close(); err != nil {
				GinkgoWriter.Printf("cleanup: %v\n", err)
			}
		}()
	}
	wg.Wait()
}
