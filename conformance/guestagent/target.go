package guestagent

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

	"github.com/vmtestbed/vmtestbed/conformance/report"
	"github.com/vmtestbed/vmtestbed/virtio"
)

// Socket returns a Dial for an agent reachable at the unix socket path (the
// host end libvirt binds, or an agent's own listening socket).
func Socket(name, path string) func(ctx context.Context) (virtio.Channel, error) {
	return func(ctx context.Context) (virtio.Channel, error) {
		ch := virtio.NewUnixChannel(name, path)
		if err := ch.Connect(ctx); err != nil {
			ch.Close()
			return nil, fmt.Errorf("dial agent socket %s: %w", path, err)
		}
		return ch, nil
	}
}

// ExecWaitDelay bounds how long Close waits for the command's output to end after the command
// itself was killed (a child that escaped its process group may hold it open).
const ExecWaitDelay = 2 * time.Second

// ExecTarget is an agent command started on the slave of a pty pair whose
// master the suite holds.
type ExecTarget struct {
	cmd    *exec.Cmd
	ch     virtio.Channel
	slave  *os.File
	stderr *tail
	exited chan struct{}
	err    error // the command's exit, valid after exited closes
	once   sync.Once
}

// StartExec opens a pty pair, replaces every "{pty}" in command with the
// slave's path and starts it with /bin/sh -c in its own process group.
// The suite's end of the channel is the master, named name.
func StartExec(command, name string) (*ExecTarget, error) {
	if !strings.Contains(command, "{pty}") {
		return nil, fmt.Errorf("start agent: command %q has no {pty} placeholder for the slave path", command)
	}
	master, slave, slavePath, err := virtio.OpenPTYPair()
	if err != nil {
		return nil, fmt.Errorf("start agent: %w", err)
	}
	t := &ExecTarget{slave: slave, stderr: &tail{max: 4 << 10}, exited: make(chan struct{})}
	t.cmd = exec.Command("/bin/sh", "-c", strings.ReplaceAll(command, "{pty}", slavePath))
	t.cmd.Stdout, t.cmd.Stderr = t.stderr, t.stderr
	t.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A process that left the group (setsid, a daemon) may keep the output pipe open after
	// the command is killed: Wait gives up on it after WaitDelay instead of hanging.
	t.cmd.WaitDelay = ExecWaitDelay
	if err := t.cmd.Start(); err != nil {
		master.Close()
		slave.Close()
		return nil, fmt.Errorf("start agent %q: %w", command, err)
	}
	go func() {
		t.err = t.cmd.Wait()
		close(t.exited)
	}()
	t.ch = virtio.NewPTYChannel(name, master)
	return t, nil
}

// Dial connects the master; it fails once the agent command has exited.
func (t *ExecTarget) Dial(ctx context.Context) (virtio.Channel, error) {
	select {
	case <-t.exited:
		msg := fmt.Sprintf("agent command exited (%s)", t.exitStatus())
		if out := t.StderrTail(); out != "" {
			msg += "; its output ends:\n" + out
		}
		return nil, errors.New(msg)
	default:
	}
	return Shared(t.ch)(ctx)
}

// StderrTail returns the last few KiB the command wrote to stdout and stderr, sanitised.
func (t *ExecTarget) StderrTail() string { return report.Sanitize(t.stderr.String()) }

// Close kills the command's process group, waits for it and closes the pty.
func (t *ExecTarget) Close() error {
	t.once.Do(func() {
		_ = syscall.Kill(-t.cmd.Process.Pid, syscall.SIGKILL)
		<-t.exited
		t.ch.Close()
		t.slave.Close()
	})
	return nil
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// Exited reports whether the agent command has ended.
func (t *ExecTarget) Exited() bool {
	select {
	case <-t.exited:
		return true
	default:
		return false
	}
}

// ExitErr is the command's exit error (nil for status 0, or while it runs).
func (t *ExecTarget) ExitErr() error {
	if !t.Exited() {
		return nil
	}
	return t.err
}

func (t *ExecTarget) exitStatus() string {
	if t.err == nil {
		return "status 0"
	}
	return t.err.Error()
}
