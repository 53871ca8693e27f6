package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/formatter"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	conform "github.com/vmtestbed/vmtestbed/conformance/hypervisor"
	"github.com/vmtestbed/vmtestbed/conformance/report"
	fakehv "github.com/vmtestbed/vmtestbed/fakes/hypervisor"
	"github.com/vmtestbed/vmtestbed/transport"
)

var conformHypervisorFlags struct {
	addr, agentAddr, junit, json, focus, skip string
	nodeAgentListen, nodeAgentAdvertise       string
	instanceTypes                             []string
	timeout, wait, leaseWait, connect         time.Duration
}

var conformHypervisorCmd = &cobra.Command{
	Use:   "hypervisor",
	Short: "Check a hypervisor.v1 implementation (default: the in-process fake) against the contract",
	Long: "Probes all 79 hypervisor.v1 methods once (implemented, unimplemented or unreachable), runs the\n" +
		"conformance suite, and prints one line per spec and a per-method table. A spec that needs a method\n" +
		"the server does not implement is skipped with that reason. SHOULD specs (documented conventions)\n" +
		"are reported but do not fail the run.\n" +
		"Exit 0: every MUST spec that could run passed; 1: a MUST spec failed, or no spec could run;\n" +
		"2: usage error or unreachable target.",
	Args: cobra.NoArgs,
	RunE: runConformHypervisor,
}

func init() {
	f := conformHypervisorCmd.Flags()
	f.StringVar(&conformHypervisorFlags.addr, "addr", "", "HOST:PORT of the control plane (default: in-process fake over bufconn)")
	f.StringVar(&conformHypervisorFlags.agentAddr, "agent-addr", "", "HOST:PORT of a node agent serving AgentService (default: --addr)")
	f.StringVar(&conformHypervisorFlags.nodeAgentListen, "node-agent-listen", "127.0.0.1:0", "where the suite serves the node agent its registered nodes point at")
	f.StringVar(&conformHypervisorFlags.nodeAgentAdvertise, "node-agent-advertise", "", "ip registered nodes carry, when the control plane reaches the node agent elsewhere than --node-agent-listen")
	f.StringSliceVar(&conformHypervisorFlags.instanceTypes, "instance-types", []string{"vm", "container", "microvm"}, "supported_instance_types of registered nodes, spelled as the server expects")
	f.StringVar(&conformHypervisorFlags.junit, "junit", "", "write JUnit XML to this file")
	f.StringVar(&conformHypervisorFlags.json, "json", "", "write the JSON result (specs, RPCs, method table) to this file")
	f.StringVar(&conformHypervisorFlags.focus, "focus", "", "run only specs whose text matches this regular expression")
	f.StringVar(&conformHypervisorFlags.skip, "skip", "", "skip specs whose text matches this regular expression")
	f.DurationVar(&conformHypervisorFlags.timeout, "timeout", 30*time.Second, "bound on each spec")
	f.DurationVar(&conformHypervisorFlags.wait, "wait-timeout", 10*time.Second, "bound on each wait for a state or an event")
	f.DurationVar(&conformHypervisorFlags.leaseWait, "lease-wait", 2*time.Minute, "real time each lease spec may spend (up to 2.5 lease TTLs); longer leases are skipped")
	f.DurationVar(&conformHypervisorFlags.connect, "connect-timeout", 10*time.Second, "bound on reaching --addr")
	conformCmd.AddCommand(conformHypervisorCmd)
}

func runConformHypervisor(cmd *cobra.Command, _ []string) error {
	fl := conformHypervisorFlags
	out := cmd.OutOrStdout()
	cfg := conform.Config{
		Addr: fl.addr, AgentAddr: fl.agentAddr, NodeAgentListen: fl.nodeAgentListen, NodeAgentAdvertise: fl.nodeAgentAdvertise,
		InstanceTypes: fl.instanceTypes, Focus: fl.focus, Skip: fl.skip, Timeout: fl.timeout, WaitTimeout: fl.wait,
		LeaseWait: fl.leaseWait, Progress: out,
	}
	if fl.addr == "" {
		stop, err := inProcessHypervisor(&cfg)
		if err != nil {
			return withCode(exitUsage, err)
		}
		defer stop()
	}
	// The suite reports through cfg.Progress; ginkgo's own console reporter is muted.
	formatter.ColorableStdOut = io.Discard
	ctx, cancel := context.WithTimeout(cmd.Context(), fl.connect)
	defer cancel()
	res, err := conform.RunSuite(ctx, cfg)
	if err != nil {
		if errors.Is(err, conform.ErrUnreachable) {
			return withCode(exitUsage, err)
		}
		return withCode(exitUsage, fmt.Errorf("run hypervisor suite: %w", err))
	}
	fmt.Fprintln(out)
	if err := report.WriteMethodTable(out, res.Methods); err != nil {
		return withCode(exitFailed, err)
	}
	var must, conventions []string
	for _, s := range res.Specs {
		switch {
		case !s.Failed():
		case conform.IsConvention(s.Text):
			conventions = append(conventions, s.ID)
		default:
			must = append(must, s.ID)
		}
	}
	fmt.Fprintf(out, "%d specs: %d passed, %d failed, %d skipped in %s\n",
		len(res.Specs), res.Passed, res.Failed, res.Skipped, res.End.Sub(res.Start).Round(time.Millisecond))
	if len(conventions) > 0 {
		fmt.Fprintf(out, "%d SHOULD specs (documented conventions) not followed: %s; they do not fail the run\n", len(conventions), strings.Join(conventions, " "))
	}
	if err := writeResultFiles(res, fl.junit, fl.json); err != nil {
		return withCode(exitFailed, err)
	}
	if len(must) > 0 {
		return withCode(exitFailed, fmt.Errorf("%d of %d hypervisor.v1 specs failed: %s", len(must), len(res.Specs), strings.Join(must, " ")))
	}
	if res.Passed == 0 && res.Failed == 0 {
		return withCode(exitFailed, errors.New("no spec ran: the filters select none, or the server implements none of the methods the selected specs need (see the method table)"))
	}
	return nil
}

// serverClock moves the in-process fake's clock for the lease specs.
type serverClock struct{ c *fakehv.OffsetClock }

func (s serverClock) Advance(_ context.Context, d time.Duration) error {
	s.c.Advance(d)
	return nil
}

// inProcessHypervisor serves the fake over bufconn and points cfg at it.
func inProcessHypervisor(cfg *conform.Config) (stop func(), err error) {
	bn := transport.NewBufnet()
	lis, addr, err := bn.Listen("hypervisor")
	if err != nil {
		return nil, fmt.Errorf("in-process hypervisor: %w", err)
	}
	clock := &fakehv.OffsetClock{}
	fake := fakehv.New(fakehv.Options{Seed: 1, Clock: clock})
	g := grpc.NewServer()
	fake.Register(g)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = g.Serve(lis) // ends when g stops
	}()
	cfg.Addr, cfg.DialOptions, cfg.ServerClock = addr, bn.DialOptions(), serverClock{clock}
	return func() { g.Stop(); <-done; fake.Close() }, nil
}

func writeResultFiles(res report.Result, junitPath, jsonPath string) error {
	write := func(path string, w func(io.Writer) error) error {
		if path == "" {
			return nil
		}
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("write result: %w", err)
		}
		if err := w(f); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	if err := write(junitPath, func(w io.Writer) error { return report.WriteJUnit(w, res) }); err != nil {
		return err
	}
	return write(jsonPath, res.WriteJSON)
}
