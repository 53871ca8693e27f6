package avalanche

import (
	"context"
	"errors"
	"strings"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // ginkgo DSL
	. "github.com/onsi/gomega"    //nolint:revive // gomega DSL

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
)

// handshakeSpecs: the runtime handshake and the pre-init cycle AvalancheGo
// runs once per plugin at node start (Version, Shutdown, no Initialize).
func (s *suite) handshakeSpecs() {
	Describe("handshake and pre-init", Ordered, func() {
		var t *target
		BeforeAll(func() { t = s.launchForHandshake() })

		s.it("AVA-HSK-001", func(ctx SpecContext) {
			if err := s.protocolError(); err != nil {
				Fail(err.Error())
			}
			got, ours := t.plugin.Protocol, t.cfg.Protocol
			if got != ours && !(t.cfg.SameWire && avalanchego.SameWire(got, ours)) {
				Fail(avalanchego.MismatchMessage(got, ours))
			}
		})

		s.it("AVA-PRE-002", func(ctx SpecContext) {
			t.mustRun()
			v, err := t.version(ctx)
			expectOK(err, "AvalancheGo calls Version before Initialize at node start")
			Expect(v).NotTo(BeEmpty(), "Version answered an empty string before Initialize")
		})

		s.it("AVA-PRE-001", func(ctx SpecContext) {
			t.mustRun()
			expectCleanExit(ctx, t, "in the pre-init cycle (no Initialize)")
		})
	})
}

// launchForHandshake launches the plugin for the handshake specs. A plugin
// of another protocol is [AVA-HSK-001]'s verdict, not a launch failure: it
// returns a nil target then, and the specs that need one skip.
func (s *suite) launchForHandshake() *target {
	t, err := s.launch(context.Background())
	var le *avalanchego.LaunchError
	if errors.As(err, &le) && le.Phase == avalanchego.PhaseProtocol {
		s.setProtocolError(le)
		return nil
	}
	t = s.launched(t, err)
	deferClose(t)
	return t
}

// mustRun skips a spec when the handshake failed ([AVA-HSK-001]).
func (t *target) mustRun() {
	if t == nil {
		Skip("no plugin to check: it speaks another protocol (see " + spec("AVA-HSK-001").ID + ")")
	}
}

// setProtocolError records a handshake refused for its protocol.
func (s *suite) setProtocolError(le *avalanchego.LaunchError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.protocolErr == nil {
		s.protocolErr = errors.New(spec("AVA-HSK-001").Title() + ": the node refused the plugin's handshake, as AvalancheGo does.\n" + le.Error())
	}
}

// protocolError is the recorded [AVA-HSK-001] failure, if any.
func (s *suite) protocolError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.protocolErr
}

// expectCleanExit sends Shutdown, then ends the plugin as AvalancheGo does
// (SIGTERM, grace period, SIGKILL) and checks that the plugin ended by itself.
func expectCleanExit(ctx context.Context, t *target, when string) {
	err := t.shutdown(ctx)
	expectOK(err, "Shutdown %s did not return; AvalancheGo waits for it, then sends SIGTERM and, after its grace period, SIGKILL", when)
	t.node.StopServices() // as AvalancheGo, right after Shutdown returned
	stopErr := t.terminate()
	select {
	case <-t.plugin.Exited():
	default:
		Fail("the plugin was still running after Shutdown, SIGTERM and SIGKILL")
	}
	status := t.plugin.ExitStatus()
	Expect(status).NotTo(ContainSubstring("killed"),
		"after Shutdown %s the plugin had to be killed (%s): it MUST exit after Shutdown and SIGTERM within the grace period %s", when, status, t.cfg.GracePeriod)
	if stopErr != nil && strings.Contains(stopErr.Error(), "did not return") {
		Fail("after Shutdown " + when + " the in-process plugin did not return: " + stopErr.Error())
	}
}
