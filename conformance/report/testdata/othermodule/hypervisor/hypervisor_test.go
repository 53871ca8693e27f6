// Package hypervisor_test is a module other than vmtestbed that checks a
// hypervisor.v1 server (here vmtestbed's fake, on loopback TCP) with the suite.
package hypervisor_test

import (
	"net"
	"testing"

	"github.com/vmtestbed/vmtestbed/conformance/hypervisor"
	fakehv "github.com/vmtestbed/vmtestbed/fakes/hypervisor"
)

func TestHypervisor(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served, err := fakehv.Serve(fakehv.Options{Seed: 1}, fakehv.ServeOptions{Listener: lis})
	if err != nil {
		t.Fatal(err)
	}
	defer served.Stop()

	cfg := hypervisor.DefaultConfig()
	cfg.Addr = served.Addr()
	hypervisor.Run(t, cfg)
}
