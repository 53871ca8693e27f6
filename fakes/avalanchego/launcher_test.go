package avalanchego_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
)

func launch(t *testing.T, mode string, cfg avalanchego.LaunchConfig) (*avalanchego.Plugin, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := avalanchego.LaunchProcess(ctx, testPlugin(t, mode), cfg)
	if err == nil {
		t.Cleanup(func() { _ = p.Stop(context.Background()) })
	}
	return p, err
}

func TestLaunchProcessHandshakeVersionStop(t *testing.T) {
	var log bytes.Buffer
	tr := avalanchego.NewTrace(nil)
	p, err := launch(t, "ok", avalanchego.LaunchConfig{Trace: tr, Log: &syncBuffer{b: &log}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Protocol != 46 || p.Pid() == 0 || p.Addr == "" {
		t.Fatalf("plugin protocol %d pid %d addr %q", p.Protocol, p.Pid(), p.Addr)
	}
	v, err := p.VM.Version(context.Background(), &emptypb.Empty{})
	if err != nil || v.GetVersion() != "testplugin/ok" {
		t.Fatalf("version %q, %v", v.GetVersion(), err)
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Fatalf("stop: %v", err)
	}
	select {
	case <-p.Exited():
	default:
		t.Fatal("Exited not closed after Stop")
	}
	if p.ExitStatus() != "exit status 0" {
		t.Fatalf("exit status %q", p.ExitStatus())
	}
	// The environment is minimal: the engine address and nothing like PATH or HOME.
	tail := p.StderrTail()
	if !strings.Contains(tail, "env: AVALANCHE_VM_RUNTIME_ENGINE_ADDR=127.0.0.1:") {
		t.Fatalf("engine address missing from plugin env:\n%s", tail)
	}
	for _, bad := range []string{"env: PATH=", "env: HOME="} {
		if strings.Contains(tail, bad) {
			t.Fatalf("plugin env has %s:\n%s", bad, tail)
		}
	}
	if !strings.Contains(log.String(), "env: AVALANCHE_VM_RUNTIME_ENGINE_ADDR") {
		t.Fatalf("LaunchConfig.Log did not get the plugin output: %q", log.String())
	}
	methods := map[string]bool{}
	for _, e := range tr.Events() {
		methods[e.Method] = true
	}
	for _, m := range []string{"/vm.runtime.Runtime/Initialize", "/vm.VM/Version", "/vm.VM/Shutdown"} {
		if !methods[m] {
			t.Errorf("trace lacks %s: %v", m, methods)
		}
	}
}

func TestLaunchProcessExitBeforeHandshakeFailsFast(t *testing.T) {
	start := time.Now()
	_, err := launch(t, "exit-early", avalanchego.LaunchConfig{HandshakeTimeout: 10 * time.Second})
	var le *avalanchego.LaunchError
	if !errors.As(err, &le) {
		t.Fatalf("want *LaunchError, got %v", err)
	}
	if le.Phase != avalanchego.PhaseHandshake || !errors.Is(err, avalanchego.ErrExitedBeforeHandshake) {
		t.Fatalf("phase %q err %v", le.Phase, err)
	}
	msg := err.Error()
	for _, want := range []string{"exit status 3", "hard limit is 20000", "exited before the handshake"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("failed after %s: should not wait for the 10s handshake timeout", d)
	}
}

func TestLaunchProcessHandshakeTimeoutKills(t *testing.T) {
	start := time.Now()
	_, err := launch(t, "never", avalanchego.LaunchConfig{HandshakeTimeout: 300 * time.Millisecond, GracefulTimeout: 2 * time.Second})
	if !errors.Is(err, avalanchego.ErrHandshakeTimeout) {
		t.Fatalf("want handshake timeout, got %v", err)
	}
	var le *avalanchego.LaunchError
	errors.As(err, &le)
	if le.ExitStatus != "signal: terminated" || !strings.Contains(le.StderrTail, "not handshaking") {
		t.Fatalf("exit %q tail %q", le.ExitStatus, le.StderrTail)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("took %s", d)
	}
}

func TestLaunchProcessProtocolMismatch(t *testing.T) {
	_, err := launch(t, "proto41", avalanchego.LaunchConfig{})
	var le *avalanchego.LaunchError
	if !errors.As(err, &le) || le.Phase != avalanchego.PhaseProtocol {
		t.Fatalf("want protocol LaunchError, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"protocol 41", "v1.13.2", "protocol 46", "v1.15.0", "handshake refused"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	// The plugin got the gRPC error and exited by itself.
	if le.ExitStatus != "exit status 1" {
		t.Errorf("exit status %q, want the plugin's own exit 1", le.ExitStatus)
	}
}

// Like AvalancheGo, the node requires an exact protocol match by default,
// also for a plugin whose wire is identical; the message says how to
// emulate the plugin's release.
func TestLaunchProcessExactProtocolByDefault(t *testing.T) {
	_, err := launch(t, "proto45", avalanchego.LaunchConfig{})
	var le *avalanchego.LaunchError
	if !errors.As(err, &le) || le.Phase != avalanchego.PhaseProtocol {
		t.Fatalf("want a protocol launch error, got %v", err)
	}
	for _, want := range []string{"protocol 45", "v1.14.2", "exact match", "--avalanchego v1.14.2", "--same-wire"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestLaunchProcessSameWireNotice(t *testing.T) {
	var notices bytes.Buffer
	p, err := launch(t, "proto45", avalanchego.LaunchConfig{SameWire: true, Notices: &notices})
	if err != nil {
		t.Fatal(err)
	}
	if p.Protocol != 45 {
		t.Fatalf("protocol %d", p.Protocol)
	}
	if got := notices.String(); !strings.Contains(got, "plugin speaks 45, emulating 46: identical wire") {
		t.Fatalf("notice %q", got)
	}
	// Emulating 45 exactly: no notice.
	notices.Reset()
	p2, err := launch(t, "proto45", avalanchego.LaunchConfig{Protocol: 45, Notices: &notices})
	if err != nil {
		t.Fatal(err)
	}
	if notices.Len() != 0 || p2.Protocol != 45 {
		t.Fatalf("notice %q protocol %d", notices.String(), p2.Protocol)
	}
}

func TestStopKillsPluginIgnoringSIGTERM(t *testing.T) {
	p, err := launch(t, "hang-shutdown", avalanchego.LaunchConfig{ShutdownTimeout: 300 * time.Millisecond, GracefulTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = p.Stop(context.Background())
	if err == nil || !strings.Contains(err.Error(), "killed") || !strings.Contains(err.Error(), "Shutdown: DeadlineExceeded") {
		t.Fatalf("stop error %v", err)
	}
	if p.ExitStatus() != "signal: killed" {
		t.Fatalf("exit status %q", p.ExitStatus())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("stop took %s with 300ms grace", d)
	}
	if err := syscall.Kill(p.Pid(), 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("process %d still exists: %v", p.Pid(), err)
	}
}

// A plugin that closes its stdout while it runs is stopped by the node
// (SIGTERM, which it ignores, then SIGKILL after the grace period), and the
// reason is in its output tail.
func TestPluginClosingStdoutIsStopped(t *testing.T) {
	p, err := launch(t, "close-stdout", avalanchego.LaunchConfig{GracefulTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("the plugin still runs 10s after closing its stdout")
	}
	if p.ExitStatus() != "signal: killed" {
		t.Fatalf("exit status %q, want signal: killed (it ignores SIGTERM before Shutdown)", p.ExitStatus())
	}
	if tail := p.StderrTail(); !strings.Contains(tail, "closed its stdout") {
		t.Fatalf("output tail does not say why the plugin was stopped:\n%s", tail)
	}
}

// A plugin that exits on its own is not reported as closing its output.
func TestPluginExitIsNotAnOutputClose(t *testing.T) {
	p, err := launch(t, "ok", avalanchego.LaunchConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tail := p.StderrTail(); strings.Contains(tail, "closed its") {
		t.Fatalf("a clean exit was reported as an output close:\n%s", tail)
	}
}

func TestLaunchProcessMissingBinary(t *testing.T) {
	_, err := avalanchego.LaunchProcess(context.Background(), "/nonexistent/plugin", avalanchego.LaunchConfig{})
	var le *avalanchego.LaunchError
	if !errors.As(err, &le) || le.Phase != avalanchego.PhaseStart {
		t.Fatalf("want start LaunchError, got %v", err)
	}
}
