package hypervisor_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	conform "github.com/vmtestbed/vmtestbed/conformance/hypervisor"
	fakehv "github.com/vmtestbed/vmtestbed/fakes/hypervisor"
	"github.com/vmtestbed/vmtestbed/transport"
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
	clock := &fakehv.OffsetClock{}
	served, err := fakehv.Serve(fakehv.Options{Seed: 1, Clock: clock}, fakehv.ServeOptions{ServerOptions: opts})
	if err != nil {
		return conform.Config{}, nil, err
	}
	return conform.Config{Addr: served.Addr(), DialOptions: served.DialOptions(), ServerClock: offsetClock{clock}}, served.Stop, nil
}

// startFakeWithAgent serves two fakes on one bufnet: the control plane
// (whose AgentService answers Unimplemented) and, under its own name, the
// AgentService the suite is pointed at; dead points it at a name nobody
// serves instead.
func startFakeWithAgent(dead bool) (conform.Config, func(), error) {
	bn := transport.NewBufnet()
	noAgent := grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if strings.HasPrefix(info.FullMethod, svcAgent) {
			return nil, status.Error(codes.Unimplemented, "agents run on the nodes")
		}
		return h(ctx, req)
	})
	noAgentStream := grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if strings.HasPrefix(info.FullMethod, svcAgent) {
			return status.Error(codes.Unimplemented, "agents run on the nodes")
		}
		return h(srv, ss)
	})
	var stops []func()
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	serve := func(name string, opts ...grpc.ServerOption) (string, error) {
		lis, addr, err := bn.Listen(name)
		if err != nil {
			return "", fmt.Errorf("listen: %w", err)
		}
		served, err := fakehv.Serve(fakehv.Options{Seed: 1}, fakehv.ServeOptions{Listener: lis, DialOptions: bn.DialOptions(), ServerOptions: opts})
		if err != nil {
			return "", err
		}
		stops = append(stops, served.Stop)
		return addr, nil
	}
	addr, err := serve("control", noAgent, noAgentStream)
	if err != nil {
		return conform.Config{}, nil, err
	}
	agentAddr := "nobody-listens"
	if !dead {
		if agentAddr, err = serve("agent"); err != nil {
			stop()
			return conform.Config{}, nil, err
		}
	}
	return conform.Config{Addr: addr, AgentAddr: agentAddr, DialOptions: bn.DialOptions()}, stop, nil
}
