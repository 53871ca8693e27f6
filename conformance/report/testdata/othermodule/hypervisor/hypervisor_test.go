// Package hypervisor_test is a module other than vmtestbed that checks a
// hypervisor.v1 server (here vmtestbed's fake, on loopback TCP) with the suite.
package hypervisor_test

import (
	"net"
	"testing"

	"google.golang.org/grpc"

	"github.com/vmtestbed/vmtestbed/conformance/hypervisor"
	fakehv "github.com/vmtestbed/vmtestbed/fakes/hypervisor"
)

func TestHypervisor(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := fakehv.New(fakehv.Options{Seed: 1})
	g := grpc.NewServer()
	f.Register(g)
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Serve(lis) }()
	defer func() { g.Stop(); <-done; f.Close() }()

	cfg := hypervisor.DefaultConfig()
	cfg.Addr = lis.Addr().String()
	hypervisor.Run(t, cfg)
}
