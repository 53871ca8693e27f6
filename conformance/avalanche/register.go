package avalanche

import (
	"context"
	"errors"
	"fmt"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // ginkgo DSL

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
)

// Register adds the suite's specs for cfg to the caller's ginkgo suite.
// It keeps no package-global state: call it once per target.
func Register(cfg *Config) { newSuite(*cfg).register() }

// register declares the containers. Each launches its own plugin and node.
// They run in this order (ginkgo would shuffle top-level containers): the
// handshake first, since a plugin of another protocol ends the run there.
func (s *suite) register() {
	Describe("Avalanche chain VM plugin", Ordered, ContinueOnFailure, func() {
		s.handshakeSpecs()
		s.chainSpecs()
		s.shutdownSpecs()
		s.sequenceSpecs()
		if s.cfg.Nodes >= 2 {
			s.networkSpecs()
		}
	})
}

// it declares one spec by ID and records, when it runs, that it did.
func (s *suite) it(id string, body func(ctx SpecContext)) {
	It(spec(id).Title(), func(ctx SpecContext) {
		s.mu.Lock()
		s.ran[id] = true
		s.mu.Unlock()
		body(ctx)
	})
}

// needs skips the current spec when a spec it builds on did not run in
// this process (--focus left it out): its state is not there to check.
// A spec that ran and failed is the caller's business.
func (s *suite) needs(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if !s.ran[id] {
			Skip(fmt.Sprintf("this spec builds on %s, which did not run (focus it too, or its whole container)", id))
		}
	}
}

// mustLaunch launches a plugin for the current node and stops it when the
// node (BeforeAll: the container, It: the spec) is done. A plugin that does
// not come up aborts the whole suite: nothing else can be checked. A plugin
// of another protocol is [AVA-HSK-001]'s failure: the specs skip.
func (s *suite) mustLaunch() *target {
	t := s.mustLaunchOwned()
	deferClose(t)
	return t
}

// mustLaunchOwned is mustLaunch for a caller that closes the target itself.
func (s *suite) mustLaunchOwned() *target {
	if s.protocolError() != nil {
		Skip("no plugin to check: it speaks another protocol (see " + spec("AVA-HSK-001").ID + ")")
	}
	t, err := s.launch(context.Background())
	var le *avalanchego.LaunchError
	if errors.As(err, &le) && le.Phase == avalanchego.PhaseProtocol {
		s.setProtocolError(le)
		Fail(s.protocolError().Error()) // [AVA-HSK-001] did not run (--focus)
	}
	return s.launched(t, err)
}

// launched turns launch's outcome into a target, or aborts the suite.
func (s *suite) launched(t *target, err error) *target {
	var le *avalanchego.LaunchError
	if errors.As(err, &le) {
		s.recordLaunchErr(err)
		AbortSuite(fmt.Sprintf("%s: the plugin did not come up, so nothing else can be checked.\n%v", spec("AVA-HSK-001").Title(), err))
	}
	expectOK(err, "setting up the plugin and the fake node failed")
	return t
}

// deferClose stops t when the current ginkgo node is done. A plugin that
// stops badly is the business of the shutdown specs, so it is only logged.
func deferClose(t *target) {
	DeferCleanup(func() {
		if err := t.close(); err != nil {
			fmt.Fprintf(GinkgoWriter, "cleanup: %v\n", err)
		}
	})
}
