package avalanche

import (
	"context"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // ginkgo DSL
	. "github.com/onsi/gomega"    //nolint:revive // gomega DSL

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
)

// handshakeSpecs: the runtime handshake and the pre-init cycle AvalancheGo
// runs once per plugin at node start (Version, Shutdown, no Initialize).
func (s *suite) handshakeSpecs() {
	Describe("handshake and pre-init", Ordered, ContinueOnFailure, func() {
		var t *target
		BeforeAll(func() { t = s.mustLaunch() })

		it("AVA-HSK-001", func(ctx SpecContext) {
			got, ours := t.plugin.Protocol, t.cfg.Protocol
			Expect(got == ours || avalanchego.SameWire(got, ours)).To(BeTrue(),
				"the plugin announced protocol %d; the node speaks %d and accepts only that protocol or an identical wire", got, ours)
		})

		it("AVA-HSK-002", func(ctx SpecContext) {
			Expect(t.plugin.Addr).NotTo(BeEmpty(), "the handshake announced no VM server address")
			_, err := t.version(ctx)
			Expect(err).NotTo(HaveOccurred(), "the node dialled the announced address %s and called vm.VM/Version", t.plugin.Addr)
		})

		it("AVA-PRE-002", func(ctx SpecContext) {
			v, err := t.version(ctx)
			Expect(err).NotTo(HaveOccurred(), "AvalancheGo calls Version before Initialize at node start")
			Expect(v).NotTo(BeEmpty(), "Version answered an empty string before Initialize")
		})

		it("AVA-PRE-001", func(ctx SpecContext) {
			expectCleanExit(ctx, t, "in the pre-init cycle (no Initialize)")
		})
	})
}

// expectCleanExit sends Shutdown, then stops the plugin as AvalancheGo does
// (SIGTERM, grace period, SIGKILL) and checks that the plugin ended by itself.
func expectCleanExit(ctx context.Context, t *target, when string) {
	err := t.shutdown(ctx)
	Expect(err).NotTo(HaveOccurred(), "Shutdown %s did not return within %s; AvalancheGo then sends SIGTERM and, after its grace period, SIGKILL", when, t.cfg.CallTimeout)
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.stopBound())
	defer cancel()
	start := time.Now()
	stopErr := t.plugin.Stop(stopCtx)
	select {
	case <-t.plugin.Exited():
	default:
		Fail("the plugin was still running " + time.Since(start).String() + " after Shutdown, SIGTERM and SIGKILL")
	}
	status := t.plugin.ExitStatus()
	Expect(status).NotTo(ContainSubstring("killed"),
		"after Shutdown %s the plugin had to be killed (%s): it MUST exit after Shutdown and SIGTERM within the grace period %s", when, status, t.cfg.ShutdownTimeout)
	if stopErr != nil && strings.Contains(stopErr.Error(), "did not return") {
		Fail("after Shutdown " + when + " the in-process plugin did not return: " + stopErr.Error())
	}
}
