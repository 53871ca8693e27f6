package main

import (
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vmtestbed/vmtestbed/harness"
	"github.com/vmtestbed/vmtestbed/scenarios"
)

func init() { rootCmd.AddCommand(newRunCmd()) }

func newRunCmd() *cobra.Command {
	var (
		seed       int64
		traceTimes bool
		timeout    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run [SCENARIO.yaml]",
		Short: "Run a scenario on the embedded in-process stack (default: the built-in default scenario)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var (
				sc  *harness.Scenario
				err error
			)
			if len(args) == 1 {
				sc, err = harness.LoadScenario(args[0])
			} else {
				var b []byte
				if b, err = fs.ReadFile(scenarios.FS, scenarios.Default); err == nil {
					sc, err = harness.ParseScenario(b)
				}
			}
			if err != nil {
				return withCode(exitUsage, err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := harness.RunScenario(ctx, sc, harness.RunOptions{
				Seed: seed, Out: cmd.OutOrStdout(), TraceTimes: traceTimes, Timeout: timeout,
			})
			if err != nil {
				return withCode(exitFailed, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "\nscenario %s passed: %d blocks accepted, height %d, %d RPCs, %v\n",
				sc.Name, len(res.Blocks), res.Height, len(res.Trace.Events()), res.Elapsed.Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().Int64Var(&seed, "seed", 1, "seed for every random choice; the same seed prints the same trace")
	cmd.Flags().BoolVar(&traceTimes, "trace-times", false, "print RPC latencies in the trace (breaks byte-for-byte repeatability)")
	cmd.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "bound on the whole run")
	return cmd
}
