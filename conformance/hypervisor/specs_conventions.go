package hypervisor

import (
	"context"

	. "github.com/onsi/gomega"
	"google.golang.org/grpc/codes"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// conventions are behaviours the API doc describes and the fake follows but
// the wire contract does not require: they are checked and reported as
// SHOULD, and a server that differs is not failed for it (see IsConvention).
func (s *specs) conventions() {
	s.it("[HV-CLU-010] DeregisterNode of a node already deregistered SHOULD return NotFound (a documented convention; an idempotent OK is also seen)", func(ctx context.Context, e *env) {
		n := e.registerNode(ctx, e.nodeRequest(e.region()))
		_, err := e.cluster.DeregisterNode(ctx, &hv.DeregisterNodeRequest{NodeId: n.GetId()})
		expectOK(err, "DeregisterNode")
		_, err = e.cluster.DeregisterNode(ctx, &hv.DeregisterNodeRequest{NodeId: n.GetId()})
		expectCode(err, codes.NotFound, "DeregisterNode of a node already deregistered")
	})

	s.it("[HV-NET-016] CreateSubnet without gateway_ip SHOULD default the gateway to the first usable address (the documented convention, .1 of a /24)", func(ctx context.Context, e *env) {
		n := e.createNetwork(ctx)
		sub := e.createSubnet(ctx, n.GetId(), "10.20.30.0/24")
		Expect(sub.GetGatewayIp()).To(Equal("10.20.30.1"), "gateway_ip of 10.20.30.0/24 without an explicit gateway")
	})

	s.it("[HV-NET-017] AllocateIP without ip_address SHOULD hand out the lowest free address after the gateway, and again after ReleaseIP (the documented allocation order)", func(ctx context.Context, e *env) {
		n := e.createNetwork(ctx)
		sub := e.createSubnet(ctx, n.GetId(), "10.40.0.0/24", func(r *hv.CreateSubnetRequest) { r.GatewayIp = "10.40.0.1" })
		first := e.allocate(ctx, sub.GetId(), "")
		Expect(first.GetIpAddress()).To(Equal("10.40.0.2"), "first free address of 10.40.0.0/24 with gateway 10.40.0.1")
		e.allocate(ctx, sub.GetId(), "")
		_, err := e.network.ReleaseIP(ctx, &hv.ReleaseIPRequest{SubnetId: sub.GetId(), IpAddress: "10.40.0.2"})
		expectOK(err, "ReleaseIP")
		again := e.allocate(ctx, sub.GetId(), "")
		Expect(again.GetIpAddress()).To(Equal("10.40.0.2"), "after ReleaseIP the lowest free address is free again")
	})

	s.it("[HV-NET-018] DeleteNetwork SHOULD be refused with FailedPrecondition while a subnet exists (a documented convention; a server may delete the subnets with the network)", func(ctx context.Context, e *env) {
		n := e.createNetwork(ctx)
		e.createSubnet(ctx, n.GetId(), "10.43.0.0/24")
		_, err := e.network.DeleteNetwork(ctx, &hv.DeleteNetworkRequest{NetworkId: n.GetId()})
		expectCode(err, codes.FailedPrecondition, "DeleteNetwork with a subnet")
		_, err = e.network.GetNetwork(ctx, &hv.GetNetworkRequest{NetworkId: n.GetId()})
		expectOK(err, "GetNetwork after a refused delete")
	})
}
