package avalanchego

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ava-labs/avalanchego/ids"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
)

// Defaults of the Sequencer's background loops, as AvalancheGo's.
const (
	// DefaultHealthPeriod is AvalancheGo's health-check-frequency.
	DefaultHealthPeriod = 30 * time.Second
	// waitRetry is how long the WaitForEvent loop waits after an error
	// before it asks again (snow/engine/common's errThrottleTime).
	waitRetry = 100 * time.Millisecond
)

// Sequencer drives AvalancheGo's call sequence (spec: "Call sequence") on a
// launched plugin. Set the exported fields, then Start; Stop when done.
type Sequencer struct {
	Node     *Node
	Plugin   *Plugin
	Protocol uint         // 0 = Plugin.Protocol
	Peers    []ids.NodeID // connected besides the node itself
	// NodeVersion is what Connected reports; "" = NodeConfig.NodeVersion,
	// else the release of the protocol the node emulates.
	NodeVersion string
	// HealthPeriod is how often VM.Health is called from the start of
	// bootstrapping on (AvalancheGo's health checks); 0 =
	// DefaultHealthPeriod, negative = never.
	HealthPeriod time.Duration
	// GatherPeriod is how often VM.Gather is called, as when something
	// scrapes the node's metrics (tmpnet does); 0 = never.
	GatherPeriod time.Duration

	mu           sync.Mutex
	started      bool
	lastAccepted BlockInfo
	blocks       blockCache
	events       chan vmpb.Message
	loopCancel   context.CancelFunc
	loopDone     chan struct{}
	stopping     chan struct{}      // closed when Stop begins: the loop asks no more
	genCancel    context.CancelFunc // the pending WaitForEvent of the loop
	heldCh       chan struct{}      // closed while the loop holds an untaken event (EventReady)
	loopErr      error
	health       healthState
	bgQuit       chan struct{}      // closed: the Health and Gather loops take no new tick
	bgCancel     context.CancelFunc // cancels a loop's call in flight (after bgStopGrace)
	bg           sync.WaitGroup
}

// StartResult is what Start learned.
type StartResult struct {
	LastAccepted    BlockInfo
	Handlers        []*vmpb.Handler
	HTTPHandlerAddr string // "" if the plugin has none
	StateSync       bool   // StateSyncEnabled said true and the sync ran
}

// PreInit is AvalancheGo's per-plugin start-up check on a throwaway launch:
// Version, then Shutdown and the end of the process (p.Stop). It is the
// only place AvalancheGo asks a plugin for its version.
func PreInit(ctx context.Context, p *Plugin) (string, error) {
	v, err := p.VM.Version(ctx, &emptypb.Empty{})
	stopErr := p.Stop(ctx)
	if err != nil {
		return "", fmt.Errorf("pre-init: %w", p.Diagnose("Version", err))
	}
	if stopErr != nil {
		return v.GetVersion(), fmt.Errorf("pre-init: %w", stopErr)
	}
	return v.GetVersion(), nil
}

// Start runs steps 2-4 of the sequence: Initialize -> CreateHandlers ->
// NewHTTPHandler -> StateSyncEnabled (-> the state-sync path) ->
// SetState(Bootstrapping) -> Connected(self) -> with a WaitForEvent
// pending: Connected(peers), GetBlockIDAtHeight(0) for the node's own
// GetAccepted query, SetPreference(last accepted) -> that WaitForEvent
// ends Canceled -> SetState(NormalOp), then starts the
// WaitForEvent loop feeding Events, and the Health (and Gather) loops.
// Initialize has no time limit but ctx, as in AvalancheGo.
func (s *Sequencer) Start(ctx context.Context) (*StartResult, error) {
	if s.Node == nil || s.Plugin == nil {
		return nil, errors.New("sequencer: Node and Plugin are required")
	}
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return nil, errors.New("sequencer: already started")
	}
	s.started = true
	s.stopping = make(chan struct{})
	s.mu.Unlock()
	if s.Protocol == 0 {
		s.Protocol = s.Plugin.Protocol
	}
	s.Node.RouteApp(s.Plugin.VM)
	vm := s.Plugin.VM
	res := &StartResult{}

	init, err := vm.Initialize(ctx, s.Node.InitializeRequest(s.Protocol))
	if err != nil {
		return nil, s.Plugin.Diagnose("Initialize", err)
	}
	if res.LastAccepted, err = ParseBlockInfo("initialize", init.GetLastAcceptedId(), init.GetLastAcceptedParentId(), init.GetHeight(), init.GetTimestamp(), init.GetBytes()); err != nil {
		return nil, err
	}
	s.blocks.put(res.LastAccepted)
	handlers, err := vm.CreateHandlers(ctx, &emptypb.Empty{})
	if err != nil {
		return nil, s.Plugin.Diagnose("CreateHandlers", err)
	}
	res.Handlers = handlers.GetHandlers()
	if s.Protocol >= 42 {
		h, err := vm.NewHTTPHandler(ctx, &emptypb.Empty{})
		if err != nil {
			return nil, s.Plugin.Diagnose("NewHTTPHandler", err)
		}
		res.HTTPHandlerAddr = h.GetServerAddr()
	}
	ss, err := vm.StateSyncEnabled(ctx, &emptypb.Empty{})
	if err != nil {
		return nil, s.Plugin.Diagnose("StateSyncEnabled", err)
	}
	if ss.GetEnabled() {
		if err := s.stateSync(ctx); err != nil {
			return nil, err
		}
		res.StateSync = true
	}
	if res.LastAccepted, err = s.setState(ctx, vmpb.State_STATE_BOOTSTRAPPING); err != nil {
		return nil, err
	}
	s.startBackground()
	if err := s.bootstrap(ctx, res.LastAccepted); err != nil {
		return nil, err
	}
	if res.LastAccepted, err = s.setState(ctx, vmpb.State_STATE_NORMAL_OP); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.lastAccepted = res.LastAccepted
	s.mu.Unlock()
	s.startLoop()
	return res, nil
}

func (s *Sequencer) setState(ctx context.Context, st vmpb.State) (BlockInfo, error) {
	r, err := s.Plugin.VM.SetState(ctx, &vmpb.SetStateRequest{State: st})
	if err != nil {
		return BlockInfo{}, s.Plugin.Diagnose("SetState("+st.String()+")", err)
	}
	b, err := ParseBlockInfo("set state "+st.String(), r.GetLastAcceptedId(), r.GetLastAcceptedParentId(), r.GetHeight(), r.GetTimestamp(), r.GetBytes())
	if err == nil {
		s.blocks.put(b)
	}
	return b, err
}

// waitEvent is the VM's next event: VM.WaitForEvent, or for a plugin of
// protocol < 42 the next messenger.Messenger/Notify it sent the node.
func (s *Sequencer) waitEvent(ctx context.Context) (vmpb.Message, error) {
	if !UsesMessenger(s.Protocol) {
		ev, err := s.Plugin.VM.WaitForEvent(ctx, &emptypb.Empty{})
		return ev.GetMessage(), err
	}
	select {
	case msg, ok := <-s.Node.Notifications():
		if !ok {
			return vmpb.Message_MESSAGE_UNSPECIFIED, errors.New("node closed")
		}
		return msg, nil
	case <-ctx.Done():
		return vmpb.Message_MESSAGE_UNSPECIFIED, status.FromContextError(ctx.Err()).Err()
	}
}

// bootstrap is the end of bootstrapping on a node with nothing to fetch:
// Connected for the node itself, then a WaitForEvent opened and left
// pending while Connected is called for each peer, GetBlockIDAtHeight(0)
// answers the node's own GetAccepted query (a real node asks again for
// each peer that bootstraps from it later; these peers do not), and
// SetPreference(last accepted) goes out; then that WaitForEvent is
// cancelled and awaited. Before protocol 42 there is no WaitForEvent:
// notifications that arrive while bootstrapping are dropped instead.
func (s *Sequencer) bootstrap(ctx context.Context, last BlockInfo) error {
	self := s.Node.NodeID()
	// steps are the calls made while the bootstrapping WaitForEvent is open.
	steps := func() error {
		if err := s.connect(ctx, s.Peers...); err != nil {
			return err
		}
		r, err := s.Plugin.VM.GetBlockIDAtHeight(ctx, &vmpb.GetBlockIDAtHeightRequest{Height: 0})
		if err != nil {
			return s.Plugin.Diagnose("GetBlockIDAtHeight(0)", err)
		}
		if e := r.GetErr(); e != vmpb.Error_ERROR_UNSPECIFIED {
			return fmt.Errorf("GetBlockIDAtHeight(0) while bootstrapping: %s", e)
		}
		if _, err := s.Plugin.VM.SetPreference(ctx, &vmpb.SetPreferenceRequest{Id: last.ID[:]}); err != nil {
			return s.Plugin.Diagnose("SetPreference("+last.ID.String()+")", err)
		}
		return nil
	}
	// The node connects to itself first (every recorded chain: Connected
	// of the node starts 60-120 µs before the bootstrapping WaitForEvent).
	if err := s.connect(ctx, self); err != nil {
		return err
	}
	if UsesMessenger(s.Protocol) {
		if err := steps(); err != nil {
			return err
		}
		for {
			select {
			case <-s.Node.Notifications():
			default:
				return nil
			}
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	waited := make(chan error, 1)
	go func() {
		_, err := s.Plugin.VM.WaitForEvent(wctx, &emptypb.Empty{})
		waited <- err
	}()
	err := steps()
	cancel()
	// An event that arrived during bootstrapping is dropped, as the node does.
	if werr := <-waited; err == nil && werr != nil && status.Code(werr) != codes.Canceled {
		return s.Plugin.Diagnose("WaitForEvent (while bootstrapping)", werr)
	}
	return err
}

// connect calls Connected for each node, announcing the node's version.
func (s *Sequencer) connect(ctx context.Context, nodes ...ids.NodeID) error {
	for _, id := range nodes {
		if _, err := s.Plugin.VM.Connected(ctx, ConnectedRequest(id, s.nodeVersion())); err != nil {
			return s.Plugin.Diagnose("Connected("+id.String()+")", err)
		}
		s.Node.SetConnected(id, true)
	}
	return nil
}

// nodeVersion is what Connected announces.
func (s *Sequencer) nodeVersion() string {
	switch {
	case s.NodeVersion != "":
		return s.NodeVersion
	case s.Node.cfg.NodeVersion != "":
		return s.Node.cfg.NodeVersion
	}
	return NodeVersionForProtocol(s.Plugin.cfg.Protocol)
}

// ConnectedRequest is the VM.Connected request AvalancheGo sends when node
// connects, announcing version ("avalanchego/1.14.2": the name, and the
// release's numbers, as the node's version.Application).
func ConnectedRequest(node ids.NodeID, version string) *vmpb.ConnectedRequest {
	name, num, _ := strings.Cut(version, "/")
	parts := strings.SplitN(strings.TrimPrefix(num, "v"), ".", 3)
	out := [3]uint32{}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err == nil {
			out[i] = uint32(n)
		}
	}
	return &vmpb.ConnectedRequest{NodeId: node.Bytes(), Name: name, Major: out[0], Minor: out[1], Patch: out[2]}
}

// Health calls VM.Health as AvalancheGo's health check does (fail fast:
// no waiting for a connection) and returns its details.
func (s *Sequencer) Health(ctx context.Context) ([]byte, error) {
	r, err := s.Plugin.VM.Health(ctx, &emptypb.Empty{}, grpc.WaitForReady(false))
	if err != nil {
		return nil, s.Plugin.Diagnose("Health", err)
	}
	return r.GetDetails(), nil
}

// LastAccepted is the last block the sequencer saw accepted.
func (s *Sequencer) LastAccepted() BlockInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastAccepted
}

// Stop ends the chain as AvalancheGo does: the background loops stop, the
// WaitForEvent loop asks no more and its pending call is cancelled, then
// Shutdown goes out (no bound but ctx and LaunchConfig.ShutdownTimeout),
// the node's services for the plugin stop, then SIGTERM, grace, SIGKILL.
// The recordings of AvalancheGo v1.14.2 show the order: in every chain
// process with a WaitForEvent pending at the stop, it ends Canceled before
// Shutdown starts (fidelity rule "chain closed-at WaitForEvent Shutdown").
// The Node stays open for Close.
func (s *Sequencer) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.stopping != nil {
		select {
		case <-s.stopping:
		default:
			close(s.stopping)
		}
	}
	s.mu.Unlock()
	s.stopBackground()
	s.stopLoop()
	if s.Plugin == nil {
		return nil
	}
	if s.Node != nil {
		return StopChain(ctx, s.Plugin, s.Node)
	}
	return s.Plugin.Stop(ctx)
}
