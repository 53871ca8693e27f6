package harness

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ava-labs/avalanchego/database"
	"github.com/ava-labs/avalanchego/ids"
	"google.golang.org/protobuf/types/known/emptypb"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/fakes/refvm"
	"github.com/vmtestbed/vmtestbed/sim"
	"github.com/vmtestbed/vmtestbed/transport"
)

var errDBClosed = database.ErrClosed

// Node states of a SimNode's engine.
const (
	stateDown          = "down"
	stateBootstrapping = "bootstrapping"
	stateNormal        = "normal"
)

// SimNode is one node of a Network: a fake AvalancheGo node, its in-process
// reference VM, and the engine between them and the network (what
// AvalancheGo's snowman engine and bootstrapper do, reduced to one chain).
type SimNode struct {
	Name string     // "n1", "n2", ...: the node's lane in the trace
	ID   ids.NodeID // derived from the network seed

	net     *Network
	seed    int64
	variant string
	db      database.Database // the chain's database: survives crashes

	vmLA   ids.ID // the last accepted block the plugin's latest SetState answer named
	node   *avalanchego.Node
	plugin *avalanchego.Plugin
	rpc    *avalanchego.HTTPClient
	up     bool
	state  string

	stalled bool
	backlog []func()
	slow    time.Duration

	connected map[string]bool // peers the plugin was told are connected

	// engine
	la        avalanchego.BlockInfo
	accepted  map[uint64]avalanchego.BlockInfo // the node's accepted chain
	known     map[ids.ID]avalanchego.BlockInfo // verified blocks at la+1
	byBytes   map[string]ids.ID                // parsed bytes (as the node's block cache)
	bad       map[string]bool                  // bytes that failed to parse or verify
	sb        *snowball                        // the decision at la+1, nil when nothing competes
	vmPref    ids.ID                           // what SetPreference last said
	poll      *poll
	polls     uint32
	wantBuild bool

	// bootstrapping and catching up
	frontierWait map[string]bool         // peers whose frontier bootstrapping waits for
	frontierAsk  map[string]*sim.Item    // peer -> retry timer of an unanswered frontier question
	catching     string                  // the peer being fetched from, "" = none
	fetched      []avalanchego.BlockInfo // fetched blocks, newest first
	catchT       *sim.Item
	gossipT      *sim.Item // next accepted-frontier gossip
	// blocks peers pushed while this node bootstrapped, learnt after
	pushedWhileBootstrapping [][]byte

	// app requests this node's plugin sent, awaiting an answer
	appReqs map[appKey]*sim.Item

	built []avalanchego.BlockInfo // every block this node's plugin built, in order
}

type appKey struct {
	peer ids.NodeID
	id   uint32
}

type poll struct {
	ahead   *SimNode              // a voter that has accepted this height already
	aheadLA avalanchego.BlockInfo // its last accepted block
	id      uint32
	height  uint64
	waiting map[string]bool
	votes   map[ids.ID]int
	timer   *sim.Item
}

// LastAccepted is the node's last accepted block (its engine's view).
func (s *SimNode) LastAccepted() avalanchego.BlockInfo { return s.la }

// AcceptedAt is the block the node accepted at height h.
func (s *SimNode) AcceptedAt(h uint64) (avalanchego.BlockInfo, bool) {
	b, ok := s.accepted[h]
	return b, ok
}

// Up reports whether the node's plugin runs.
func (s *SimNode) Up() bool { return s.up }

// State is "down", "bootstrapping" or "normal".
func (s *SimNode) State() string { return s.state }

func (s *SimNode) initialized() bool { return s.up && s.state != "" && s.state != stateDown }

func (s *SimNode) resetEngine() {
	if s.accepted == nil {
		s.accepted = map[uint64]avalanchego.BlockInfo{}
	}
	s.state = stateDown
	s.connected = map[string]bool{}
	s.known = map[ids.ID]avalanchego.BlockInfo{}
	s.byBytes = map[string]ids.ID{}
	s.bad = map[string]bool{}
	s.sb, s.poll, s.wantBuild, s.vmPref = nil, nil, false, ids.Empty
	s.frontierWait, s.catching, s.fetched, s.pushedWhileBootstrapping = nil, "", nil, nil
	s.frontierAsk = map[string]*sim.Item{}
	s.appReqs = map[appKey]*sim.Item{}
	s.stalled, s.backlog, s.slow = false, nil, 0
	s.vmLA = ids.Empty
}

func (s *SimNode) trace() *sim.Trace { return s.net.World.Trace() }

// call makes one call to the plugin inside a trace span on the node's lane.
func (s *SimNode) call(name, detail string, f func(ctx context.Context) (string, error)) error {
	sp := s.trace().Begin(sim.Event{Node: s.Name, Kind: sim.KindCall, Name: name, From: "node", To: "plugin", Detail: detail})
	out, err := f(s.net.ctx)
	sp.End(out, err)
	return err
}

// fail stops the world: the plugin broke the protocol in a way AvalancheGo
// would shut the chain down for.
func (s *SimNode) fail(err error) {
	s.net.World.Stop(fmt.Errorf("node %s (seed %d): %w", s.Name, s.net.cfg.Seed, err))
}

func (s *SimNode) note(name, detail string) {
	s.trace().Add(sim.Event{Node: s.Name, Kind: sim.KindNote, Name: name, Detail: detail})
}

// deliver runs f for the node as it handles a message: dropped when the
// node is down, held while it is stalled, late when it is slow.
//
// Every delivery is a fault point: a sim.Faults.Chance for crash, stall or
// slow on this node (or restart, while it is down) may fire here.
func (s *SimNode) deliver(f func()) {
	faults := s.net.World.Faults()
	if !s.up {
		faults.Roll(sim.FaultRestart, s.Name)
	} else {
		faults.Roll(sim.FaultCrash, s.Name)
		faults.Roll(sim.FaultStall, s.Name)
		faults.Roll(sim.FaultSlow, s.Name)
	}
	switch {
	case !s.up:
		s.note("dropped", "node down")
	case s.stalled:
		s.backlog = append(s.backlog, f)
	case s.slow > 0:
		s.net.World.After(s.slow, func() {
			if s.up {
				f()
			}
		})
	default:
		f()
	}
}

// send puts an engine message to peer on the network.
func (s *SimNode) send(to *SimNode, kind, detail string, handle func()) {
	s.net.World.Net().Send(sim.Message{From: s.Name, To: to.Name, Kind: kind, Detail: detail, Deliver: func() { to.deliver(handle) }})
}

func shortID(id ids.ID) string { return short(id[:]) }

// start launches the plugin and runs AvalancheGo's start sequence up to
// bootstrapping; bootstrapping ends when the peers' frontiers are known
// and fetched (finishBootstrap).
func (s *SimNode) start() error {
	n := s.net
	s.resetEngine()
	// An in-process plugin and the node's services meet on a Bufnet; a
	// plugin binary dials the node's services over loopback TCP.
	var tr transport.Transport = transport.TCP{}
	var bufnet *transport.Bufnet
	if n.cfg.Plugin == "" {
		bufnet = transport.NewBufnet()
		tr = bufnet
	}
	node, err := avalanchego.NewNode(n.ctx, avalanchego.NodeConfig{
		Transport: tr, Seed: s.seed, Database: s.db, Validators: n.validators, AppNetwork: appNet{s},
		AppRequestTimeout: n.cfg.AppRequestTimeout, Genesis: n.cfg.Genesis,
		SubnetID: n.chainIDs.subnet, ChainID: n.chainIDs.chain, XChainID: n.chainIDs.x, CChainID: n.chainIDs.c, AvaxAssetID: n.chainIDs.avax,
	})
	if err != nil {
		return fmt.Errorf("node %s: %w", s.Name, err)
	}
	s.node = node
	var p *avalanchego.Plugin
	if n.cfg.Plugin != "" {
		s.note("launch", "plugin binary "+n.cfg.Plugin)
		p, err = avalanchego.LaunchProcess(n.ctx, n.cfg.Plugin, avalanchego.LaunchConfig{Log: n.cfg.Log, Protocol: n.cfg.Protocol,
			SameWire: n.cfg.SameWire, HandshakeTimeout: n.cfg.HandshakeTimeout, GracefulTimeout: time.Second})
	} else {
		clock := n.World.Clock()
		rc := refvm.Config{Variant: s.variant, Transport: bufnet, Stderr: n.cfg.Log, Exit: func(int) {}, Clock: clock, Protocol: n.cfg.Protocol}
		serve := func(ctx context.Context, addr string) error { return refvm.Serve(ctx, addr, rc) }
		s.note("launch", "in-process refvm "+s.variant)
		p, err = avalanchego.LaunchInProcess(n.ctx, bufnet, serve, avalanchego.LaunchConfig{Log: n.cfg.Log, Protocol: n.cfg.Protocol, GracefulTimeout: 50 * time.Millisecond})
	}
	if err != nil {
		_ = node.Close()
		return fmt.Errorf("node %s: %w", s.Name, err)
	}
	s.plugin, s.up = p, true
	vm := p.VM
	var init *vmpb.InitializeResponse
	if err := s.call("vm.VM/Initialize", "", func(ctx context.Context) (string, error) {
		var err error
		init, err = vm.Initialize(ctx, node.InitializeRequest(p.Protocol))
		return fmt.Sprintf("last accepted %s at %d", short(init.GetLastAcceptedId()), init.GetHeight()), err
	}); err != nil {
		return s.startFailed(p.Diagnose("Initialize", err))
	}
	la, err := avalanchego.ParseBlockInfo("initialize", init.GetLastAcceptedId(), init.GetLastAcceptedParentId(), init.GetHeight(), init.GetTimestamp(), init.GetBytes())
	if err != nil {
		return s.startFailed(err)
	}
	s.la = la
	if _, ok := s.accepted[la.Height]; !ok {
		s.accepted[la.Height] = la
	}
	var handlers []*vmpb.Handler
	if err := s.call("vm.VM/CreateHandlers", "", func(ctx context.Context) (string, error) {
		r, err := vm.CreateHandlers(ctx, &emptypb.Empty{})
		handlers = r.GetHandlers()
		return fmt.Sprintf("%d handlers", len(handlers)), err
	}); err != nil {
		return s.startFailed(p.Diagnose("CreateHandlers", err))
	}
	if len(handlers) == 0 {
		return s.startFailed(errors.New("the plugin registered no HTTP handlers"))
	}
	if !avalanchego.UsesMessenger(p.Protocol) {
		if err := s.call("vm.VM/NewHTTPHandler", "", func(ctx context.Context) (string, error) {
			_, err := vm.NewHTTPHandler(ctx, &emptypb.Empty{})
			return "", err
		}); err != nil {
			return s.startFailed(p.Diagnose("NewHTTPHandler", err))
		}
	}
	if err := s.call("vm.VM/StateSyncEnabled", "", func(ctx context.Context) (string, error) {
		r, err := vm.StateSyncEnabled(ctx, &emptypb.Empty{})
		return fmt.Sprint(r.GetEnabled()), err
	}); err != nil {
		return s.startFailed(p.Diagnose("StateSyncEnabled", err))
	}
	if err := s.setState(vmpb.State_STATE_BOOTSTRAPPING); err != nil {
		return s.startFailed(err)
	}
	s.state = stateBootstrapping
	if s.rpc, err = node.HandlerHTTP(p, handlers[0]); err != nil {
		return s.startFailed(err)
	}
	if err := s.connect(s.ID, true); err != nil {
		return s.startFailed(err)
	}
	// Peers: Connected both ways, then the frontier questions.
	s.frontierWait = map[string]bool{}
	n.syncTopology()
	if len(s.frontierWait) == 0 {
		s.finishBootstrap()
	}
	return nil
}

func (s *SimNode) startFailed(err error) error {
	_ = s.stop(false)
	return fmt.Errorf("node %s start: %w", s.Name, err)
}

func (s *SimNode) setState(st vmpb.State) error {
	return s.call("vm.VM/SetState", st.String(), func(ctx context.Context) (string, error) {
		r, err := s.plugin.VM.SetState(ctx, &vmpb.SetStateRequest{State: st})
		if err == nil {
			copy(s.vmLA[:], r.GetLastAcceptedId())
		}
		return "last accepted " + short(r.GetLastAcceptedId()), err
	})
}

// connect tells the plugin a node connected (up) or disconnected.
func (s *SimNode) connect(id ids.NodeID, up bool) error {
	if up {
		return s.call("vm.VM/Connected", id.String(), func(ctx context.Context) (string, error) {
			_, err := s.plugin.VM.Connected(ctx, avalanchego.ConnectedRequest(id, avalanchego.NodeVersionForProtocol(s.plugin.Protocol)))
			return "", err
		})
	}
	return s.call("vm.VM/Disconnected", id.String(), func(ctx context.Context) (string, error) {
		_, err := s.plugin.VM.Disconnected(ctx, &vmpb.DisconnectedRequest{NodeId: id.Bytes()})
		return "", err
	})
}

func (s *SimNode) setConnected(peer *SimNode, up bool) {
	if s.connected[peer.Name] == up {
		return
	}
	if up {
		s.connected[peer.Name] = true
	} else {
		delete(s.connected, peer.Name)
	}
	if !s.initialized() {
		return
	}
	if err := s.connect(peer.ID, up); err != nil {
		s.fail(err)
	}
}

// stop ends the plugin: with Shutdown (clean) or without (a crash).
func (s *SimNode) stop(clean bool) error {
	if s.node == nil {
		return nil
	}
	for _, it := range []*sim.Item{s.catchT, s.gossipT} {
		if it != nil {
			it.Stop()
		}
	}
	s.catchT, s.gossipT = nil, nil
	for _, it := range s.frontierAsk {
		it.Stop()
	}
	for _, it := range s.appReqs {
		it.Stop()
	}
	if s.poll != nil && s.poll.timer != nil {
		s.poll.timer.Stop()
	}
	var errs []error
	if s.rpc != nil {
		errs = append(errs, s.rpc.Close())
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.net.ctx), 10*time.Second)
	defer cancel()
	if s.plugin != nil {
		if clean {
			errs = append(errs, avalanchego.StopChain(ctx, s.plugin, s.node))
		} else {
			s.note("crash", "")
			// A crash: no Shutdown, no grace. A cancelled context skips the
			// wait for serve to return by itself; Terminate then cancels
			// serve's context and waits for the goroutine to end.
			dead, kill := context.WithCancel(context.WithoutCancel(s.net.ctx))
			kill()
			_ = s.plugin.Terminate(dead)
		}
	}
	errs = append(errs, s.node.Close())
	s.node, s.plugin, s.rpc, s.up = nil, nil, nil, false
	s.resetEngine()
	return errors.Join(errs...)
}

// issue submits a transaction through the plugin's JSON-RPC API.
func (s *SimNode) issue(key, value string) error {
	if !s.up {
		return fmt.Errorf("issue to %s: node is down", s.Name)
	}
	return s.call("http.HTTP/HandleSimple", "refvm.issueTx "+key, func(ctx context.Context) (string, error) {
		var reply struct {
			TxID string `json:"txID"`
		}
		err := s.rpc.JSONRPC(ctx, "", "refvm.issueTx", map[string]string{"key": key, "value": value}, &reply)
		return "", err
	})
}
