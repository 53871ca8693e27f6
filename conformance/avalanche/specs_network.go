package avalanche

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // ginkgo DSL
	. "github.com/onsi/gomega"    //nolint:revive // gomega DSL

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/sim"
)

// netLimit bounds (in virtual time) how long a multi-node spec lets the
// network run for a decision or a bootstrap.
const netLimit = time.Minute

// netRun is the multi-node container's state: one network for all its specs.
type netRun struct {
	s     *suite
	net   Network
	nodes []string
	txs   int
}

// networkSpecs: Config.Nodes instances of the plugin, each behind its own
// fake node, in one simulated network. The specs check what one instance
// alone cannot show: that the instances agree.
func (s *suite) networkSpecs() {
	r := &netRun{s: s}
	Describe(fmt.Sprintf("%d instances in one network", s.cfg.Nodes), Ordered, func() {
		BeforeAll(func() {
			if s.protocolError() != nil {
				Skip("no plugin to check: it speaks another protocol (see " + spec("AVA-HSK-001").ID + ")")
			}
			genesis := s.cfg.Genesis
			if w := s.cfg.Workload; len(genesis) == 0 && w != nil {
				g, err := w.Genesis()
				expectOK(err, "the %s workload's genesis", w.Name())
				genesis = g
			}
			// The network's plugin calls end with the run (Config.Timeout).
			nctx, cancel := s.runCtx(context.Background())
			DeferCleanup(cancel)
			net, err := s.cfg.NewNetwork(nctx, NetworkOptions{Nodes: s.cfg.Nodes, Seed: s.cfg.Seed,
				Plugin: s.cfg.Plugin, HandshakeTimeout: s.cfg.HandshakeTimeout, Protocol: s.cfg.Protocol, SameWire: s.cfg.SameWire,
				Genesis: genesis, Log: s.cfg.Log})
			expectOK(err, "starting %d nodes, each with its own instance of the plugin, failed", s.cfg.Nodes)
			DeferCleanup(func() {
				if err := net.Close(); err != nil {
					fmt.Fprintf(GinkgoWriter, "cleanup: close the network: %v\n", err)
				}
			})
			r.net, r.nodes = net, net.NodeNames()
		})
		r.specs()
	})
}

// issue submits a fresh transaction on node: with the Workload when one
// is set, else with the reference VM's API.
func (r *netRun) issue(node string) {
	r.txs++
	w := r.s.cfg.Workload
	if w == nil {
		expectOK(r.net.Issue(node, fmt.Sprintf("net-%d", r.txs), node), "issuing a transaction on %s failed", node)
		return
	}
	c, ok := r.net.HTTP(node)
	Expect(ok).To(BeTrue(), "node %s has no chain HTTP handler to issue a transaction through", node)
	ctx, cancel := r.s.runCtx(context.Background())
	defer cancel()
	expectOK(w.IssueTx(ctx, c, 1), "issuing a %s transaction on %s failed", w.Name(), node)
}

// height is the height every running node is at (the first node's).
func (r *netRun) height() uint64 {
	la, ok := r.net.LastAccepted(r.nodes[0])
	Expect(ok).To(BeTrue(), "node %s is down", r.nodes[0])
	return la.Height
}

// untilHeight runs the network until every running node accepted h.
func (r *netRun) untilHeight(h uint64, what string) {
	expectOK(r.net.RunUntilHeight(h, netLimit), "%s: the nodes did not all accept a block at height %d within %s of virtual time (an invariant names what went wrong)", what, h, netLimit)
}

// mark is the number of trace events so far: since(mark) gives the new ones.
func (r *netRun) mark() int { return r.net.Trace().Len() }

func (r *netRun) since(mark int) []sim.Event { return r.net.Trace().Events()[mark:] }

func (r *netRun) specs() {
	s := r.s
	s.it("AVA-NET-001", func(SpecContext) {
		builder := r.nodes[0]
		h := r.height() + 1
		r.issue(builder)
		expectOK(r.net.Build(builder), "asking %s to build", builder)
		r.untilHeight(h, "a block built on "+builder)
		built, ok := r.net.AcceptedAt(builder, h)
		Expect(ok).To(BeTrue(), "%s accepted nothing at height %d", builder, h)
		for _, n := range r.nodes[1:] {
			got, ok := r.net.AcceptedAt(n, h)
			Expect(ok).To(BeTrue(), "%s accepted nothing at height %d (%s)", n, h, r.net.Heights())
			Expect(got.ID).To(Equal(built.ID), "%s built %s at height %d; %s parsed, verified and accepted the same bytes as %s", builder, built.ID, h, n, got.ID)
		}
	})

	s.it("AVA-NET-002", func(SpecContext) {
		issuer := r.nodes[len(r.nodes)-1]
		m := r.mark()
		r.issue(issuer)
		expectOK(r.net.Run(2*time.Second), "running the network")
		got := map[string]bool{}
		sent := false
		for _, ev := range r.since(m) {
			switch {
			case ev.Kind == sim.KindCall && ev.Name == "appsender.AppSender/SendAppGossip" && ev.Node == issuer:
				sent = true
			case ev.Kind == sim.KindCall && ev.Name == "vm.VM/AppGossip" && ev.Detail == issuer:
				got[ev.Node] = true
			}
		}
		if !sent {
			Skip(fmt.Sprintf("the VM on %s sent no AppGossip for an issued transaction: it does not gossip transactions", issuer))
		}
		for _, n := range r.nodes {
			if n != issuer {
				Expect(got[n]).To(BeTrue(), "a transaction was issued on %s; %s got no AppGossip from it within 2s (gossip reached %v)", issuer, n, slices.Sorted(maps.Keys(got)))
			}
		}
	})

	s.it("AVA-NET-003", func(SpecContext) {
		a, b := r.nodes[0], r.nodes[1]
		h := r.height() + 1
		// Both propose at the same instant, before either hears of the
		// other's transaction: two different blocks on the same parent.
		r.issue(a)
		r.issue(b)
		expectOK(r.net.Build(a), "asking %s to build", a)
		expectOK(r.net.Build(b), "asking %s to build", b)
		m := r.mark()
		r.untilHeight(h, fmt.Sprintf("blocks proposed at once by %s and %s", a, b))
		won, _ := r.net.AcceptedAt(a, h)
		for _, n := range r.nodes {
			got, ok := r.net.AcceptedAt(n, h)
			Expect(ok).To(BeTrue(), "%s accepted nothing at height %d", n, h)
			Expect(got.ID).To(Equal(won.ID), "at height %d %s accepted %s, %s accepted %s", h, a, won.ID, n, got.ID)
		}
		rejected := map[string]bool{}
		suffix := fmt.Sprintf(" at %d", h)
		for _, ev := range r.since(m) {
			if ev.Kind == sim.KindDecide && ev.Name == "reject" && strings.HasSuffix(ev.Detail, suffix) {
				rejected[ev.Node] = true
			}
		}
		Expect(rejected).NotTo(BeEmpty(), "no node rejected a block at height %d: %s and %s proposed the same block (different transactions should make different blocks)", h, a, b)
		// Let the next decision go through too: the loser's transaction
		// goes back to its builder's mempool.
		expectOK(r.net.Run(5*time.Second), "running the network after the decision")
	})

	s.it("AVA-NET-004", func(SpecContext) {
		if len(r.nodes) < 3 {
			Skip("needs 3 or more nodes: with 2, one node down leaves the other no quorum to accept a block the restarted one must fetch")
		}
		down := r.nodes[len(r.nodes)-1]
		builder := r.nodes[0]
		h := r.height() + 1
		expectOK(r.net.StopNode(down), "stopping %s", down)
		r.issue(builder)
		expectOK(r.net.Build(builder), "asking %s to build", builder)
		r.untilHeight(h, fmt.Sprintf("a block built on %s while %s is down", builder, down))
		want, _ := r.net.LastAccepted(builder)
		expectOK(r.net.StartNode(down), "restarting %s on its database", down)
		err := r.net.RunUntil(func() bool {
			la, ok := r.net.LastAccepted(down)
			return ok && r.net.NodeState(down) == "normal" && la.ID == want.ID
		}, netLimit)
		expectOK(err, "restarted %s did not bootstrap to %s at height %d within %s of virtual time (%s)", down, want.ID, want.Height, netLimit, r.net.Heights())
		Expect(r.net.PluginLastAccepted(down)).To(Equal(want.ID), "restarted %s bootstrapped to %s at height %d, but its plugin's SetState(NormalOp) reports %s as last accepted", down, want.ID, want.Height, r.net.PluginLastAccepted(down))
	})

	s.it("AVA-NET-005", func(SpecContext) {
		// Let every AppRequest sent so far be answered or time out.
		expectOK(r.net.Run(avalanchego.DefaultAppRequestTimeout+time.Second), "running the network")
		asked, unanswered := appRequestsAnswered(r.net.Trace().Events())
		if asked == 0 {
			Skip("no instance sent an AppRequest to a peer: nothing to check")
		}
		Expect(unanswered).To(BeEmpty(), "%d AppRequests between instances, unanswered: %s", asked, strings.Join(unanswered, "; "))
	})
}

// appRequestsAnswered reads the trace: every AppRequest delivered to an
// instance ("vm.VM/AppRequest" on the answering node, detail "<from> request
// <id>") wants an AppResponse, or an AppRequestFailed with the
// answerer's error code, on the requester; an AppRequestFailed with
// avalanchego.ErrAppTimeout's code (no answer in time) or none at all is
// unanswered.
func appRequestsAnswered(events []sim.Event) (asked int, unanswered []string) {
	type key struct{ requester, answerer, id string }
	answered := map[key]bool{}
	for _, ev := range events {
		if ev.Kind != sim.KindCall {
			continue
		}
		peer, rest, ok := strings.Cut(ev.Detail, " request ")
		if !ok {
			continue
		}
		id, code, _ := strings.Cut(rest, " code ")
		switch {
		case ev.Name == "vm.VM/AppResponse":
			answered[key{ev.Node, peer, id}] = true
		case ev.Name == "vm.VM/AppRequestFailed" && code != fmt.Sprint(avalanchego.ErrAppTimeout.Code):
			answered[key{ev.Node, peer, id}] = true
		}
	}
	for _, ev := range events {
		if ev.Kind != sim.KindCall || ev.Name != "vm.VM/AppRequest" {
			continue
		}
		from, id, ok := strings.Cut(ev.Detail, " request ")
		if !ok {
			continue
		}
		asked++
		if !answered[key{from, ev.Node, id}] {
			unanswered = append(unanswered, fmt.Sprintf("%s's request %s to %s", from, id, ev.Node))
		}
	}
	return asked, unanswered
}
