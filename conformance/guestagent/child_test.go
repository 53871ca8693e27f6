package guestagent

// Ginkgo runs one suite per process, so TestTargetsPass and TestTargetsFail
// (targets_test.go) run each target in a child process of this test binary
// (internal/killtest): the child runs only TestChildSuite, which builds the
// target named by $VMTESTBED_KILL_CHILD, PROTOCOL/TRANSPORT[/FAULT].

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/conformance/report"
	agent "github.com/vmtestbed/vmtestbed/fakes/guestagent"
	"github.com/vmtestbed/vmtestbed/internal/killtest"
	"github.com/vmtestbed/vmtestbed/virtio"
)

// TestChildSuite is the child side of TestTargets; run directly it skips.
func TestChildSuite(t *testing.T) {
	target := killtest.ChildName()
	if target == "" {
		t.Skip("child process of TestTargets only")
	}
	result := os.Getenv(killtest.EnvResult) // set for fault targets: RunSuite writes its result there
	parts := strings.Split(target, "/")
	protocol, transport, fault := parts[0], parts[1], ""
	if len(parts) > 2 {
		fault = parts[2]
	}
	cfg := Config{Protocol: protocol, CallTimeout: 5 * time.Second, Repeat: 2}
	_, qgaFaulty := qgaFaults[fault]
	if result != "" && (channelFault(fault) || protocol == ProtocolQGA && !qgaFaulty) { // a dead target: fail fast
		cfg.CallTimeout = 300 * time.Millisecond
	}
	agentProto := protocol
	if protocol != ProtocolLine {
		agentProto = ProtocolJSON // a JSON agent is a broken QGA peer; an unknown protocol fails GA-CONFIG-001
	}
	agentFault := fault
	if qgaFaulty {
		agentFault = ""
	}
	opts := agent.Options{Protocol: agentProto, Fault: agent.Fault(agentFault), Root: t.TempDir()}
	switch fault {
	case string(agent.FaultDelay):
		opts.Delay = time.Second
	case string(agent.FaultSlowReader):
		opts.Delay = 2 * time.Millisecond
	}
	switch transport {
	case "pty":
		cfg.Dial = servePTY(t, opts, false)
	case "pty-spaced": // replies as valid JSON with spaces, as many agents (and qemu-ga) write it
		cfg.Dial = servePTY(t, opts, true)
	case "unix":
		cfg.Dial = serveUnix(t, opts)
		cfg.MaxChannels = 3
	case "unix-single", "unix-single2": // one client at a time, as QEMU; checked as such, then wrongly with 2 channels
		opts.SingleClient = true
		cfg.Dial = serveUnix(t, opts)
		if transport == "unix-single2" {
			cfg.MaxChannels = 2
		}
	case "qemu-ga": // with a QGA fault: behind a channel that rewrites its replies
		cfg.Dial = startQemuGA(t)
		cfg.GuestTempDir = t.TempDir()
		if qgaFaulty {
			cfg.Dial = rewriting(cfg.Dial, qgaFaults[fault])
		}
	case "qemu-ga-blocked": // a real agent that fails specs: guest-sync and guest-exec disabled
		cfg.Dial = startQemuGA(t, "-b", "guest-sync,guest-exec,guest-exec-status")
		cfg.GuestTempDir = t.TempDir()
	case "qemu-ga-pty": // what `conform agent --exec "qemu-ga -m isa-serial -p {pty}"` does
		dir := t.TempDir()
		target, err := StartExec(qemuGAPath()+" -m isa-serial -p {pty} -t "+dir+" -f "+filepath.Join(dir, "qga.pid"), "org.qemu.guest_agent.0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = target.Close() })
		cfg.Dial = target.Dial
		cfg.GuestTempDir = dir
	default:
		t.Fatalf("unknown transport in %s=%q", killtest.EnvChild, target)
	}
	if result != "" {
		if _, err := runSuite(cfg, result); err != nil {
			t.Fatal(err)
		}
		return
	}
	Run(t, cfg)
}

// envFocus limits a child's run to the specs whose text matches it.
const envFocus = "GA_CHILD_FOCUS"

// runSuite is the one call into the suite: it runs it once in this process
// and writes its result as JSON to path.
func runSuite(cfg Config, path string) (report.Result, error) {
	return RunSuite(context.Background(), cfg, report.Options{JSON: path, Focus: os.Getenv(envFocus)})
}

// channelFault reports whether fault breaks the channel itself (the agent
// does not answer properly at all), rather than being wrong in meaning.
func channelFault(fault string) bool {
	switch agent.Fault(fault) {
	case agent.FaultDelay, agent.FaultDrop, agent.FaultGarbage, agent.FaultPartial, agent.FaultHangup, agent.FaultSlowReader:
		return true
	}
	return false
}

// servePTY serves an in-process agent on a pty slave; the suite shares the
// master. With spaced, every reply is rewritten with a space after each ':'
// and ',' outside strings (still the same JSON).
func servePTY(t *testing.T, opts agent.Options, spaced bool) func(context.Context) (virtio.Channel, error) {
	a, err := agent.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	master, slave, _, err := virtio.OpenPTYPair()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var rwc io.ReadWriteCloser = slave
	if spaced {
		rwc = spacedWriter{slave}
	}
	go func() { defer close(done); _ = a.Serve(ctx, rwc) }()
	ch := virtio.NewPTYChannel("com.vmagent.sock", master)
	t.Cleanup(func() { cancel(); <-done; ch.Close() })
	return Shared(ch)
}

// spacedWriter adds a space after every ':' and ',' outside JSON strings in
// what the agent writes (one reply per Write).
type spacedWriter struct{ *os.File }

func (w spacedWriter) Write(p []byte) (int, error) {
	out := make([]byte, 0, len(p)+len(p)/4)
	inString, escaped := false, false
	for _, c := range p {
		out = append(out, c)
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && (c == ':' || c == ','):
			out = append(out, ' ')
		}
	}
	if _, err := w.File.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// serveUnix serves an in-process agent on every connection to a unix socket.
func serveUnix(t *testing.T, opts agent.Options) func(context.Context) (virtio.Channel, error) {
	a, err := agent.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.ServeListener(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return Socket("com.vmagent.sock", sock)
}

// startQemuGA runs Debian's qemu-ga listening on a unix socket and waits
// until it accepts. (Not socket activation: qemu-ga 7.2 started with
// LISTEN_FDS sometimes exited, status 0, when a client disconnected with a
// reply unread, which GA-CHAN-002 does.)
func startQemuGA(t *testing.T, extra ...string) func(context.Context) (virtio.Channel, error) {
	bin := qemuGAPath()
	dir := t.TempDir()
	sock := filepath.Join(dir, "qga.sock")
	args := append([]string{"-m", "unix-listen", "-p", sock, "-t", dir, "-f", filepath.Join(dir, "qga.pid")}, extra...)
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start qemu-ga: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		killErr := cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("qemu-ga ended: %v (kill: %v); stderr:\n%s", cmd.ProcessState, killErr, stderr.String())
		}
	})
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("qemu-ga exited before listening: %v\n%s", cmd.ProcessState, stderr.String())
		case <-deadline:
			t.Fatalf("qemu-ga did not listen on %s within 10s: %v", sock, err)
		case <-tick.C: // polls for the socket; nothing is ordered by it
		}
	}
	return Socket("org.qemu.guest_agent.0", sock)
}

func qemuGAPath() string {
	if p, err := exec.LookPath("qemu-ga"); err == nil {
		return p
	}
	return "/usr/sbin/qemu-ga"
}
