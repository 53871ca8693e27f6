// Command refvm is the reference Avalanche chain VM plugin (see fakes/refvm).
// AvalancheGo starts it with no arguments and AVALANCHE_VM_RUNTIME_ENGINE_ADDR
// in the environment. A broken variant is baked in at build time:
//
//	go build -ldflags "-X main.variant=crash-build" ./cmd/refvm
//
// and so is the rpcchainvm protocol it announces (default 46, v1.15.0):
//
//	go build -ldflags "-X main.protocol=45" ./cmd/refvm   # as xsvm v1.14.2
//
// Flags (for humans and the Makefile): --list-broken prints the broken variant
// names one per line; --version prints the VM version and variant.
//
// Like plugins built with rpcchainvm.Serve, refvm ignores SIGTERM and SIGINT
// until the node called Shutdown, then exits 0. A failed runtime handshake
// exits 1.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/vmtestbed/vmtestbed/fakes/refvm"
	"github.com/vmtestbed/vmtestbed/transport"
)

// variant is set with -ldflags "-X main.variant=NAME"; empty is the correct VM.
var variant string

// protocol is set with -ldflags "-X main.protocol=N"; empty is refvm's default.
var protocol string

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "--list-broken", "-list-broken":
			for _, v := range refvm.Variants() {
				fmt.Fprintln(stdout, v.Name)
			}
			return 0
		case "--version", "-version":
			v := refvm.Version
			if variant != "" {
				v += "+" + variant
			}
			fmt.Fprintln(stdout, v)
			return 0
		default:
			fmt.Fprintf(stderr, "refvm: unknown argument %q (plugins take no arguments; flags: --list-broken, --version)\n", args[0])
			return 2
		}
	}
	// Dropped until Shutdown makes Serve return; the process then exits.
	// The first one closes terminate (only db-after-shutdown waits for it).
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	terminate := make(chan struct{})
	go func() {
		<-signals
		close(terminate)
		for range signals {
		}
	}()
	var proto uint64
	if protocol != "" {
		var err error
		if proto, err = strconv.ParseUint(protocol, 10, 32); err != nil {
			fmt.Fprintf(stderr, "refvm: built with protocol %q: %v\n", protocol, err)
			return 2
		}
	}
	err := refvm.Serve(context.Background(), os.Getenv("AVALANCHE_VM_RUNTIME_ENGINE_ADDR"), refvm.Config{
		Variant:   variant,
		Protocol:  uint(proto),
		Transport: transport.TCP{},
		Stderr:    stderr,
		Terminate: terminate,
	})
	if err != nil {
		fmt.Fprintf(stderr, "refvm: %v\n", err)
		return 1
	}
	return 0
}
