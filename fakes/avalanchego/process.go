package avalanchego

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ava-labs/avalanchego/vms/rpcchainvm/runtime"

	"github.com/vmtestbed/vmtestbed/transport"
)

// LaunchProcess starts the plugin binary at path as AvalancheGo does: a
// minimal environment (only AVALANCHE_VM_RUNTIME_ENGINE_ADDR plus this
// process's GRPC_* and GODEBUG* variables), Pdeathsig SIGTERM, stdout and
// stderr captured, and a Runtime/Initialize handshake on loopback TCP within
// HandshakeTimeout. A plugin that exits first fails at once with its exit
// status and output tail.
func LaunchProcess(ctx context.Context, path string, cfg LaunchConfig) (*Plugin, error) {
	cfg = cfg.withDefaults()
	tr := transport.TCP{}
	l, addr, err := tr.Listen("runtime")
	if err != nil {
		return nil, &LaunchError{Path: path, Phase: PhaseStart, Err: err}
	}
	eng := startRuntimeEngine(l, addr, newHandshakeServer(cfg.Protocol, cfg.SameWire, path), cfg.Trace)

	tail := newTailWriter(cfg.Log)
	cmd := exec.Command(path)
	cmd.Env = pluginEnv(addr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	proc, err := startProcess(cmd, tail, cfg.GracefulTimeout)
	if err != nil {
		eng.stop()
		return nil, &LaunchError{Path: path, Phase: PhaseStart, Err: fmt.Errorf("start %s: %w", path, err)}
	}
	p := &Plugin{cfg: cfg, path: path, tail: tail, life: proc, Transport: tr}
	return finishLaunch(ctx, p, eng)
}

// pluginEnv is the whole environment a plugin gets.
func pluginEnv(engineAddr string) []string {
	env := []string{runtime.EngineAddressKey + "=" + engineAddr}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GRPC_") || strings.HasPrefix(kv, "GODEBUG") {
			env = append(env, kv)
		}
	}
	return env
}

// process is a started plugin subprocess, reaped by its own goroutine.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}

	mu     sync.Mutex
	status string
}

// outputDrain bounds how long the reaper waits, after the plugin exited,
// for its output to be read to the end (a grandchild may hold the pipes).
const outputDrain = time.Second

// closeGrace is how long a plugin whose stdout or stderr closed has to exit
// by itself before the node stops it.
const closeGrace = 250 * time.Millisecond

// startProcess starts cmd with stdout and stderr on pipes of their own,
// copied into tail. Like AvalancheGo, it stops the plugin (SIGTERM, grace,
// SIGKILL) when either stream closes while the plugin runs. done closes once
// the process is reaped and its output read, so the tail is complete then.
func startProcess(cmd *exec.Cmd, tail io.Writer, grace time.Duration) (*process, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		_ = outR.Close()
		_ = outW.Close()
		return nil, fmt.Errorf("stderr pipe: %w", err)
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	err = cmd.Start()
	_ = outW.Close() // the child has its own copies now
	_ = errW.Close()
	if err != nil {
		_ = outR.Close()
		_ = errR.Close()
		return nil, err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	closed := make(chan string, 2)
	var copies sync.WaitGroup
	for name, r := range map[string]*os.File{"stdout": outR, "stderr": errR} {
		copies.Add(1)
		go func() {
			defer copies.Done()
			_, _ = io.Copy(tail, r)
			_ = r.Close()
			closed <- name
		}()
	}
	copied := make(chan struct{})
	go func() { copies.Wait(); close(copied) }()
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		close(exited)
		select {
		case <-copied:
		case <-time.After(outputDrain):
		}
		p.mu.Lock()
		p.status = describeExit(cmd, err)
		p.mu.Unlock()
		close(p.done)
	}()
	go func() {
		select {
		case name := <-closed:
			// An exiting plugin closes its streams a moment before it is
			// reaped: only a plugin still running after closeGrace closed
			// a stream on purpose.
			t := time.NewTimer(closeGrace)
			defer t.Stop()
			select {
			case <-exited:
			case <-t.C:
				fmt.Fprintf(tail, "vmtestbed: the plugin closed its %s; stopping it as AvalancheGo does\n", name)
				_ = p.terminate(context.Background(), grace)
			}
		case <-exited:
		}
	}()
	return p, nil
}

func describeExit(cmd *exec.Cmd, err error) string {
	if cmd.ProcessState != nil {
		return cmd.ProcessState.String()
	}
	if err != nil {
		return "wait failed: " + err.Error()
	}
	return "exited"
}

func (p *process) exited() <-chan struct{} { return p.done }
func (p *process) pid() int                { return p.cmd.Process.Pid }

func (p *process) exitStatus() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

// terminate: SIGTERM, wait grace (or ctx), SIGKILL, wait for the reaper.
func (p *process) terminate(ctx context.Context, grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("sigterm pid %d: %w", p.pid(), err)
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("sigkill pid %d: %w", p.pid(), err)
	}
	<-p.done // SIGKILL cannot be ignored; WaitDelay bounds the pipe drain
	return fmt.Errorf("plugin pid %d ignored SIGTERM for %s: killed", p.pid(), grace)
}
