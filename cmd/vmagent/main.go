// Command vmagent is the guest agent alone: a tiny static binary (build it
// with CGO_ENABLED=0) to copy into a guest image. It takes the same flags as
// `vmtestbed agent`, which links avalanchego and so is not guaranteed to
// build without cgo. Exit codes: 0 the host side went away or a signal ended
// it, 1 serving failed, 2 bad flags or the port could not be opened.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
	agent "github.com/vmtestbed/vmtestbed/fakes/guestagent"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	var cli agent.CLI
	fs := pflag.NewFlagSet("vmagent", pflag.ContinueOnError)
	cli.Bind(fs)
	if err := fs.Parse(args); err != nil {
		fmt.Fprintln(os.Stderr, "vmagent:", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "vmagent: unexpected arguments %q\n", fs.Args())
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := cli.Run(ctx)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, agent.ErrUsage):
		fmt.Fprintln(os.Stderr, "vmagent:", err)
		return 2
	default:
		fmt.Fprintln(os.Stderr, "vmagent:", err)
		return 1
	}
}
