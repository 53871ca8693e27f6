package avalanchego

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ava-labs/avalanchego/vms/rpcchainvm/runtime"

	"github.com/vmtestbed/vmtestbed/internal/transport"
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
	eng := startRuntimeEngine(l, addr, newHandshakeServer(cfg.Protocol, path), cfg.Trace)

	tail := newTailWriter(cfg.Log)
	cmd := exec.Command(path)
	cmd.Env = pluginEnv(addr)
	cmd.Stdout = tail
	cmd.Stderr = tail // same writer: one pipe, output kept in order
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	// A grandchild holding the pipe must not block Wait forever.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		eng.stop()
		return nil, &LaunchError{Path: path, Phase: PhaseStart, Err: fmt.Errorf("start %s: %w", path, err)}
	}
	proc := newProcess(cmd)
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

func newProcess(cmd *exec.Cmd) *process {
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.status = describeExit(cmd, err)
		p.mu.Unlock()
		close(p.done)
	}()
	return p
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
