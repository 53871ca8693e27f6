package avalanchego

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"

	"github.com/vmtestbed/vmtestbed/transport"
)

// Defaults of LaunchConfig, equal to AvalancheGo's.
const (
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultGracefulTimeout  = 5 * time.Second
)

// LaunchConfig says how to start a plugin.
type LaunchConfig struct {
	Protocol uint // protocol the fake emulates; 0 = NewestProtocol
	// SameWire also accepts a plugin whose protocol differs from Protocol
	// but has an identical wire (45/46, 42/43), with a notice. AvalancheGo
	// requires an exact match, and so does the default.
	SameWire         bool
	HandshakeTimeout time.Duration // 0 = 5s
	// ShutdownTimeout bounds the Shutdown RPC; 0 = no bound but the
	// caller's context, as AvalancheGo puts none on it.
	ShutdownTimeout time.Duration
	GracefulTimeout time.Duration // SIGTERM -> SIGKILL wait; 0 = 5s
	Log             io.Writer     // plugin stdout/stderr copied here (nil = discard); a tail is kept regardless
	Notices         io.Writer     // e.g. "plugin speaks 45, emulating 46: identical wire" (nil = discard)
	Trace           *Trace        // nil = no tracing
}

func (c LaunchConfig) withDefaults() LaunchConfig {
	if c.Protocol == 0 {
		c.Protocol = NewestProtocol
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.GracefulTimeout <= 0 {
		c.GracefulTimeout = DefaultGracefulTimeout
	}
	return c
}

// Launch phases named in a LaunchError.
const (
	PhaseStart     = "start"
	PhaseHandshake = "handshake"
	PhaseProtocol  = "protocol"
)

// LaunchError is why a plugin did not come up.
type LaunchError struct {
	Path       string // binary path, or "in-process"
	Phase      string // PhaseStart, PhaseHandshake or PhaseProtocol
	ExitStatus string // "exit status 2", "signal: killed", "" if it was still running
	StderrTail string // last lines of the plugin's stderr+stdout
	Err        error
}

func (e *LaunchError) Error() string {
	msg := fmt.Sprintf("launch plugin %s: %s: %v", e.Path, e.Phase, e.Err)
	if e.ExitStatus != "" {
		msg += "; plugin " + e.ExitStatus
	}
	if e.StderrTail != "" {
		msg += "\nplugin output (last lines):\n" + e.StderrTail
	} else {
		msg += "\nplugin output: (none)"
	}
	return msg
}

func (e *LaunchError) Unwrap() error { return e.Err }

// ErrHandshakeTimeout: the plugin never called Runtime/Initialize in time.
var ErrHandshakeTimeout = errors.New("no Runtime/Initialize handshake within the timeout")

// ErrExitedBeforeHandshake: the plugin ended before its handshake.
var ErrExitedBeforeHandshake = errors.New("plugin exited before the handshake")

// Plugin is a running plugin with a client for its VM service.
type Plugin struct {
	VM        vmpb.VMClient       // every call traced when LaunchConfig.Trace != nil
	Conn      *grpc.ClientConn    // the connection under VM
	Addr      string              // the VM server address the plugin announced
	Protocol  uint                // what the plugin announced in the handshake
	Transport transport.Transport // dials addresses the plugin hands out (HTTP handler servers)

	cfg  LaunchConfig
	path string
	tail *tailWriter
	life lifecycle

	shutdownOnce sync.Once
	shutdownErr  error
	termOnce     sync.Once
	termErr      error
}

// lifecycle is what differs between a subprocess and an in-process plugin.
type lifecycle interface {
	exited() <-chan struct{}
	exitStatus() string
	pid() int
	// terminate ends the plugin after the Shutdown RPC (whatever its outcome).
	terminate(ctx context.Context, grace time.Duration) error
}

// Exited is closed when the process or serve goroutine has ended.
func (p *Plugin) Exited() <-chan struct{} { return p.life.exited() }

// ExitStatus is "exit status 2", "signal: killed" (in-process: "returned" or
// "returned error: ..."), or "" while running.
func (p *Plugin) ExitStatus() string { return p.life.exitStatus() }

// StderrTail is the last ~40 lines of the plugin's stderr and stdout.
func (p *Plugin) StderrTail() string { return p.tail.String() }

// Pid is the process id, 0 in-process.
func (p *Plugin) Pid() int { return p.life.pid() }

// Stop ends the plugin like AvalancheGo ends a plugin it has no chain for
// (the pre-init process): Shutdown, then Terminate. A chain's plugin is
// stopped with StopChain, which also stops the node's services in between.
// Safe to call more than once; the error reports a failed Shutdown RPC or a
// forced kill, and the plugin is gone either way.
func (p *Plugin) Stop(ctx context.Context) error {
	return errors.Join(p.Shutdown(ctx), p.Terminate(ctx))
}

// Shutdown sends the VM/Shutdown RPC once (later calls return the first
// result), bounded by LaunchConfig.ShutdownTimeout when set and by ctx.
// A plugin that already exited is not called.
func (p *Plugin) Shutdown(ctx context.Context) error {
	p.shutdownOnce.Do(func() {
		select {
		case <-p.life.exited():
			return
		default:
		}
		if p.cfg.ShutdownTimeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, p.cfg.ShutdownTimeout)
			defer cancel()
		}
		if _, err := p.VM.Shutdown(ctx, &emptypb.Empty{}); err != nil {
			p.shutdownErr = fmt.Errorf("stop plugin %s: %w", p.path, p.Diagnose("Shutdown", err))
		}
	})
	return p.shutdownErr
}

// Terminate ends the process as AvalancheGo's stopper does: SIGTERM, then
// GracefulTimeout, then SIGKILL (in-process: cancel serve's context); it
// waits for the end and closes the connection. Safe to call more than once.
func (p *Plugin) Terminate(ctx context.Context) error {
	p.termOnce.Do(func() {
		var errs []error
		if err := p.life.terminate(ctx, p.cfg.GracefulTimeout); err != nil {
			errs = append(errs, err)
		}
		if err := p.Conn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close vm connection: %w", err))
		}
		if len(errs) > 0 {
			p.termErr = fmt.Errorf("stop plugin %s: %w", p.path, errors.Join(errs...))
		}
	})
	return p.termErr
}

// exitSettle bounds how long Diagnose waits for a plugin whose connection
// dropped to be reaped.
const exitSettle = 2 * time.Second

// Diagnose turns the error of a call to the plugin into a verdict a plugin
// author can act on: "CALL: code: message", and when the plugin died during
// the call, its exit status or signal and the last lines of its output.
// nil stays nil.
func (p *Plugin) Diagnose(call string, err error) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf("%s: %s", call, describeErr(err))
	if status.Code(err) != codes.Unavailable {
		// The plugin answered (or the caller gave up): its answer is the
		// verdict. A plugin that died mid-call leaves Unavailable.
		return &CallError{Call: call, Err: err, msg: msg}
	}
	t := time.NewTimer(exitSettle)
	defer t.Stop()
	select {
	case <-p.life.exited():
	case <-t.C:
		return &CallError{Call: call, Err: err, msg: msg}
	}
	ce := &CallError{Call: call, Err: err, ExitStatus: p.ExitStatus(), StderrTail: p.StderrTail()}
	ce.msg = fmt.Sprintf("%s; the plugin died during the call: %s", msg, ce.ExitStatus)
	if ce.StderrTail != "" {
		ce.msg += "\nplugin output (last lines):\n" + ce.StderrTail
	} else {
		ce.msg += "\nplugin output: (none)"
	}
	return ce
}

// CallError is a failed call to the plugin, as Diagnose explains it.
type CallError struct {
	Call       string // the VM method, e.g. "Initialize"
	Err        error  // the gRPC error
	ExitStatus string // set when the plugin died during the call
	StderrTail string // the plugin's last output lines, when it died
	msg        string
}

func (e *CallError) Error() string { return e.msg }
func (e *CallError) Unwrap() error { return e.Err }

// describeErr prints a gRPC error as "code: message", never as a struct.
func describeErr(err error) string {
	if st, ok := status.FromError(err); ok {
		return fmt.Sprintf("%s: %s", st.Code(), st.Message())
	}
	return err.Error()
}

// awaitHandshake waits for the handshake, the plugin's end, the timeout or
// ctx, whichever comes first.
func awaitHandshake(ctx context.Context, eng *runtimeEngine, exited <-chan struct{}, timeout time.Duration) (handshakeResult, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case res := <-eng.hs.done:
		return res, nil
	case <-exited:
		select { // a handshake that raced with the exit still counts
		case res := <-eng.hs.done:
			return res, nil
		default:
		}
		return handshakeResult{}, ErrExitedBeforeHandshake
	case <-t.C:
		return handshakeResult{}, fmt.Errorf("%w (%s)", ErrHandshakeTimeout, timeout)
	case <-ctx.Done():
		return handshakeResult{}, fmt.Errorf("waiting for the handshake: %w", ctx.Err())
	}
}

// finishLaunch turns a handshake into a Plugin, or into a LaunchError after
// ending the plugin.
func finishLaunch(ctx context.Context, p *Plugin, eng *runtimeEngine) (*Plugin, error) {
	res, err := awaitHandshake(ctx, eng, p.life.exited(), p.cfg.HandshakeTimeout)
	eng.stop()
	fail := func(phase string, err error) (*Plugin, error) {
		// Detach from ctx: a cancelled launch must still reap the plugin.
		_ = p.life.terminate(context.WithoutCancel(ctx), p.cfg.GracefulTimeout)
		return nil, &LaunchError{Path: p.path, Phase: phase, ExitStatus: p.life.exitStatus(), StderrTail: p.tail.String(), Err: err}
	}
	if err != nil {
		return fail(PhaseHandshake, err)
	}
	if res.err != nil {
		return fail(PhaseProtocol, res.err)
	}
	if res.notice != "" && p.cfg.Notices != nil {
		fmt.Fprintln(p.cfg.Notices, res.notice)
	}
	conn, err := dialPlugin(p.Transport, res.addr, p.cfg.Trace)
	if err != nil {
		return fail(PhaseHandshake, fmt.Errorf("dial announced vm address %s: %w", res.addr, err))
	}
	p.Conn, p.VM, p.Addr, p.Protocol = conn, vmpb.NewVMClient(conn), res.addr, res.protocol
	return p, nil
}
