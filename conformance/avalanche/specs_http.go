package avalanche

import (
	"fmt"
	"net/http"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // ginkgo DSL
	. "github.com/onsi/gomega"    //nolint:revive // gomega DSL

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
)

// httpSpecs: the HTTP handler servers a VM hands to the node right after
// Initialize, reached the way AvalancheGo routes API requests to them.
func (c *chain) httpSpecs() {
	c.s.it("AVA-HTTP-001", func(ctx SpecContext) {
		c.mustInitialized(ctx)
		handlers, err := c.t.createHandlers(ctx)
		expectOK(err, "AvalancheGo calls CreateHandlers right after Initialize")
		if len(handlers) == 0 {
			Skip("CreateHandlers returned no handlers: this VM serves no chain HTTP API")
		}
		seen := map[string]bool{}
		for _, h := range handlers {
			Expect(seen[h.GetPrefix()]).To(BeFalse(), "CreateHandlers returned prefix %q twice; the node mounts each under /ext/bc/<chain>%s", h.GetPrefix(), h.GetPrefix())
			seen[h.GetPrefix()] = true
			client, err := c.t.httpClient(h, "")
			expectOK(err, "handler %q: the node could not reach server %q", h.GetPrefix(), h.GetServerAddr())
			cctx, cancel := c.t.call(ctx)
			status, _, _, err := client.Simple(cctx, http.MethodGet, "/", nil, nil)
			cancel()
			expectOK(err, "handler %q at %s did not answer HTTP.HandleSimple", h.GetPrefix(), h.GetServerAddr())
			expectStatus(status, fmt.Sprintf("handler %q", h.GetPrefix()))
		}
	})

	c.s.it("AVA-HTTP-002", func(ctx SpecContext) {
		c.mustInitialized(ctx)
		if c.t.cfg.Protocol < avalanchego.FirstWaitForEventProtocol {
			Skip(fmt.Sprintf("protocol %d: NewHTTPHandler arrived in protocol %d", c.t.cfg.Protocol, avalanchego.FirstWaitForEventProtocol))
		}
		addr, err := c.t.newHTTPHandler(ctx)
		expectOK(err, "NewHTTPHandler MAY return no server, but MUST NOT fail")
		if addr == "" {
			Skip("NewHTTPHandler returned no server")
		}
		client, err := c.t.httpClient(nil, addr)
		expectOK(err, "the node could not reach the NewHTTPHandler server %q", addr)
		cctx, cancel := c.t.call(ctx)
		defer cancel()
		status, _, _, err := client.Simple(cctx, http.MethodGet, "/", nil, nil)
		expectOK(err, "the NewHTTPHandler server at %s did not answer a request routed to the chain", addr)
		expectStatus(status, "the NewHTTPHandler server")
	})
}

// expectStatus fails unless code is an HTTP status a node can relay.
func expectStatus(code int, who string) {
	Expect(code).To(And(BeNumerically(">=", 100), BeNumerically("<=", 599)), "%s answered HTTP status %d; a status is 100..599", who, code)
}
