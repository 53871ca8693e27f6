package avalanche

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/internal/transport"
)

var (
	errNoTarget   = errors.New("no plugin: set Config.Plugin or Config.InProcess")
	errTwoTargets = errors.New("set only one of Config.Plugin and Config.InProcess")
	errNoBufnet   = errors.New("Config.InProcess needs Config.Bufnet, the address book it listens on")
)

// suite is the state of one Register call: its configuration and what went
// wrong while launching (the CLI turns a launch failure into exit code 2).
type suite struct {
	cfg Config

	mu        sync.Mutex
	launchErr error
	seed      int64
	launches  int // how many nodes launch created (names DBDir subdirectories)
}

func newSuite(cfg Config) *suite { return &suite{cfg: cfg.withDefaults(), seed: cfg.Seed} }

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
	cfg    Config
	node   *avalanchego.Node
	plugin *avalanchego.Plugin
	vm     vmpb.VMClient

	genesis Block // the last accepted block Initialize reported

	handlers []*vmpb.Handler           // CreateHandlers' answer, once asked
	clients  []*avalanchego.HTTPClient // HTTP clients to close
	wl       Workload                  // the workload in use, once picked
	wlHTTP   *avalanchego.HTTPClient   // the handler the workload talks to
}

// launch creates a node and starts the plugin. The caller must close the
// target; on error nothing is left running.
func (s *suite) launch(ctx context.Context) (*target, error) {
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
	dbDir := ""
	if cfg.DBDir != "" {
		s.mu.Lock()
		s.launches++
		dbDir = filepath.Join(cfg.DBDir, fmt.Sprintf("launch-%d", s.launches))
		s.mu.Unlock()
	}
	node, err := avalanchego.NewNode(ctx, avalanchego.NodeConfig{
		Transport: tr,
		DBDir:     dbDir,
		Seed:      s.seed,
		Genesis:   genesis,
		Config:    cfg.ChainConfig,
		Trace:     cfg.Trace,
	})
	if err != nil {
		return nil, fmt.Errorf("start fake node: %w", err)
	}
	lc := avalanchego.LaunchConfig{
		Protocol:         cfg.Protocol,
		HandshakeTimeout: cfg.HandshakeTimeout,
		ShutdownTimeout:  cfg.ShutdownTimeout,
		GracefulTimeout:  cfg.ShutdownTimeout,
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
		return nil, err
	}
	return &target{cfg: cfg, node: node, plugin: p, vm: p.VM}, nil
}

// stopBound is how long close may take: a Shutdown call, the grace period
// and a margin for SIGKILL.
func (t *target) stopBound() time.Duration {
	return t.cfg.CallTimeout + t.cfg.ShutdownTimeout + 2*time.Second
}

// close stops the plugin and the node.
func (t *target) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), t.stopBound())
	defer cancel()
	var errs []error
	for _, c := range t.clients {
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close HTTP client: %w", err))
		}
	}
	if err := t.plugin.Stop(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop plugin: %w", err))
	}
	if err := t.node.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close node: %w", err))
	}
	return errors.Join(errs...)
}

// call bounds one VM call by CallTimeout.
func (t *target) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, t.cfg.CallTimeout)
}

// initialize sends the node's complete InitializeRequest and records genesis.
func (t *target) initialize(ctx context.Context) (*vmpb.InitializeResponse, error) {
	cctx, cancel := t.call(ctx)
	defer cancel()
	resp, err := t.vm.Initialize(cctx, t.node.InitializeRequest(t.cfg.Protocol))
	if err != nil {
		return nil, fmt.Errorf("call Initialize: %w", err)
	}
	blk, err := blockFromFields(resp.GetLastAcceptedId(), resp.GetLastAcceptedParentId(), resp.GetHeight(), resp.GetTimestamp(), resp.GetBytes())
	if err != nil {
		return resp, fmt.Errorf("decode Initialize reply: %w", err)
	}
	t.genesis = blk
	return resp, nil
}

// setState calls SetState and decodes the last accepted block it reports.
func (t *target) setState(ctx context.Context, st vmpb.State) (Block, error) {
	cctx, cancel := t.call(ctx)
	defer cancel()
	resp, err := t.vm.SetState(cctx, &vmpb.SetStateRequest{State: st})
	if err != nil {
		return Block{}, fmt.Errorf("SetState(%s): %w", st, err)
	}
	blk, err := blockFromFields(resp.GetLastAcceptedId(), resp.GetLastAcceptedParentId(), resp.GetHeight(), resp.GetTimestamp(), resp.GetBytes())
	if err != nil {
		return Block{}, fmt.Errorf("SetState(%s) reply: %w", st, err)
	}
	return blk, nil
}

// start brings the VM to normal operation as AvalancheGo does:
// Initialize, SetState(Bootstrapping), SetPreference(last accepted),
// SetState(NormalOp).
func (t *target) start(ctx context.Context) error {
	if _, err := t.initialize(ctx); err != nil {
		return err
	}
	if _, err := t.setState(ctx, vmpb.State_STATE_BOOTSTRAPPING); err != nil {
		return err
	}
	if err := t.setPreference(ctx, t.genesis.ID); err != nil {
		return err
	}
	_, err := t.setState(ctx, vmpb.State_STATE_NORMAL_OP)
	return err
}

// version calls Version.
func (t *target) version(ctx context.Context) (string, error) {
	cctx, cancel := t.call(ctx)
	defer cancel()
	resp, err := t.vm.Version(cctx, &emptypb.Empty{})
	if err != nil {
		return "", fmt.Errorf("call Version: %w", err)
	}
	return resp.GetVersion(), nil
}

// shutdown calls the Shutdown RPC (not the launcher's Stop).
func (t *target) shutdown(ctx context.Context) error {
	cctx, cancel := t.call(ctx)
	defer cancel()
	if _, err := t.vm.Shutdown(cctx, &emptypb.Empty{}); err != nil {
		return fmt.Errorf("call Shutdown: %w", err)
	}
	return nil
}

// settledExitStatus is the plugin's exit status once a call failed: a
// plugin that died is reaped a moment after its connection drops, so wait
// for that (at most exitSettle) before reporting "" (still running).
func (t *target) settledExitStatus() string {
	select {
	case <-t.plugin.Exited():
	case <-time.After(exitSettle):
	}
	return t.plugin.ExitStatus()
}

// exitSettle bounds settledExitStatus's wait.
const exitSettle = 2 * time.Second
