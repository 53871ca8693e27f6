// Command vmtestbed runs stacks and conformance suites. It stays thin: each
// subcommand parses flags and calls a library package. Subcommands live one
// per file and attach themselves to the parents declared here.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes shared by every subcommand.
const (
	exitOK      = 0
	exitFailed  = 1 // some spec failed
	exitUsage   = 2 // usage error, or a target that could not be started
	exitUnknown = 3
)

// exitError carries an exit code out of a RunE.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// withCode wraps err so main exits with code.
func withCode(code int, err error) error { return &exitError{code: code, err: err} }

var (
	rootCmd = &cobra.Command{
		Use:           "vmtestbed",
		Short:         "Test software that lives between a host and its virtual machines, in one process",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	conformCmd = &cobra.Command{Use: "conform", Short: "Run a conformance suite against an implementation"}
	serveCmd   = &cobra.Command{Use: "serve", Short: "Serve a fake over the network"}
)

func init() {
	rootCmd.AddCommand(conformCmd, serveCmd)
	rootCmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return withCode(exitUsage, err) })
}

func main() { os.Exit(run(os.Args[1:])) }

// run executes the command line. SIGINT and SIGTERM cancel the context every
// subcommand gets from cmd.Context(), so each returns through its deferred
// cleanup (realhv domains, temp dirs, servers) instead of dying mid-way; a
// second signal, after stop, kills the process as usual.
func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rootCmd.SetArgs(args)
	err := rootCmd.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "vmtestbed:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "vmtestbed:", err)
	return exitUsage
}
