package harness

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ava-labs/avalanchego/database/memdb"
	"github.com/ava-labs/avalanchego/ids"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/sim"
)

// Invariants the network checks all the time (names as in a sim.Violation).
const (
	// InvAgreement: every node's chain (as its plugin reports it with
	// GetBlockIDAtHeight) has the same block at every height, and that is
	// the block the node's engine decided.
	InvAgreement = "agreement"
	// InvAcceptedPath: each accepted block's parent is the node's previous
	// last accepted block, one height below: the chain is a path from genesis.
	InvAcceptedPath = "accepted-path"
	// InvAcceptedRejected: no block is accepted on one node and rejected on
	// any (the same or another).
	InvAcceptedRejected = "accepted-and-rejected"
	// InvLiveness: LivenessWindow after a heal or a restart (with no
	// partition left), every running node is at the same last accepted block.
	InvLiveness = "liveness-after-heal"
)

// NetworkConfig configures a multi-node Avalanche network of fake nodes, each
// with its own in-process reference VM, sharing one validator set.
type NetworkConfig struct {
	Seed  int64
	Nodes int // 0 = 3
	// Variants gives node i's refvm variant ("" = the correct VM); missing
	// entries are the correct VM.
	Variants []string
	Snow     SnowParams // zero fields = DefaultSnowParams(Nodes)
	Link     sim.Link   // every link's behaviour (zero = sim.DefaultLatency, no loss)
	// Links override Link per direction (From -> To), from the start on.
	Links []LinkSpec
	// AppRequestTimeout is when a node gives up on a peer's answer to an
	// AppRequest and calls AppRequestFailed (virtual time); 0 =
	// avalanchego.DefaultAppRequestTimeout.
	AppRequestTimeout time.Duration
	// QueryTimeout bounds a poll, a frontier or an ancestors request
	// (virtual time); 0 = 1s.
	QueryTimeout time.Duration
	// EventWait bounds (in wall time: the plugin is real code) how long a
	// build waits for WaitForEvent to say BUILD_BLOCK; 0 = 5s.
	EventWait time.Duration
	// LivenessWindow is how long after a heal or restart the network has
	// to agree again (virtual); 0 = 30s.
	LivenessWindow time.Duration
	// FrontierGossip is how often a node sends its last accepted block to
	// a random peer (AvalancheGo's accepted-frontier gossip; virtual); 0 = 10s.
	FrontierGossip time.Duration
	// MaxAncestors is max_blocks_num of a GetAncestors call; 0 = 256.
	MaxAncestors int
	// TraceLimit keeps only the first events of the trace (0 = all).
	TraceLimit int
	// StartDown leaves every node down after NewNetwork: StartNode (or the
	// restart fault) brings each up, e.g. once the machine it lives in runs.
	StartDown bool
	// Log gets the plugins' output; nil discards it.
	Log io.Writer
	// Plugin, when set, is a plugin binary every node launches in its own
	// process (as AvalancheGo does) instead of the in-process reference VM;
	// Variants are then ignored. Such a run is outside the determinism
	// guarantee: the plugin's goroutines, timers and clock are its own.
	Plugin string
	// HandshakeTimeout bounds a plugin binary's runtime handshake (wall
	// time); 0 = avalanchego.DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// Protocol is the rpcchainvm protocol the nodes speak (0 = the newest);
	// SameWire also accepts a plugin speaking one with an identical wire.
	Protocol uint
	SameWire bool
	// Genesis goes into every node's InitializeRequest (e.g. a workload's
	// genesis for a plugin binary); nil = none, as the reference VM needs.
	Genesis []byte
}

func (c NetworkConfig) withDefaults() NetworkConfig {
	if c.Nodes <= 0 {
		c.Nodes = 3
	}
	c.Snow = c.Snow.withDefaults(c.Nodes)
	if c.AppRequestTimeout <= 0 {
		c.AppRequestTimeout = avalanchego.DefaultAppRequestTimeout
	}
	if c.QueryTimeout <= 0 {
		c.QueryTimeout = time.Second
	}
	if c.EventWait <= 0 {
		c.EventWait = 5 * time.Second
	}
	if c.LivenessWindow <= 0 {
		c.LivenessWindow = 30 * time.Second
	}
	if c.FrontierGossip <= 0 {
		c.FrontierGossip = 10 * time.Second
	}
	if c.MaxAncestors <= 0 {
		c.MaxAncestors = 256
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = avalanchego.DefaultHandshakeTimeout
	}
	return c
}

// Network is N fake AvalancheGo nodes, each driving its own in-process
// reference VM, in one sim.World: every message between nodes (app
// gossip, app requests and answers, consensus queries, bootstrapping
// fetches) goes through the world's delivery queue over its links. It is
// driven from one goroutine: call its methods, then Run* to let time pass.
type Network struct {
	World *sim.World
	cfg   NetworkConfig
	ctx   context.Context // for plugin calls; cancelled by Close

	cancel     context.CancelFunc
	nodes      []*SimNode
	byID       map[ids.NodeID]*SimNode
	validators []avalanchego.Validator
	chainIDs   chainIDs

	// what every node decided, for the invariants
	decided     map[uint64]decision // height -> first node's accepted block, as its VM reports it
	acceptedAny map[ids.ID]string   // block -> a node that accepted it
	rejectedAny map[ids.ID]string   // block -> a node that rejected it
	liveness    *sim.Item
}

type decision struct {
	id   ids.ID
	node string
}

type chainIDs struct{ subnet, chain, x, c, avax ids.ID }

func networkID(seed int64, label string) ids.ID {
	return ids.ID(sha256.Sum256(fmt.Appendf(nil, "vmtestbed/network/%s/%d", label, seed)))
}

// NewNetwork builds the world and starts every node: the nodes connect to
// each other, bootstrap (nothing to fetch yet) and reach normal operation.
// Close it when done, even after an error.
func NewNetwork(ctx context.Context, cfg NetworkConfig) (*Network, error) {
	cfg = cfg.withDefaults()
	w := sim.New(sim.Config{Seed: cfg.Seed})
	w.Trace().Limit(cfg.TraceLimit)
	w.Net().SetDefault(cfg.Link)
	for _, l := range cfg.Links {
		w.Net().SetLink(l.From, l.To, l.Link)
	}
	nctx, cancel := context.WithCancel(ctx)
	n := &Network{World: w, cfg: cfg, ctx: nctx, cancel: cancel, byID: map[ids.NodeID]*SimNode{},
		decided: map[uint64]decision{}, acceptedAny: map[ids.ID]string{}, rejectedAny: map[ids.ID]string{},
		chainIDs: chainIDs{networkID(cfg.Seed, "subnet"), networkID(cfg.Seed, "chain"), networkID(cfg.Seed, "x-chain"),
			networkID(cfg.Seed, "c-chain"), networkID(cfg.Seed, "avax-asset")}}
	for i := range cfg.Nodes {
		seed := cfg.Seed*1000 + int64(i) + 1
		id, pk, err := avalanchego.Identity(seed)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("network: node %d identity: %w", i+1, err)
		}
		s := &SimNode{net: n, Name: fmt.Sprintf("n%d", i+1), seed: seed, ID: id, db: memdb.New()}
		if i < len(cfg.Variants) {
			s.variant = cfg.Variants[i]
		}
		s.resetEngine()
		n.nodes = append(n.nodes, s)
		n.byID[id] = s
		n.validators = append(n.validators, avalanchego.Validator{NodeID: id, PublicKey: pk, Weight: avalanchego.DefaultWeight})
	}
	w.Net().OnTopology(n.syncTopology)
	w.Net().OnTopology(n.scheduleLiveness)
	n.registerFaults()
	w.Trace().Add(sim.Event{Kind: sim.KindNote, Name: "network", Detail: fmt.Sprintf("seed %d, %d nodes, k=%d alpha=%d beta=%d",
		cfg.Seed, cfg.Nodes, cfg.Snow.K, cfg.Snow.Alpha, cfg.Snow.Beta)})
	if cfg.StartDown {
		return n, nil
	}
	for _, s := range n.nodes {
		if err := s.start(); err != nil {
			_ = n.Close()
			return nil, err
		}
	}
	if err := n.RunUntil(func() bool { return n.allNormal() }, time.Minute); err != nil {
		_ = n.Close()
		return nil, fmt.Errorf("network: start-up: %w", err)
	}
	return n, nil
}

// StartNode starts a node that is down (never started, or crashed) on its
// database, as the restart fault does: it initializes, bootstraps from its
// peers and joins consensus.
func (n *Network) StartNode(name string) error {
	s, err := n.mustNode(name)
	if err != nil {
		return err
	}
	if s.up {
		return fmt.Errorf("node %s is running", s.Name)
	}
	if err := s.start(); err != nil {
		return err
	}
	n.scheduleLiveness()
	return nil
}

// StopNode stops a running node at once, as the crash fault does; its
// database is kept for StartNode.
func (n *Network) StopNode(name string) error {
	s, err := n.mustNode(name)
	if err != nil {
		return err
	}
	if err := s.stop(false); err != nil {
		return err
	}
	n.syncTopology()
	return nil
}

// NodeNames lists the nodes' names in index order ("n1", "n2", ...).
func (n *Network) NodeNames() []string {
	out := make([]string, len(n.nodes))
	for i, s := range n.nodes {
		out[i] = s.Name
	}
	return out
}

// LastAccepted is node's last accepted block as its engine sees it; false
// when there is no such node or it is down.
func (n *Network) LastAccepted(node string) (avalanchego.BlockInfo, bool) {
	s := n.Node(node)
	if s == nil || !s.up {
		return avalanchego.BlockInfo{}, false
	}
	return s.la, true
}

// AcceptedAt is the block node's engine accepted at height h.
func (n *Network) AcceptedAt(node string, h uint64) (avalanchego.BlockInfo, bool) {
	s := n.Node(node)
	if s == nil {
		return avalanchego.BlockInfo{}, false
	}
	return s.AcceptedAt(h)
}

// HTTP is the client of node's first chain HTTP handler (CreateHandlers),
// where a VM's JSON-RPC API usually lives; false when the node is down.
func (n *Network) HTTP(node string) (*avalanchego.HTTPClient, bool) {
	s := n.Node(node)
	if s == nil || !s.up || s.rpc == nil {
		return nil, false
	}
	return s.rpc, true
}

// PluginLastAccepted is the last accepted block node's plugin reported in
// its latest SetState answer (ids.Empty before any).
func (n *Network) PluginLastAccepted(node string) ids.ID {
	if s := n.Node(node); s != nil {
		return s.vmLA
	}
	return ids.Empty
}

// NodeState is node's engine state: "down", "bootstrapping" or "normal"
// ("" for no such node).
func (n *Network) NodeState(node string) string {
	if s := n.Node(node); s != nil {
		return s.state
	}
	return ""
}

// Seed is the run's seed.
func (n *Network) Seed() int64 { return n.cfg.Seed }

// Config is the configuration with defaults filled in.
func (n *Network) Config() NetworkConfig { return n.cfg }

// Trace is the world's event trace.
func (n *Network) Trace() *sim.Trace { return n.World.Trace() }

// Nodes lists the nodes in index order.
func (n *Network) Nodes() []*SimNode { return append([]*SimNode(nil), n.nodes...) }

// Node finds a node by name ("n1", ...); nil if there is none.
func (n *Network) Node(name string) *SimNode {
	for _, s := range n.nodes {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (n *Network) mustNode(name string) (*SimNode, error) {
	if s := n.Node(name); s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("no node %q (nodes n1..n%d)", name, len(n.nodes))
}

// Issue submits a transaction (key=value) to node's plugin through its
// JSON-RPC API now; the plugin gossips it to its peers.
func (n *Network) Issue(node, key, value string) error {
	s, err := n.mustNode(node)
	if err != nil {
		return err
	}
	return s.issue(key, value)
}

// Build makes node try to build a block now (its engine asks the VM with
// WaitForEvent first, as AvalancheGo does); a node still deciding the next
// height builds once that height is decided.
func (n *Network) Build(node string) error {
	s, err := n.mustNode(node)
	if err != nil {
		return err
	}
	n.World.After(0, func() { s.deliver(s.propose) })
	return nil
}

// At schedules f at virtual time t (since the epoch) as a named step; an
// error from f stops the world with that error (Run* returns it). The
// scenario language puts its steps on the timeline with it.
func (n *Network) At(t time.Duration, name string, f func() error) {
	n.World.At(t, func() {
		n.World.Trace().Add(sim.Event{Kind: sim.KindNote, Name: "step", Detail: name})
		if err := f(); err != nil {
			n.World.Stop(fmt.Errorf("%s: %w", name, err))
		}
	})
}

// Partition splits the network (sim.Net.Partition); Connected and
// Disconnected follow.
func (n *Network) Partition(groups ...[]string) { n.World.Net().Partition(groups...) }

// Heal ends every partition.
func (n *Network) Heal() { n.World.Net().Heal() }

// Fault fires a fault now: sim.FaultCrash, FaultRestart, FaultStall,
// FaultResume, FaultSlow (arg a duration per delivery), FaultDrop,
// FaultDelay. Schedule one with World.Faults().At.
func (n *Network) Fault(kind, target, arg string) error {
	return n.World.Faults().Fire(kind, target, arg)
}

// Run lets d of virtual time pass.
func (n *Network) Run(d time.Duration) error { return n.World.RunFor(d) }

// RunUntil runs until cond holds, for at most limit of virtual time from now.
func (n *Network) RunUntil(cond func() bool, limit time.Duration) error {
	return n.World.RunWhile(n.World.Elapsed()+limit, func() bool { return !cond() })
}

// atHeight reports whether every running node has accepted height h.
func (n *Network) atHeight(h uint64) bool {
	for _, s := range n.nodes {
		if s.up && s.la.Height < h {
			return false
		}
	}
	return true
}

// RunUntilHeight runs until every running node has accepted height h.
func (n *Network) RunUntilHeight(h uint64, limit time.Duration) error {
	err := n.RunUntil(func() bool { return n.atHeight(h) }, limit)
	if err != nil {
		return fmt.Errorf("run until height %d: %w (heights %s)", h, err, n.Heights())
	}
	return nil
}

// Heights describes every node's last accepted height, e.g. "n1=3 n2=3 n3=down".
func (n *Network) Heights() string {
	out := ""
	for i, s := range n.nodes {
		if i > 0 {
			out += " "
		}
		if !s.up {
			out += s.Name + "=down"
		} else {
			out += fmt.Sprintf("%s=%d", s.Name, s.la.Height)
		}
	}
	return out
}

func (n *Network) allNormal() bool {
	for _, s := range n.nodes {
		if s.up && s.state != stateNormal {
			return false
		}
	}
	return true
}

// Close stops every plugin and node. Safe to call more than once.
func (n *Network) Close() error {
	var errs []error
	for _, s := range n.nodes {
		errs = append(errs, s.stop(true))
	}
	for _, s := range n.nodes {
		if err := s.db.Close(); err != nil && !errors.Is(err, errDBClosed) {
			errs = append(errs, err)
		}
	}
	n.cancel()
	return errors.Join(errs...)
}

// syncTopology calls Connected and Disconnected so that each pair of
// running nodes is connected exactly when the network lets them reach each
// other, pair by pair in index order.
func (n *Network) syncTopology() {
	for i, a := range n.nodes {
		for _, b := range n.nodes[i+1:] {
			want := a.initialized() && b.initialized() && n.World.Net().Reachable(a.Name, b.Name) && n.World.Net().Reachable(b.Name, a.Name)
			if a.connected[b.Name] == want && b.connected[a.Name] == want {
				continue
			}
			a.setConnected(b, want)
			b.setConnected(a, want)
			if want {
				a.askFrontier(b)
				b.askFrontier(a)
			}
		}
	}
}

func (n *Network) registerFaults() {
	f := n.World.Faults()
	node := func(do func(s *SimNode, arg string) error) func(target, arg string) error {
		return func(target, arg string) error {
			s, err := n.mustNode(target)
			if err != nil {
				return err
			}
			return do(s, arg)
		}
	}
	f.Handle(sim.FaultCrash, func(target, _ string) error { return n.StopNode(target) })
	f.Handle(sim.FaultRestart, func(target, _ string) error { return n.StartNode(target) })
	f.Handle(sim.FaultStall, node(func(s *SimNode, _ string) error { s.stalled = true; return nil }))
	f.Handle(sim.FaultResume, node(func(s *SimNode, _ string) error {
		s.stalled = false
		backlog := s.backlog
		s.backlog = nil
		for _, f := range backlog {
			s.deliver(f)
		}
		return nil
	}))
	f.Handle(sim.FaultSlow, node(func(s *SimNode, arg string) error {
		d, err := sim.DurationArg(arg)
		if err != nil {
			return fmt.Errorf("slow: %w", err)
		}
		s.slow = d
		return nil
	}))
}

// scheduleLiveness arms the liveness check LivenessWindow from now.
func (n *Network) scheduleLiveness() {
	if n.World.Net().Partitioned() {
		return
	}
	if n.liveness != nil {
		n.liveness.Stop()
	}
	n.liveness = n.World.After(n.cfg.LivenessWindow, n.checkLiveness)
}

func (n *Network) checkLiveness() {
	n.liveness = nil
	if n.World.Net().Partitioned() {
		return
	}
	var top *SimNode
	for _, s := range n.nodes {
		if s.up && (top == nil || s.la.Height > top.la.Height) {
			top = s
		}
	}
	for _, s := range n.nodes {
		if s.up && top != nil && s.la.ID != top.la.ID {
			n.World.Invariants().Report(sim.Violation{Invariant: InvLiveness, Node: s.Name, Height: s.la.Height,
				Detail: fmt.Sprintf("%s after the network healed, %s is at height %d (%s), %s at height %d (%s)",
					n.cfg.LivenessWindow, s.Name, s.la.Height, s.la.ID, top.Name, top.la.Height, top.la.ID)})
			return
		}
	}
}

// checkAccepted runs the invariants on a block node s accepted; vmID is
// what s's plugin reports at that height.
func (n *Network) checkAccepted(s *SimNode, prev, blk avalanchego.BlockInfo, vmID ids.ID) {
	inv := n.World.Invariants()
	if blk.ParentID != prev.ID || blk.Height != prev.Height+1 {
		inv.Report(sim.Violation{Invariant: InvAcceptedPath, Node: s.Name, Height: blk.Height,
			Detail: fmt.Sprintf("accepted %s with parent %s at height %d after %s at height %d", blk.ID, blk.ParentID, blk.Height, prev.ID, prev.Height)})
		return
	}
	if other, ok := n.rejectedAny[blk.ID]; ok {
		inv.Report(sim.Violation{Invariant: InvAcceptedRejected, Node: s.Name, Height: blk.Height,
			Detail: fmt.Sprintf("%s accepted block %s, which %s rejected", s.Name, blk.ID, other)})
		return
	}
	n.acceptedAny[blk.ID] = s.Name
	if vmID != blk.ID {
		inv.Report(sim.Violation{Invariant: InvAgreement, Node: s.Name, Height: blk.Height,
			Detail: fmt.Sprintf("the engine of %s accepted %s at height %d, its plugin's chain has %s there", s.Name, blk.ID, blk.Height, vmID)})
		return
	}
	if d, ok := n.decided[blk.Height]; ok && d.id != vmID {
		inv.Report(sim.Violation{Invariant: InvAgreement, Node: s.Name, Height: blk.Height,
			Detail: fmt.Sprintf("%s has %s at height %d, %s has %s", s.Name, vmID, blk.Height, d.node, d.id)})
		return
	} else if !ok {
		n.decided[blk.Height] = decision{id: vmID, node: s.Name}
	}
}

// checkRejected runs the invariants on a block node s rejected.
func (n *Network) checkRejected(s *SimNode, blk avalanchego.BlockInfo) {
	if other, ok := n.acceptedAny[blk.ID]; ok {
		n.World.Invariants().Report(sim.Violation{Invariant: InvAcceptedRejected, Node: s.Name, Height: blk.Height,
			Detail: fmt.Sprintf("%s rejected block %s, which %s accepted", s.Name, blk.ID, other)})
		return
	}
	n.rejectedAny[blk.ID] = s.Name
}
