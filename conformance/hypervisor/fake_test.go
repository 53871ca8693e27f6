package hypervisor_test

import (
	"fmt"

	"google.golang.org/grpc"

	conform "github.com/vmtestbed/vmtestbed/conformance/hypervisor"
	fakehv "github.com/vmtestbed/vmtestbed/fakes/hypervisor"
	"github.com/vmtestbed/vmtestbed/internal/transport"
)

// startFake serves the in-process fake over bufconn, with opts (fault
// interceptors) on its grpc server, and returns a suite config aimed at it.
func startFake(opts ...grpc.ServerOption) (conform.Config, func(), error) {
	bn := transport.NewBufnet()
	lis, addr, err := bn.Listen("hypervisor")
	if err != nil {
		return conform.Config{}, nil, fmt.Errorf("listen: %w", err)
	}
	fake := fakehv.New(fakehv.Options{Seed: 1})
	g := grpc.NewServer(opts...)
	fake.Register(g)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = g.Serve(lis) // returns when g stops
	}()
	stop := func() {
		g.Stop()
		<-done
		fake.Close()
	}
	return conform.Config{Addr: addr, DialOptions: bn.DialOptions()}, stop, nil
}
