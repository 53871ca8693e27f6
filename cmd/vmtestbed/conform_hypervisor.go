package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	conform "github.com/vmtestbed/vmtestbed/conformance/hypervisor"
	"github.com/vmtestbed/vmtestbed/conformance/report"
	fakehv "github.com/vmtestbed/vmtestbed/fakes/hypervisor"
	"github.com/vmtestbed/vmtestbed/realhv"
)

// conformHypervisorFlags: the suite's Config and report options, which the
// flags are bound straight onto, and the one flag that is neither.
var conformHypervisorFlags = struct {
	cfg     conform.Config
	opts    report.Options
	connect time.Duration
	backend backendFlags
}{cfg: conform.DefaultConfig()}

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
	c := &conformHypervisorFlags.cfg
	f.StringVar(&c.Addr, "addr", "", "HOST:PORT of the control plane (default: in-process fake over bufconn)")
	f.StringVar(&c.AgentAddr, "agent-addr", "", "HOST:PORT of a node agent serving AgentService (default: --addr)")
	f.StringVar(&c.NodeAgentListen, "node-agent-listen", c.NodeAgentListen, "where the suite serves the node agent its registered nodes point at")
	f.StringVar(&c.NodeAgentAdvertise, "node-agent-advertise", "", "ip registered nodes carry, when the control plane reaches the node agent elsewhere than --node-agent-listen")
	f.StringSliceVar(&c.InstanceTypes, "instance-types", c.InstanceTypes, "supported_instance_types of registered nodes, spelled as the server expects")
	f.StringVar(&c.Prefix, "prefix", "", "start of the names of everything the suite creates (default conform- and a random tag)")
	f.DurationVar(&c.SpecTimeout, "spec-timeout", c.SpecTimeout, "bound of each spec, and of its cleanup")
	f.DurationVar(&c.WaitTimeout, "wait-timeout", c.WaitTimeout, "bound of each wait for a state or an event")
	f.DurationVar(&c.LeaseWait, "lease-wait", c.LeaseWait, "real time each lease spec may spend (up to 2.5 lease TTLs); longer leases are skipped")
	f.DurationVar(&c.Timeout, "timeout", c.Timeout, "bound of the whole run")
	f.DurationVar(&conformHypervisorFlags.connect, "connect-timeout", 10*time.Second, "bound of reaching --addr and probing its methods")
	conformHypervisorFlags.backend.bind(f)
	bindReportFlags(f, &conformHypervisorFlags.opts, "HV-CLU", "print what specs write as they run")
	conformCmd.AddCommand(conformHypervisorCmd)
}

func runConformHypervisor(cmd *cobra.Command, _ []string) error {
	fl := conformHypervisorFlags
	out := cmd.OutOrStdout()
	cfg := fl.cfg
	if err := fl.backend.validate(); err != nil {
		return withCode(exitUsage, err)
	}
	if cfg.Addr != "" && fl.backend.backend != backendFake {
		return withCode(exitUsage, errors.New("--addr names the server under test; --backend realhv runs the in-process fake's instances as libvirt guests"))
	}
	if cfg.Addr == "" {
		stop, err := inProcessHypervisor(cmd.Context(), out, &cfg, fl.backend)
		if err != nil {
			return withCode(exitUsage, err)
		}
		defer stop()
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), fl.connect)
	defer cancel()
	fl.opts.Progress = out
	res, err := conform.RunSuite(ctx, cfg, fl.opts)
	if err != nil && len(res.Specs) == 0 {
		return verdict(out, res, err, nil)
	}
	fmt.Fprintln(out)
	if werr := report.WriteMethodTable(out, res.Methods); werr != nil && err == nil {
		err = werr
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
	if len(conventions) > 0 {
		fmt.Fprintf(out, "%d SHOULD specs (documented conventions) not followed: %s; they do not fail the run\n", len(conventions), strings.Join(conventions, " "))
	}
	return verdict(out, res, err, must)
}

// serverClock moves the in-process fake's clock for the lease specs.
type serverClock struct{ c *fakehv.OffsetClock }

func (s serverClock) Advance(_ context.Context, d time.Duration) error {
	s.c.Advance(d)
	return nil
}

// inProcessHypervisor serves the fake in process and points cfg at it;
// with --backend realhv its instances are libvirt guests, the nodes the
// suite registers spread over the --libvirt-uri hosts in turn (stop says
// where each went).
func inProcessHypervisor(ctx context.Context, out io.Writer, cfg *conform.Config, b backendFlags) (stop func(), err error) {
	clock := &fakehv.OffsetClock{}
	opts := fakehv.Options{Seed: 1, Clock: clock}
	var done func()
	if b.backend == backendRealhv {
		run, d, err := b.openRealhv(ctx)
		if err != nil {
			return nil, err
		}
		spread := realhv.NewSpread(run.hosts...)
		done = func() {
			if len(run.hosts) > 1 {
				fmt.Fprintf(out, "backend realhv: instances on no node (AgentService's) ran on %s\n", run.hosts[0].URI())
				placed := spread.Nodes()
				for _, h := range run.hosts {
					nodes := strings.Join(placed[h.URI()], " ")
					if nodes == "" {
						nodes = "(none)"
					}
					fmt.Fprintf(out, "backend realhv: nodes on %s: %s\n", h.URI(), nodes)
				}
			}
			d()
		}
		opts.Machines = realhv.Machines{Host: run.hosts[0], Spread: spread, Image: run.img, Dir: run.dir}
	}
	served, err := fakehv.Serve(opts, fakehv.ServeOptions{})
	if err != nil {
		if done != nil {
			done()
		}
		return nil, fmt.Errorf("in-process hypervisor: %w", err)
	}
	cfg.Addr, cfg.DialOptions, cfg.ServerClock = served.Addr(), served.DialOptions(), serverClock{clock}
	return func() {
		served.Stop()
		if done != nil {
			done()
		}
	}, nil
}
