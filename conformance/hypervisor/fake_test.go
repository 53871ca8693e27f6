package hypervisor_test

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

	conform "github.com/vmtestbed/vmtestbed/conformance/hypervisor"
	fakehv "github.com/vmtestbed/vmtestbed/fakes/hypervisor"
	"github.com/vmtestbed/vmtestbed/internal/transport"
)

// offsetClock lets the suite move the fake's clock (conform.ServerClock).
type offsetClock struct{ c *fakehv.OffsetClock }

func (o offsetClock) Advance(_ context.Context, d time.Duration) error {
	o.c.Advance(d)
	return nil
}

// startFake serves the in-process fake over bufconn, with opts (fault
// interceptors) on its grpc server, and returns a suite config aimed at it
// that moves the fake's clock for the lease specs.
func startFake(opts ...grpc.ServerOption) (conform.Config, func(), error) {
	bn := transport.NewBufnet()
	lis, addr, err := bn.Listen("hypervisor")
	if err != nil {
		return conform.Config{}, nil, fmt.Errorf("listen: %w", err)
	}
	clock := &fakehv.OffsetClock{}
	fake := fakehv.New(fakehv.Options{Seed: 1, Clock: clock})
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
	return conform.Config{Addr: addr, DialOptions: bn.DialOptions(), ServerClock: offsetClock{clock}}, stop, nil
}
