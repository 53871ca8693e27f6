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
	"golang.org/x/sys/unix"

	agent "github.com/vmtestbed/vmtestbed/fakes/guestagent"
)

func main() {
	if os.Getpid() == 1 {
		// The tiny guest's /init: it must never exit (the kernel would panic).
		err := agent.RunInit(agent.InitOptions{PortName: os.Getenv("VMAGENT_PORT")})
		fmt.Fprintln(os.Stderr, "vmagent: init failed:", err)
		// Not select{}: with no other goroutine the runtime would call that
		// a deadlock and exit. A goroutine parked in pause(2) is not asleep.
		for {
			_ = unix.Pause()
		}
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	var cli agent.CLI
	var initChild bool
	var portName string
	fs := pflag.NewFlagSet("vmagent", pflag.ContinueOnError)
	cli.Bind(fs)
	fs.BoolVar(&initChild, "init-child", false, "serve as the agent under /init: find the port by --port-name, reopen it on end of file, never exit")
	fs.StringVar(&portName, "port-name", agent.DefaultPortName, "with --init-child, the virtio port's name")
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
	var err error
	if initChild {
		o, oerr := cli.Options() // the port is found by name
		if oerr != nil {
			fmt.Fprintln(os.Stderr, "vmagent:", oerr)
			return 2
		}
		err = agent.RunInitChild(ctx, portName, o, os.Stderr)
	} else {
		err = cli.Run(ctx)
	}
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
