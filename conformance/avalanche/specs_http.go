package avalanche

import (
	"fmt"
	"net/http"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // ginkgo DSL
	. "github.com/onsi/gomega"    //nolint:revive // gomega DSL

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
)

// httpSpecs: the HTTP handler servers a VM hands to the node.
func (c *chain) httpSpecs() {
	it("AVA-HTTP-001", func(ctx SpecContext) {
		handlers, err := c.t.createHandlers(ctx)
		Expect(err).NotTo(HaveOccurred())
		if len(handlers) == 0 {
			Skip("CreateHandlers returned no handlers: this VM serves no chain HTTP API")
		}
		seen := map[string]bool{}
		for _, h := range handlers {
			Expect(seen[h.GetPrefix()]).To(BeFalse(), "CreateHandlers returned prefix %q twice; the node mounts each under /ext/bc/<chain>%s", h.GetPrefix(), h.GetPrefix())
			seen[h.GetPrefix()] = true
			client, err := c.t.httpClient(h, "")
			Expect(err).NotTo(HaveOccurred(), "handler %q: the node could not reach server %q", h.GetPrefix(), h.GetServerAddr())
			status, _, _, err := client.Simple(ctx, http.MethodGet, "/", nil, nil)
			Expect(err).NotTo(HaveOccurred(), "handler %q at %s did not answer HTTP.HandleSimple", h.GetPrefix(), h.GetServerAddr())
			Expect(status).To(BeNumerically(">=", 100), "handler %q answered HTTP status %d", h.GetPrefix(), status)
		}
	})

	it("AVA-HTTP-002", func(ctx SpecContext) {
		if c.t.cfg.Protocol < avalanchego.FirstWaitForEventProtocol {
			Skip(fmt.Sprintf("protocol %d: NewHTTPHandler arrived in protocol %d", c.t.cfg.Protocol, avalanchego.FirstWaitForEventProtocol))
		}
		addr, err := c.t.newHTTPHandler(ctx)
		Expect(err).NotTo(HaveOccurred(), "NewHTTPHandler MAY return no server, but MUST NOT fail")
		if addr == "" {
			Skip("NewHTTPHandler returned no server")
		}
		client, err := c.t.httpClient(nil, addr)
		Expect(err).NotTo(HaveOccurred(), "the node could not reach the NewHTTPHandler server %q", addr)
		status, _, _, err := client.Simple(ctx, http.MethodGet, "/", nil, nil)
		Expect(err).NotTo(HaveOccurred(), "the NewHTTPHandler server at %s did not answer HTTP.HandleSimple", addr)
		Expect(status).To(BeNumerically(">=", 100))
	})
}
