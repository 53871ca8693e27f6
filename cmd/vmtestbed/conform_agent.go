package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vmtestbed/vmtestbed/conformance/guestagent"
	"github.com/vmtestbed/vmtestbed/conformance/report"
	agent "github.com/vmtestbed/vmtestbed/fakes/guestagent"
	"github.com/vmtestbed/vmtestbed/realhv"
	"github.com/vmtestbed/vmtestbed/virtio"
)

// gaFlags are the flags of `vmtestbed conform agent` that are not fields of
// guestagent.Config (those are bound straight onto it).
type gaFlags struct {
	cfg                guestagent.Config
	opts               report.Options
	socket, exec, name string
	backend            backendFlags
}

func init() {
	f := gaFlags{cfg: guestagent.DefaultConfig()}
	cmd := &cobra.Command{
		Use:   `agent [--socket PATH | --exec "CMD {pty}" | --backend fake|realhv]`,
		Short: "Check a guest agent at the guest end of a virtio-serial channel",
		Long: `Talks to a guest agent over a unix socket, or starts a command with {pty}
replaced by the slave path of a pty pair whose master the suite holds, and checks
every answer against the json, line or qga profile. Before every spec the suite
drains the channel and waits until the agent answers (qga: 0xFF then
guest-sync-delimited, resent; json and line: ping, resent), so an agent that is
still starting (qemu-ga flushes a tty's input when it opens it) is not failed.
Agent output in reports is stripped of control characters. With --exec the
command's process group is killed when the suite ends. Without --socket or
--exec the suite checks the project's own agent: on a pty pair in this process
(--backend fake), or as /init of a tiny guest booted by libvirt + QEMU over the
domain's real virtio-serial socket (--backend realhv; json profile).
Exit status: 0 every spec passed, 1 some spec failed, 2 usage error or an agent
that could not be reached or started (its last output lines are printed).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runConformAgent(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	c := &f.cfg
	fl.StringVar(&f.socket, "socket", "", "unix socket of the agent's channel (libvirt's host end, or qemu-ga -m unix-listen)")
	fl.StringVar(&f.exec, "exec", "", `command to start with {pty} replaced by a pty slave path, e.g. "vmtestbed agent --port {pty}"`)
	fl.StringVar(&c.Protocol, "protocol", c.Protocol, "profile: json, line or qga")
	fl.StringVar(&f.name, "name", "", "channel name (default com.vmagent.sock, or org.qemu.guest_agent.0 for qga)")
	fl.DurationVar(&c.CallTimeout, "call-timeout", c.CallTimeout, "bound of every request/reply exchange")
	fl.DurationVar(&c.Timeout, "timeout", c.Timeout, "bound of the whole run")
	fl.IntVar(&c.Repeat, "repeat", c.Repeat, "how often repeatable checks run")
	fl.IntVar(&c.MaxChannels, "channels", c.MaxChannels, "channels the target can have open at once (--socket only; 2+ enables the concurrency spec)")
	fl.StringVar(&c.GuestTempDir, "guest-tmp", c.GuestTempDir, "writable directory on the guest for the qga file specs")
	f.backend.bind(fl)
	bindReportFlags(fl, &f.opts, "GA-FILE", "print what specs write as they run")
	conformCmd.AddCommand(cmd)
}

func runConformAgent(ctx context.Context, out io.Writer, f gaFlags) error {
	cfg := f.cfg
	if f.socket != "" && f.exec != "" {
		return withCode(exitUsage, errors.New("give at most one of --socket and --exec"))
	}
	if err := f.backend.validate(); err != nil {
		return withCode(exitUsage, err)
	}
	if (f.socket != "" || f.exec != "") && f.backend.backend != backendFake {
		return withCode(exitUsage, errors.New("--socket and --exec name the target; --backend realhv boots its own"))
	}
	if len(f.backend.uris) > 1 {
		return withCode(exitUsage, errors.New("--libvirt-uri: conform agent boots one guest, give one host"))
	}
	if cfg.Protocol != guestagent.ProtocolJSON && cfg.Protocol != guestagent.ProtocolLine && cfg.Protocol != guestagent.ProtocolQGA {
		return withCode(exitUsage, fmt.Errorf("--protocol %q: want json, line or qga", cfg.Protocol))
	}
	if f.exec != "" && cfg.MaxChannels > 1 {
		return withCode(exitUsage, errors.New("--channels above 1 needs --socket: a pty is one channel"))
	}
	if f.name == "" {
		f.name = "com.vmagent.sock"
		if cfg.Protocol == guestagent.ProtocolQGA {
			f.name = "org.qemu.guest_agent.0"
		}
	}
	var target *guestagent.ExecTarget
	switch {
	case f.socket != "":
		cfg.Dial = guestagent.Socket(f.name, f.socket)
	case f.exec == "" && f.backend.backend == backendFake:
		dial, stop, err := ownAgentOnPTY(cfg.Protocol, f.name)
		if err != nil {
			return withCode(exitUsage, err)
		}
		defer stop()
		cfg.Dial = dial
	case f.exec == "":
		dial, stop, err := ownAgentInGuest(ctx, out, f.backend, cfg.Protocol, f.name)
		if err != nil {
			return withCode(exitUsage, err)
		}
		defer stop()
		cfg.Dial = dial
	default:
		var err error
		if target, err = guestagent.StartExec(f.exec, f.name); err != nil {
			return withCode(exitUsage, err)
		}
		defer target.Close()
		cfg.Dial = target.Dial
	}
	f.opts.Progress = out
	res, err := guestagent.RunSuite(ctx, cfg, f.opts)
	if target != nil && (err != nil || !res.Succeeded) {
		fmt.Fprintf(out, "agent output (last lines):\n%s\n", gaIndent(target.StderrTail()))
		if err == nil && res.Passed == 0 && target.ExitErr() != nil {
			err = fmt.Errorf("%w: agent command %q failed at once: %v", report.ErrTarget, f.exec, target.ExitErr())
		}
	}
	return verdict(out, res, err, res.FailedIDs())
}

func gaIndent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "    (no output)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// ownAgentOnPTY serves the project's agent on the slave of a pty pair in
// this process; the suite holds the master, as for a libvirt pty channel.
func ownAgentOnPTY(protocol, name string) (func(context.Context) (virtio.Channel, error), func(), error) {
	if protocol == guestagent.ProtocolQGA {
		return nil, nil, errors.New("the project's agent speaks json and line, not qga: give --socket or --exec for a QEMU guest agent")
	}
	root, err := os.MkdirTemp("", "vmtestbed-agent-")
	if err != nil {
		return nil, nil, err
	}
	a, err := agent.New(agent.Options{Protocol: protocol, Root: root})
	if err != nil {
		os.RemoveAll(root)
		return nil, nil, err
	}
	master, slave, _, err := virtio.OpenPTYPair()
	if err != nil {
		os.RemoveAll(root)
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Serve(ctx, slave) }()
	ch := virtio.NewPTYChannel(name, master)
	stop := func() {
		cancel()
		<-done
		_ = ch.Close()
		os.RemoveAll(root)
	}
	return guestagent.Shared(ch), stop, nil
}

// ownAgentInGuest boots the tiny guest (the project's agent as /init) as a
// libvirt domain and dials its channel's unix socket, one client at a time
// as QEMU serves it.
func ownAgentInGuest(ctx context.Context, out io.Writer, b backendFlags, protocol, name string) (func(context.Context) (virtio.Channel, error), func(), error) {
	if protocol != guestagent.ProtocolJSON {
		return nil, nil, errors.New("--backend realhv checks the guest's own agent, which the image runs with the json profile")
	}
	run, done, err := b.openRealhv(ctx)
	if err != nil {
		return nil, nil, err
	}
	sock := filepath.Join(run.dir, "agent.sock")
	bctx, cancel := context.WithTimeout(ctx, guestBootWait)
	defer cancel()
	d, err := run.hosts[0].Create(bctx, "agent", realhv.Spec{Kernel: run.img.Kernel, Initrd: run.img.Initrd, Cmdline: realhv.Cmdline,
		Channels: []realhv.Channel{{Name: name, Socket: sock}}})
	if err != nil {
		done()
		return nil, nil, err
	}
	stop := func() { _ = d.Remove(); done() }
	fmt.Fprintf(out, "backend realhv: guest %s booting on %s (%s)\n", d.Name, run.hosts[0].URI(), run.hosts[0].Accel())
	if err := virtio.AwaitPong(bctx, virtio.NewUnixChannel(name, sock)); err != nil {
		stop()
		return nil, nil, fmt.Errorf("the guest's agent did not answer: %w", err)
	}
	return guestagent.Socket(name, sock), stop, nil
}
