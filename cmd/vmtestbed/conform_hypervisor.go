package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/onsi/ginkgo/v2/formatter"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	conform "github.com/vmtestbed/vmtestbed/conformance/hypervisor"
	"github.com/vmtestbed/vmtestbed/conformance/report"
	fakehv "github.com/vmtestbed/vmtestbed/fakes/hypervisor"
	"github.com/vmtestbed/vmtestbed/internal/transport"
)

var conformHypervisorFlags struct {
	addr, junit, json, focus, skip string
	timeout, connect               time.Duration
}

var conformHypervisorCmd = &cobra.Command{
	Use:   "hypervisor",
	Short: "Check a hypervisor.v1 implementation (default: the in-process fake) against the contract",
	Long: "Runs the hypervisor.v1 conformance suite and prints one line per spec and a per-method table.\n" +
		"Exit 0: every spec passed; 1: some spec failed; 2: usage error or unreachable target.",
	Args: cobra.NoArgs,
	RunE: runConformHypervisor,
}

func init() {
	f := conformHypervisorCmd.Flags()
	f.StringVar(&conformHypervisorFlags.addr, "addr", "", "HOST:PORT of the implementation (default: in-process fake over bufconn)")
	f.StringVar(&conformHypervisorFlags.junit, "junit", "", "write JUnit XML to this file")
	f.StringVar(&conformHypervisorFlags.json, "json", "", "write the JSON result (specs, RPCs, method table) to this file")
	f.StringVar(&conformHypervisorFlags.focus, "focus", "", "run only specs whose text matches this regular expression")
	f.StringVar(&conformHypervisorFlags.skip, "skip", "", "skip specs whose text matches this regular expression")
	f.DurationVar(&conformHypervisorFlags.timeout, "timeout", 30*time.Second, "bound on each spec")
	f.DurationVar(&conformHypervisorFlags.connect, "connect-timeout", 10*time.Second, "bound on reaching --addr")
	conformCmd.AddCommand(conformHypervisorCmd)
}

func runConformHypervisor(cmd *cobra.Command, _ []string) error {
	fl := conformHypervisorFlags
	out := cmd.OutOrStdout()
	cfg := conform.Config{Addr: fl.addr, Focus: fl.focus, Skip: fl.skip, Timeout: fl.timeout, Progress: out}
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
	fmt.Fprintf(out, "%d specs: %d passed, %d failed, %d skipped in %s\n",
		len(res.Specs), res.Passed, res.Failed, res.Skipped, res.End.Sub(res.Start).Round(time.Millisecond))
	if err := writeResultFiles(res, fl.junit, fl.json); err != nil {
		return withCode(exitFailed, err)
	}
	if res.Failed > 0 || !res.Succeeded {
		return withCode(exitFailed, fmt.Errorf("%d of %d hypervisor.v1 specs failed", res.Failed, len(res.Specs)))
	}
	return nil
}

// inProcessHypervisor serves the fake over bufconn and points cfg at it.
func inProcessHypervisor(cfg *conform.Config) (stop func(), err error) {
	bn := transport.NewBufnet()
	lis, addr, err := bn.Listen("hypervisor")
	if err != nil {
		return nil, fmt.Errorf("in-process hypervisor: %w", err)
	}
	fake := fakehv.New(fakehv.Options{Seed: 1})
	g := grpc.NewServer()
	fake.Register(g)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = g.Serve(lis) // ends when g stops
	}()
	cfg.Addr, cfg.DialOptions = addr, bn.DialOptions()
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
