package avalanchego

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/ava-labs/avalanchego/ids"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
)

// DefaultNodeVersion is what Connected reports when Sequencer.NodeVersion is empty.
const DefaultNodeVersion = "avalanchego/1.14.2"

// Sequencer drives AvalancheGo's call sequence (spec: "Call sequence") on a
// launched plugin. Set the exported fields, then Start.
type Sequencer struct {
	Node        *Node
	Plugin      *Plugin
	Protocol    uint         // 0 = Plugin.Protocol
	Peers       []ids.NodeID // connected besides the node itself
	NodeVersion string       // "avalanchego/1.14.2" by default

	mu           sync.Mutex
	started      bool
	lastAccepted BlockInfo
	events       chan vmpb.Message
	loopCancel   context.CancelFunc
	loopDone     chan struct{}
	genCancel    context.CancelFunc // the pending WaitForEvent of the loop
	heldCh       chan struct{}      // closed while the loop holds an untaken event (EventReady)
	loopErr      error
}

// StartResult is what Start learned.
type StartResult struct {
	LastAccepted    BlockInfo
	Handlers        []*vmpb.Handler
	HTTPHandlerAddr string // "" if the plugin has none
	StateSync       bool   // StateSyncEnabled said true and the sync ran
	Version         string // from a Version call after SetState(NormalOp)
}

// PreInit is AvalancheGo's per-plugin start-up check on a throwaway launch:
// Version, then Shutdown and the end of the process (p.Stop).
func PreInit(ctx context.Context, p *Plugin) (string, error) {
	v, err := p.VM.Version(ctx, &emptypb.Empty{})
	stopErr := p.Stop(ctx)
	if err != nil {
		return "", fmt.Errorf("pre-init version: %w", err)
	}
	if stopErr != nil {
		return v.GetVersion(), fmt.Errorf("pre-init: %w", stopErr)
	}
	return v.GetVersion(), nil
}

// Start runs steps 2-4 of the sequence: Initialize -> CreateHandlers ->
// NewHTTPHandler -> StateSyncEnabled (-> the state-sync path) ->
// SetState(Bootstrapping) -> Connected(self, peers) with a WaitForEvent
// pending -> cancel it -> SetPreference(last accepted) -> SetState(NormalOp),
// then Version, then starts the WaitForEvent loop feeding Events.
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
	s.mu.Unlock()
	if s.Protocol == 0 {
		s.Protocol = s.Plugin.Protocol
	}
	vm := s.Plugin.VM
	res := &StartResult{}

	init, err := vm.Initialize(ctx, s.Node.InitializeRequest(s.Protocol))
	if err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	if res.LastAccepted, err = blockInfo("initialize", init.GetLastAcceptedId(), init.GetLastAcceptedParentId(), init.GetHeight(), init.GetTimestamp(), init.GetBytes()); err != nil {
		return nil, err
	}
	handlers, err := vm.CreateHandlers(ctx, &emptypb.Empty{})
	if err != nil {
		return nil, fmt.Errorf("create handlers: %w", err)
	}
	res.Handlers = handlers.GetHandlers()
	if s.Protocol >= 42 {
		h, err := vm.NewHTTPHandler(ctx, &emptypb.Empty{})
		if err != nil {
			return nil, fmt.Errorf("new http handler: %w", err)
		}
		res.HTTPHandlerAddr = h.GetServerAddr()
	}
	ss, err := vm.StateSyncEnabled(ctx, &emptypb.Empty{})
	if err != nil {
		return nil, fmt.Errorf("state sync enabled: %w", err)
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
	if err := s.bootstrap(ctx); err != nil {
		return nil, err
	}
	if _, err := vm.SetPreference(ctx, &vmpb.SetPreferenceRequest{Id: res.LastAccepted.ID[:]}); err != nil {
		return nil, fmt.Errorf("set preference %s: %w", res.LastAccepted.ID, err)
	}
	if res.LastAccepted, err = s.setState(ctx, vmpb.State_STATE_NORMAL_OP); err != nil {
		return nil, err
	}
	// Not part of AvalancheGo's chain start (it asks in pre-init); asked here,
	// in steady state, so StartResult is self-contained.
	v, err := vm.Version(ctx, &emptypb.Empty{})
	if err != nil {
		return nil, fmt.Errorf("version: %w", err)
	}
	res.Version = v.GetVersion()
	s.mu.Lock()
	s.lastAccepted = res.LastAccepted
	s.mu.Unlock()
	s.startLoop()
	return res, nil
}

func (s *Sequencer) setState(ctx context.Context, st vmpb.State) (BlockInfo, error) {
	r, err := s.Plugin.VM.SetState(ctx, &vmpb.SetStateRequest{State: st})
	if err != nil {
		return BlockInfo{}, fmt.Errorf("set state %s: %w", st, err)
	}
	return blockInfo("set state "+st.String(), r.GetLastAcceptedId(), r.GetLastAcceptedParentId(), r.GetHeight(), r.GetTimestamp(), r.GetBytes())
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

// bootstrap: a WaitForEvent opened at once and left pending while Connected
// is called for the node itself and each peer, then cancelled. Before
// protocol 42 there is no WaitForEvent: notifications that arrive while
// bootstrapping are dropped instead.
func (s *Sequencer) bootstrap(ctx context.Context) error {
	if UsesMessenger(s.Protocol) {
		if err := s.connectAll(ctx); err != nil {
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
	if err := s.connectAll(ctx); err != nil {
		cancel()
		<-waited
		return err
	}
	cancel()
	// An event that arrived during bootstrapping is dropped, as the node does.
	if err := <-waited; err != nil && status.Code(err) != codes.Canceled {
		return fmt.Errorf("wait for event during bootstrapping: %w", err)
	}
	return nil
}

// connectAll calls Connected for the node itself and each peer.
func (s *Sequencer) connectAll(ctx context.Context) error {
	name, major, minor, patch := parseNodeVersion(s.NodeVersion)
	for _, id := range append([]ids.NodeID{s.Node.NodeID()}, s.Peers...) {
		req := &vmpb.ConnectedRequest{NodeId: id.Bytes(), Name: name, Major: major, Minor: minor, Patch: patch}
		if _, err := s.Plugin.VM.Connected(ctx, req); err != nil {
			return fmt.Errorf("connected %s: %w", id, err)
		}
	}
	return nil
}

func parseNodeVersion(v string) (name string, major, minor, patch uint32) {
	if v == "" {
		v = DefaultNodeVersion
	}
	name, num, _ := strings.Cut(v, "/")
	parts := strings.SplitN(strings.TrimPrefix(num, "v"), ".", 3)
	out := [3]uint32{}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err == nil {
			out[i] = uint32(n)
		}
	}
	return name, out[0], out[1], out[2]
}

// Health calls VM.Health and returns its details.
func (s *Sequencer) Health(ctx context.Context) ([]byte, error) {
	r, err := s.Plugin.VM.Health(ctx, &emptypb.Empty{})
	if err != nil {
		return nil, fmt.Errorf("health: %w", err)
	}
	return r.GetDetails(), nil
}

// LastAccepted is the last block the sequencer saw accepted.
func (s *Sequencer) LastAccepted() BlockInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastAccepted
}

// Stop cancels the WaitForEvent loop, then stops the plugin (Shutdown,
// SIGTERM, SIGKILL). The Node stays open.
func (s *Sequencer) Stop(ctx context.Context) error {
	s.stopLoop()
	if s.Plugin == nil {
		return nil
	}
	return s.Plugin.Stop(ctx)
}
