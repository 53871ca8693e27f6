package avalanche

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/ava-labs/avalanchego/ids"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/transport"
)

var (
	errNoTarget   = errors.New("no plugin: set Config.Plugin or Config.InProcess")
	errTwoTargets = errors.New("set only one of Config.Plugin and Config.InProcess")
	errNoBufnet   = errors.New("Config.InProcess needs Config.Bufnet, the address book it listens on")
)

// suite is the state of one Register call: its configuration and what went
// wrong while launching (the CLI turns a launch failure into exit code 2).
type suite struct {
	cfg      Config
	deadline time.Time // the run's end (Config.Timeout), set when it starts
	running  inflight  // VM calls in flight

	mu          sync.Mutex
	launchErr   error
	protocolErr error // the plugin speaks another protocol ([AVA-HSK-001])
	seed        int64
	launches    int             // how many nodes launch created (names DBDir subdirectories)
	ran         map[string]bool // specs that ran (see needs)
}

func newSuite(cfg Config) *suite {
	s := &suite{cfg: cfg.withDefaults(), seed: cfg.Seed, ran: map[string]bool{}}
	s.deadline = time.Now().Add(s.cfg.Timeout)
	return s
}

// begin starts the run's clock: Config.Timeout counts from here.
func (s *suite) begin() { s.deadline = time.Now().Add(s.cfg.Timeout) }

func (s *suite) recordLaunchErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.launchErr == nil {
		s.launchErr = err
	}
}

// LaunchErr is the first error met while starting the plugin, if any.
func (s *suite) LaunchErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.launchErr
}

// target is one launched plugin together with the fake node serving it.
type target struct {
	s      *suite
	cfg    Config
	node   *avalanchego.Node
	plugin *avalanchego.Plugin
	vm     vmpb.VMClient

	genesis Block // the last accepted block Initialize reported

	store *store     // the chain's database, kept across a restart
	db    *watchedDB // this launch's view of it, served by the node

	handlers []*vmpb.Handler           // CreateHandlers' answer, once asked
	clients  []*avalanchego.HTTPClient // HTTP clients to close
	wl       Workload                  // the workload in use, once picked
	wlHTTP   *avalanchego.HTTPClient   // the handler the workload talks to

	shutMu   sync.Mutex
	shutDone bool  // Shutdown was sent (AvalancheGo sends it once)
	shutErr  error // its outcome

	peerAsks atomic.Uint32 // requests answeringPeer made of this VM (answerAsPeer)
}

// appRequestTimeout is how long the node waits for a peer to answer the
// VM's AppRequest before it delivers AppRequestFailed.
func appRequestTimeout(cfg Config) time.Duration { return cfg.CallTimeout }

// launch creates a node on a fresh database and starts the plugin. The
// caller must close the target; on error nothing is left running.
func (s *suite) launch(ctx context.Context) (*target, error) {
	return s.launchOn(ctx, nil)
}

// relaunch starts a new plugin and node on prev's database, as AvalancheGo
// restarts a chain; prev's plugin must have ended.
func (s *suite) relaunch(ctx context.Context, prev *target) (*target, error) {
	return s.launchOn(ctx, prev.store)
}

// launchOn launches on st, or on a fresh database when st is nil.
func (s *suite) launchOn(ctx context.Context, st *store) (*target, error) {
	cfg := s.cfg
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	genesis := cfg.Genesis
	if len(genesis) == 0 && cfg.Workload != nil {
		g, err := cfg.Workload.Genesis()
		if err != nil {
			return nil, fmt.Errorf("workload %s genesis: %w", cfg.Workload.Name(), err)
		}
		genesis = g
	}
	var tr transport.Transport = transport.TCP{}
	if cfg.InProcess != nil {
		tr = cfg.Bufnet
	}
	if st == nil {
		dbDir := ""
		if cfg.DBDir != "" {
			s.mu.Lock()
			s.launches++
			dbDir = filepath.Join(cfg.DBDir, fmt.Sprintf("launch-%d", s.launches))
			s.mu.Unlock()
		}
		var err error
		if st, err = newStore(dbDir); err != nil {
			return nil, err
		}
	}
	db := st.open()
	t := &target{s: s, cfg: cfg, store: st, db: db}
	node, err := avalanchego.NewNode(ctx, avalanchego.NodeConfig{
		Transport:    tr,
		Database:     db,
		Seed:         s.seed,
		NetworkID:    cfg.NetworkID,
		Genesis:      genesis,
		Upgrade:      cfg.Upgrade,
		Config:       cfg.ChainConfig,
		SubnetConfig: cfg.SubnetConfig,
		NodeVersion:  cfg.nodeVersion(),
		Trace:        cfg.Trace,
		// The node answers the VM's AppRequests: answeringPeer as this
		// VM answers, other peers never (AppRequestFailed at the timeout).
		AppRequestTimeout: appRequestTimeout(cfg),
		PeerApp:           t.answerAsPeer,
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("start fake node: %w", err), st.release())
	}
	lc := avalanchego.LaunchConfig{
		Protocol:         cfg.Protocol,
		SameWire:         cfg.SameWire,
		HandshakeTimeout: cfg.HandshakeTimeout,
		ShutdownTimeout:  cfg.ShutdownTimeout,
		GracefulTimeout:  cfg.GracePeriod,
		Log:              cfg.Log,
		Notices:          cfg.notices(),
		Trace:            cfg.Trace,
	}
	var p *avalanchego.Plugin
	if cfg.InProcess != nil {
		p, err = avalanchego.LaunchInProcess(ctx, cfg.Bufnet, cfg.InProcess, lc)
	} else {
		p, err = avalanchego.LaunchProcess(ctx, cfg.Plugin, lc)
	}
	if err != nil {
		_ = node.Close()
		_ = st.release()
		return nil, err
	}
	t.node, t.plugin, t.vm = node, p, p.VM
	node.RouteApp(p.VM)
	return t, nil
}

// close stops the plugin as AvalancheGo stops a chain (Shutdown, unless
// a spec sent it already, the node's services, SIGTERM, grace, SIGKILL),
// then the node. Bounded by the run's Timeout; the plugin is reaped anyway.
func (t *target) close() error {
	ctx, cancel := t.s.runCtx(context.Background())
	defer cancel()
	var errs []error
	for _, c := range t.clients {
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close HTTP client: %w", err))
		}
	}
	_ = t.shutdown(ctx) // tracked and sealed; StopChain reports its outcome
	if err := avalanchego.StopChain(context.WithoutCancel(ctx), t.plugin, t.node); err != nil {
		errs = append(errs, err)
	}
	if err := t.node.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close node: %w", err))
	}
	if err := t.store.release(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// initialize sends the node's complete InitializeRequest (bounded by
// InitializeTimeout only) and records the last accepted block it reports.
func (t *target) initialize(ctx context.Context) (*vmpb.InitializeResponse, error) {
	var resp *vmpb.InitializeResponse
	err := t.do(ctx, "Initialize", t.cfg.InitializeTimeout, func(ctx context.Context) (err error) {
		resp, err = t.vm.Initialize(ctx, t.node.InitializeRequest(t.cfg.Protocol))
		return err
	})
	if err != nil {
		return nil, err
	}
	blk, err := blockFromFields(resp.GetLastAcceptedId(), resp.GetLastAcceptedParentId(), resp.GetHeight(), resp.GetTimestamp(), resp.GetBytes())
	if err != nil {
		return resp, fmt.Errorf("decode the Initialize reply: %w", err)
	}
	t.genesis = blk
	return resp, nil
}

// setState calls SetState and decodes the last accepted block it reports.
func (t *target) setState(ctx context.Context, st vmpb.State) (Block, error) {
	var resp *vmpb.SetStateResponse
	name := fmt.Sprintf("SetState(%s)", st)
	err := t.doCall(ctx, name, func(ctx context.Context) (err error) {
		resp, err = t.vm.SetState(ctx, &vmpb.SetStateRequest{State: st})
		return err
	})
	if err != nil {
		return Block{}, err
	}
	blk, err := blockFromFields(resp.GetLastAcceptedId(), resp.GetLastAcceptedParentId(), resp.GetHeight(), resp.GetTimestamp(), resp.GetBytes())
	if err != nil {
		return Block{}, fmt.Errorf("%s reply: %w", name, err)
	}
	return blk, nil
}

// bootstrap is the start of a chain up to bootstrapping: Initialize,
// SetState(Bootstrapping).
func (t *target) bootstrap(ctx context.Context) error {
	if _, err := t.initialize(ctx); err != nil {
		return err
	}
	_, err := t.setState(ctx, vmpb.State_STATE_BOOTSTRAPPING)
	return err
}

// normalOp ends bootstrapping as AvalancheGo does: SetPreference(last
// accepted), SetState(NormalOp). It returns the last accepted block.
func (t *target) normalOp(ctx context.Context, last ids.ID) (Block, error) {
	if err := t.setPreference(ctx, last); err != nil {
		return Block{}, err
	}
	return t.setState(ctx, vmpb.State_STATE_NORMAL_OP)
}

// start brings the VM to normal operation as AvalancheGo does:
// Initialize, SetState(Bootstrapping), SetPreference(last accepted),
// SetState(NormalOp).
func (t *target) start(ctx context.Context) error {
	if err := t.bootstrap(ctx); err != nil {
		return err
	}
	_, err := t.normalOp(ctx, t.genesis.ID)
	return err
}

// version calls Version.
func (t *target) version(ctx context.Context) (string, error) {
	var resp *vmpb.VersionResponse
	err := t.doCall(ctx, "Version", func(ctx context.Context) (err error) {
		resp, err = t.vm.Version(ctx, &emptypb.Empty{})
		return err
	})
	return resp.GetVersion(), err
}

// shutdown sends the Shutdown RPC once, as AvalancheGo does (bounded by
// ShutdownTimeout only); later calls return the first outcome.
func (t *target) shutdown(ctx context.Context) error {
	t.shutMu.Lock()
	defer t.shutMu.Unlock()
	if t.shutDone {
		return t.shutErr
	}
	t.shutDone = true
	select {
	case <-t.plugin.Exited():
		t.shutErr = fmt.Errorf("the plugin had exited (%s) before Shutdown was sent", t.plugin.ExitStatus())
		return t.shutErr
	default:
	}
	// Plugin.Shutdown sends it at most once (StopChain, a Sequencer's
	// Stop); it applies ShutdownTimeout itself.
	t.shutErr = t.run(ctx, "Shutdown", 0, func(ctx context.Context) error {
		return t.plugin.Shutdown(ctx)
	})
	if t.shutErr == nil {
		t.db.seal()
	}
	return t.shutErr
}

// terminate ends the plugin process (SIGTERM, GracePeriod, SIGKILL) and
// waits for it; Shutdown is the caller's business.
func (t *target) terminate() error {
	return t.plugin.Terminate(context.Background())
}
