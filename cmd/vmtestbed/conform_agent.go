package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vmtestbed/vmtestbed/conformance/guestagent"
	"github.com/vmtestbed/vmtestbed/conformance/report"
)

// gaFlags are the flags of `vmtestbed conform agent`.
type gaFlags struct {
	socket, exec, protocol, name string
	timeout                      time.Duration
	repeat, channels             int
	junit, json, focus           string
	verbose                      bool
}

func init() {
	var f gaFlags
	cmd := &cobra.Command{
		Use:   `agent (--socket PATH | --exec "CMD {pty}")`,
		Short: "Check a guest agent at the guest end of a virtio-serial channel",
		Long: `Talks to a guest agent over a unix socket, or starts a command with {pty}
replaced by the slave path of a pty pair whose master the suite holds, and checks
every answer against the json, line or qga profile. Before every spec the suite
drains the channel and waits until the agent answers (qga: 0xFF then
guest-sync-delimited, resent; json and line: ping, resent), so an agent that is
still starting (qemu-ga flushes a tty's input when it opens it) is not failed.
Agent output in reports is stripped of control characters. With --exec the
command's process group is killed when the suite ends.
Exit status: 0 every spec passed, 1 some spec failed, 2 usage error or an agent
that could not be reached or started (its last output lines are printed).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runConformAgent(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.socket, "socket", "", "unix socket of the agent's channel (libvirt's host end, or qemu-ga -m unix-listen)")
	fl.StringVar(&f.exec, "exec", "", `command to start with {pty} replaced by a pty slave path, e.g. "vmtestbed agent --port {pty}"`)
	fl.StringVar(&f.protocol, "protocol", guestagent.ProtocolJSON, "profile: json, line or qga")
	fl.StringVar(&f.name, "name", "", "channel name (default com.vmagent.sock, or org.qemu.guest_agent.0 for qga)")
	fl.DurationVar(&f.timeout, "timeout", 5*time.Second, "bound of every request/reply exchange")
	fl.IntVar(&f.repeat, "repeat", 3, "how often repeatable checks run")
	fl.IntVar(&f.channels, "channels", 1, "channels the target can have open at once (--socket only; 2+ enables the concurrency spec)")
	fl.StringVar(&f.junit, "junit", "", "write a JUnit XML report here")
	fl.StringVar(&f.json, "json", "", "write a JSON result here")
	fl.StringVar(&f.focus, "focus", "", "run only specs whose text matches this regexp, e.g. GA-FILE")
	fl.BoolVar(&f.verbose, "verbose", false, "print every spec as it runs")
	conformCmd.AddCommand(cmd)
}

func runConformAgent(ctx context.Context, out io.Writer, f gaFlags) error {
	if (f.socket == "") == (f.exec == "") {
		return withCode(exitUsage, errors.New("give exactly one of --socket and --exec"))
	}
	if f.protocol != guestagent.ProtocolJSON && f.protocol != guestagent.ProtocolLine && f.protocol != guestagent.ProtocolQGA {
		return withCode(exitUsage, fmt.Errorf("--protocol %q: want json, line or qga", f.protocol))
	}
	if f.exec != "" && f.channels > 1 {
		return withCode(exitUsage, errors.New("--channels above 1 needs --socket: a pty is one channel"))
	}
	if f.name == "" {
		f.name = "com.vmagent.sock"
		if f.protocol == guestagent.ProtocolQGA {
			f.name = "org.qemu.guest_agent.0"
		}
	}
	cfg := guestagent.Config{Protocol: f.protocol, Timeout: f.timeout, Repeat: f.repeat, MaxChannels: f.channels}
	var target *guestagent.ExecTarget
	if f.socket != "" {
		cfg.Dial = guestagent.Socket(f.name, f.socket)
		if err := gaProbe(ctx, cfg); err != nil {
			return withCode(exitUsage, fmt.Errorf("agent socket unreachable: %w", err))
		}
	} else {
		var err error
		if target, err = guestagent.StartExec(f.exec, f.name); err != nil {
			return withCode(exitUsage, err)
		}
		defer target.Close()
		cfg.Dial = target.Dial
	}
	var focus []string
	if f.focus != "" {
		focus = []string{f.focus}
	}
	res, err := guestagent.RunSuite(cfg, guestagent.RunOptions{Focus: focus, JUnit: f.junit, JSON: f.json, Verbose: f.verbose})
	if err != nil {
		return withCode(exitUsage, err)
	}
	gaSummary(out, res)
	if res.Succeeded {
		return nil
	}
	if target != nil {
		fmt.Fprintf(out, "agent output (last lines):\n%s\n", gaIndent(target.StderrTail()))
		if res.Passed == 0 && target.ExitErr() != nil {
			return withCode(exitUsage, fmt.Errorf("agent command %q failed at once: %v", f.exec, target.ExitErr()))
		}
	}
	return withCode(exitFailed, fmt.Errorf("%d of %d guest agent specs failed: %s", res.Failed, len(res.Specs), strings.Join(res.FailedIDs(), ", ")))
}

// gaProbe dials the target once to tell "unreachable" from "failing".
func gaProbe(ctx context.Context, cfg guestagent.Config) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	ch, err := cfg.Dial(ctx)
	if err != nil {
		return err
	}
	return ch.Close()
}

// gaSummary prints one line per failed spec with the first line of its reason.
func gaSummary(out io.Writer, res report.Result) {
	fmt.Fprintf(out, "guest agent conformance: %d passed, %d failed, %d skipped\n", res.Passed, res.Failed, res.Skipped)
	for _, s := range res.Specs {
		if s.Failed() {
			reason := strings.Join(strings.Fields(guestagent.Sanitize(s.Failure)), " ")
			if len(reason) > 300 {
				reason = reason[:300] + "…"
			}
			fmt.Fprintf(out, "  FAIL [%s] %s\n", s.ID, reason)
		}
	}
}

func gaIndent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "    (no output)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
