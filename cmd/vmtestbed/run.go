package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vmtestbed/vmtestbed/harness"
	"github.com/vmtestbed/vmtestbed/harness/report"
	"github.com/vmtestbed/vmtestbed/realhv"
	"github.com/vmtestbed/vmtestbed/scenarios"
)

func init() { rootCmd.AddCommand(newRunCmd()) }

func newRunCmd() *cobra.Command {
	var (
		seed      int64
		plugin    string
		nodes     int
		reportDir string
		timeout   time.Duration
		quiet     bool
		list      bool
		backend   = backendFlags{prefix: "vmtestbed-run"}
	)
	cmd := &cobra.Command{
		Use:   "run [SCENARIO|FILE]",
		Short: "Run a scenario on a simulated network of fake nodes (default: the built-in default scenario)",
		Long: `Run a scenario: a network of fake AvalancheGo nodes, each with its own in-process
reference VM, in one seeded simulated world (docs/SCENARIOS.md). SCENARIO is the name of a
built-in scenario (` + strings.Join(scenarios.Names(), ", ") + `) or a YAML file.

The same seed gives the same trace, byte for byte. On a failed expectation or a violated
invariant the command exits 1 and prints the one command that replays the run.

With --backend realhv, a scenario with a hypervisor topology runs its instances as real
QEMU guests on libvirt (the project's tiny guest, its agent as /init): with several
--libvirt-uri the hypervisor hosts hv1..hvN map round-robin onto them. Such a run is not
deterministic: the guests boot in wall time while the virtual clock waits.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if list {
				return listScenarios(out, backend.backend == backendRealhv)
			}
			source := scenarios.Default
			if len(args) == 1 {
				source = args[0]
			}
			sc, err := loadScenario(source)
			if err != nil {
				return withCode(exitUsage, err)
			}
			replay := []string{"vmtestbed", "run", shellQuote(source), "--seed", fmt.Sprint(seed)}
			if cmd.Flags().Changed("plugin") {
				if sc, err = sc.WithPlugin(plugin); err != nil {
					return withCode(exitUsage, err)
				}
				replay = append(replay, "--plugin", shellQuote(plugin))
			}
			if cmd.Flags().Changed("nodes") {
				if sc, err = sc.WithNodes(nodes); err != nil {
					return withCode(exitUsage, err)
				}
				replay = append(replay, "--nodes", fmt.Sprint(nodes))
			}
			if err := backend.validate(); err != nil {
				return withCode(exitUsage, err)
			}
			if backend.backend == backendRealhv {
				if sc.Topology.Hypervisor == nil {
					return withCode(exitUsage, fmt.Errorf("--backend realhv runs a scenario's hypervisor instances as real guests, and %s has no hypervisor topology (topology: hypervisor: {hosts: N})", sc.Name))
				}
				replay = append(replay, "--backend", backendRealhv)
				for _, u := range backend.uris {
					replay = append(replay, "--libvirt-uri", shellQuote(u))
				}
			}
			replayCmd := strings.Join(replay, " ")
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout) // also cancelled on SIGINT/SIGTERM (run)
			defer cancel()
			progress := out
			if quiet {
				progress = io.Discard
			}
			opts := harness.RunOptions{Seed: seed, Progress: progress}
			if backend.backend == backendRealhv {
				done, err := realGuests(ctx, &backend, sc, &opts)
				if err != nil {
					return withCode(exitUsage, err)
				}
				defer done() // removes every domain of the run, also after a failure or an interrupt
			}
			res, err := harness.RunScenario(ctx, sc, opts)
			if err != nil {
				return withCode(exitUsage, err)
			}
			if reportDir != "" {
				if err := report.WriteDir(reportDir, report.Run{Result: res, Source: source, Replay: replayCmd}); err != nil {
					return withCode(exitUsage, err)
				}
			}
			if res.Passed() {
				fmt.Fprintf(out, "\nscenario %s passed with seed %d: %d steps, %d expectations held; %s; %d events in %.3fs of virtual time, %s wall\n",
					sc.Name, seed, res.StepsRun, res.Checked, heights(res), len(res.Events), res.Virtual.Seconds(), res.Wall.Round(time.Millisecond))
			} else {
				fmt.Fprintf(out, "\nscenario %s FAILED with seed %d: %v\n", sc.Name, seed, res.Failure)
			}
			if res.Nondeterministic != "" {
				fmt.Fprintf(out, "not deterministic: %s\n", res.Nondeterministic)
			}
			if reportDir != "" {
				fmt.Fprintf(out, "report: %s (open %s)\n", reportDir, filepath.Join(reportDir, report.TimelineFile))
			}
			if !res.Passed() {
				fmt.Fprintf(out, "replay: %s\n", replayCmd)
				what := res.Failure.Error()
				if v := res.Violation; v != nil {
					what = fmt.Sprintf("invariant %s violated on node %s at height %d", v.Invariant, v.Node, v.Height)
				}
				return withCode(exitFailed, fmt.Errorf("scenario %s failed with seed %d: %s; replay: %s", sc.Name, seed, what, replayCmd))
			}
			return nil
		},
	}
	cmd.Flags().Int64Var(&seed, "seed", 1, "seed for every random choice; the same seed gives the same trace")
	cmd.Flags().StringVar(&plugin, "plugin", "refvm", "every node's plugin: refvm or refvm:VARIANT (fakes/refvm variants)")
	cmd.Flags().IntVar(&nodes, "nodes", 0, "number of nodes (overrides the scenario's topology)")
	cmd.Flags().StringVar(&reportDir, "report", "", "write trace.json, summary.txt and timeline.html into this directory")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "bound on the whole run (wall time)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress lines, only the result")
	cmd.Flags().BoolVar(&list, "list", false, "list the built-in scenarios and exit (with --backend realhv, those it can run)")
	backend.bind(cmd.Flags())
	return cmd
}

// guestBootWait bounds (wall time) the wait for one real guest's agent.
const guestBootWait = 2 * time.Minute

// realGuests sets opts up to run sc's hypervisor instances as libvirt
// domains: hosts hv1..hvN map round-robin onto the --libvirt-uri hosts.
// done removes every domain the run left and disconnects.
func realGuests(ctx context.Context, b *backendFlags, sc *harness.Scenario, opts *harness.RunOptions) (done func(), err error) {
	run, done, err := b.openRealhv(ctx)
	if err != nil {
		return nil, err
	}
	// Placed here in order, so hvN lands on host N mod the hosts' count.
	spread := realhv.NewSpread(run.hosts...)
	ms := realhv.Machines{Host: run.hosts[0], Spread: spread, Image: run.img, Dir: run.dir}
	var placed []string
	for i := range sc.Topology.Hypervisor.Hosts {
		placed = append(placed, harness.HostName(i)+"="+spread.Place(harness.HostName(i)).URI())
	}
	var uris []string
	for _, h := range run.hosts {
		uris = append(uris, h.URI())
	}
	opts.Machines, opts.AgentWait = ms, guestBootWait
	opts.Nondeterministic = fmt.Sprintf("the instances were real QEMU guests (%s) on libvirt %s; they boot in wall time while the virtual clock waits, so the same seed may give another trace",
		run.hosts[0].Accel(), strings.Join(uris, ", "))
	if opts.Progress != nil {
		fmt.Fprintf(opts.Progress, "  backend realhv: instances are real guests (%s); hosts %s\n", run.hosts[0].Accel(), strings.Join(placed, " "))
	}
	return done, nil
}

// listScenarios prints each built-in scenario's name, nodes and
// description; onHypervisor keeps only those with a hypervisor topology
// (what --backend realhv runs).
func listScenarios(w io.Writer, onHypervisor bool) error {
	for _, name := range scenarios.Names() {
		sc, err := loadScenario(name)
		if err != nil {
			return withCode(exitUsage, err)
		}
		if onHypervisor && sc.Topology.Hypervisor == nil {
			continue
		}
		fmt.Fprintf(w, "%-26s %2d nodes  %s\n", name, len(sc.Topology.Nodes), sc.Description)
	}
	return nil
}

// loadScenario reads an embedded scenario by name, or a file.
func loadScenario(source string) (*harness.Scenario, error) {
	if _, err := os.Stat(source); err == nil {
		return harness.LoadScenario(source)
	}
	if b, ok := scenarios.Read(source); ok {
		return harness.ParseScenarioFile(strings.TrimSuffix(source, ".yaml")+".yaml", b)
	}
	return nil, fmt.Errorf("no scenario %q: not a file, nor one of the built-in scenarios (%s)", source, strings.Join(scenarios.Names(), ", "))
}

func heights(res *harness.Result) string {
	var parts []string
	for _, n := range res.Nodes {
		if n.State == "down" {
			parts = append(parts, n.Name+"=down")
		} else {
			parts = append(parts, fmt.Sprintf("%s=%d", n.Name, n.Height))
		}
	}
	if len(parts) > 6 {
		same := true
		for _, p := range parts[1:] {
			if strings.SplitN(p, "=", 2)[1] != strings.SplitN(parts[0], "=", 2)[1] {
				same = false
			}
		}
		if same {
			return fmt.Sprintf("all %d nodes at height %s", len(parts), strings.SplitN(parts[0], "=", 2)[1])
		}
	}
	return "heights " + strings.Join(parts, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
