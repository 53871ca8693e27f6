package hypervisor

import (
	"testing"

	"google.golang.org/grpc/codes"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

func TestRouterLifecycle(t *testing.T) {
	f := newNetFixture(t)
	ext, extSub := f.flatSubnet(t, "203.0.113.0/29", true)
	internal, sub := f.flatSubnet(t, "10.0.0.0/24", false)

	_, err := f.net.CreateRouter(ctx, &hv.CreateRouterRequest{Name: "r", ExternalGateway: &hv.ExternalGateway{NetworkId: internal.Id}})
	wantCode(t, err, codes.InvalidArgument, "CreateRouter gateway on internal network")
	_, err = f.net.CreateRouter(ctx, &hv.CreateRouterRequest{Name: "r", ExternalGateway: &hv.ExternalGateway{NetworkId: "net-nope"}})
	wantCode(t, err, codes.NotFound, "CreateRouter gateway on unknown network")
	_, err = f.net.CreateRouter(ctx, &hv.CreateRouterRequest{Name: "r", ExternalGateway: &hv.ExternalGateway{NetworkId: ext.Id,
		ExternalFixedIps: []*hv.FixedIP{{SubnetId: extSub.Id, IpAddress: "203.0.113.1"}}}})
	wantCode(t, err, codes.InvalidArgument, "CreateRouter gateway on the subnet gateway address")

	r := call(f.net.CreateRouter(ctx, &hv.CreateRouterRequest{Name: "r", TenantId: "t1",
		ExternalGateway: &hv.ExternalGateway{NetworkId: ext.Id, EnableSnat: true}})).ok(t).GetRouter()
	fixed := r.GetExternalGateway().GetExternalFixedIps()
	if len(fixed) != 1 || fixed[0].IpAddress != "203.0.113.2" || fixed[0].SubnetId != extSub.Id || r.Status != RouterStatusActive {
		t.Fatalf("router = %v", r)
	}

	portID := call(f.net.AddRouterInterface(ctx, &hv.AddRouterInterfaceRequest{RouterId: r.Id, SubnetId: sub.Id})).ok(t).GetPortId()
	port := call(f.net.GetPort(ctx, &hv.GetPortRequest{PortId: portID})).ok(t).GetPort()
	if port.IpAddress != sub.GatewayIp || port.SubnetId != sub.Id {
		t.Fatalf("interface port = %v, want gateway %s", port, sub.GatewayIp)
	}
	r2 := call(f.net.CreateRouter(ctx, &hv.CreateRouterRequest{Name: "r2"})).ok(t).GetRouter()
	_, err = f.net.AddRouterInterface(ctx, &hv.AddRouterInterfaceRequest{RouterId: r2.Id, SubnetId: sub.Id})
	wantCode(t, err, codes.AlreadyExists, "AddRouterInterface on an attached subnet")
	_, err = f.net.AddRouterInterface(ctx, &hv.AddRouterInterfaceRequest{RouterId: r.Id, SubnetId: "subnet-nope"})
	wantCode(t, err, codes.NotFound, "AddRouterInterface unknown subnet")
	_, err = f.net.DeletePort(ctx, &hv.DeletePortRequest{PortId: portID})
	wantCode(t, err, codes.FailedPrecondition, "DeletePort of a router interface")

	routes := []struct {
		dest, hop string
		code      codes.Code
	}{
		{"192.168.0.0/16", "10.0.0.254", codes.OK},
		{"0.0.0.0/0", "203.0.113.6", codes.OK},
		{"192.168.0.0/16", "10.0.0.253", codes.AlreadyExists},
		{"172.16.0.0/12", "10.1.0.1", codes.InvalidArgument},
		{"172.16.0.0/12", "fd00::1", codes.InvalidArgument},
		{"172.16.0.1/12", "10.0.0.9", codes.InvalidArgument},
		{"nowhere", "10.0.0.9", codes.InvalidArgument},
	}
	for _, rt := range routes {
		_, err := f.net.AddRoute(ctx, &hv.AddRouteRequest{RouterId: r.Id, Destination: rt.dest, Nexthop: rt.hop})
		wantCode(t, err, rt.code, "AddRoute "+rt.dest+" via "+rt.hop)
	}
	_, err = f.net.RemoveRouterInterface(ctx, &hv.RemoveRouterInterfaceRequest{RouterId: r.Id, SubnetId: sub.Id})
	wantCode(t, err, codes.FailedPrecondition, "RemoveRouterInterface needed by a route")
	_, err = f.net.RemoveRoute(ctx, &hv.RemoveRouteRequest{RouterId: r.Id, Destination: "10.10.0.0/16"})
	wantCode(t, err, codes.NotFound, "RemoveRoute unknown")
	left := call(f.net.RemoveRoute(ctx, &hv.RemoveRouteRequest{RouterId: r.Id, Destination: "192.168.0.0/16"})).ok(t).GetRouter()
	if len(left.Routes) != 1 || left.Routes[0].Destination != "0.0.0.0/0" {
		t.Fatalf("routes after remove = %v", left.Routes)
	}

	_, err = f.net.DeleteRouter(ctx, &hv.DeleteRouterRequest{RouterId: r.Id})
	wantCode(t, err, codes.FailedPrecondition, "DeleteRouter with interfaces")
	_, err = f.net.RemoveRouterInterface(ctx, &hv.RemoveRouterInterfaceRequest{RouterId: r2.Id, SubnetId: sub.Id})
	wantCode(t, err, codes.NotFound, "RemoveRouterInterface of another router")
	call(f.net.RemoveRouterInterface(ctx, &hv.RemoveRouterInterfaceRequest{RouterId: r.Id, SubnetId: sub.Id})).ok(t)
	_, err = f.net.GetPort(ctx, &hv.GetPortRequest{PortId: portID})
	wantCode(t, err, codes.NotFound, "interface port after RemoveRouterInterface")
	if l := call(f.net.ListRouters(ctx, &hv.ListRoutersRequest{TenantId: "t1"})).ok(t).GetRouters(); len(l) != 1 || l[0].Id != r.Id {
		t.Fatalf("ListRouters(t1) = %v", l)
	}
	call(f.net.DeleteRouter(ctx, &hv.DeleteRouterRequest{RouterId: r.Id})).ok(t)
	_, err = f.net.GetRouter(ctx, &hv.GetRouterRequest{RouterId: r.Id})
	wantCode(t, err, codes.NotFound, "GetRouter after delete")
	// The gateway address went back to the pool.
	a := call(f.net.AllocateIP(ctx, &hv.AllocateIPRequest{SubnetId: extSub.Id})).ok(t).GetAllocation()
	if a.IpAddress != "203.0.113.2" {
		t.Fatalf("first free external address %s, want the router's released 203.0.113.2", a.IpAddress)
	}
}

func TestFloatingIPs(t *testing.T) {
	f := newNetFixture(t)
	ext, _ := f.flatSubnet(t, "198.51.100.0/30", true) // one pool address: .2
	nw, sub := f.flatSubnet(t, "10.0.0.0/24", false)
	port := call(f.net.CreatePort(ctx, &hv.CreatePortRequest{NetworkId: nw.Id, SubnetId: sub.Id})).ok(t).GetPort()
	bare := call(f.net.CreatePort(ctx, &hv.CreatePortRequest{NetworkId: nw.Id})).ok(t).GetPort()

	_, err := f.net.CreateFloatingIP(ctx, &hv.CreateFloatingIPRequest{FloatingNetworkId: nw.Id})
	wantCode(t, err, codes.InvalidArgument, "CreateFloatingIP on internal network")
	fip := call(f.net.CreateFloatingIP(ctx, &hv.CreateFloatingIPRequest{FloatingNetworkId: ext.Id, TenantId: "t1"})).ok(t).GetFloatingIp()
	if fip.FloatingIp != "198.51.100.2" || fip.Status != FloatingIPStatusDown {
		t.Fatalf("floating IP = %v", fip)
	}
	_, err = f.net.CreateFloatingIP(ctx, &hv.CreateFloatingIPRequest{FloatingNetworkId: ext.Id})
	wantCode(t, err, codes.ResourceExhausted, "CreateFloatingIP on a full network")

	assoc := func(req *hv.AssociateFloatingIPRequest) error {
		_, err := f.net.AssociateFloatingIP(ctx, req)
		return err
	}
	wantCode(t, assoc(&hv.AssociateFloatingIPRequest{FloatingIpId: "fip-nope", PortId: port.Id}), codes.NotFound, "associate unknown fip")
	wantCode(t, assoc(&hv.AssociateFloatingIPRequest{FloatingIpId: fip.Id, PortId: "port-nope"}), codes.NotFound, "associate unknown port")
	wantCode(t, assoc(&hv.AssociateFloatingIPRequest{FloatingIpId: fip.Id, PortId: bare.Id}), codes.FailedPrecondition, "associate port without IP")
	wantCode(t, assoc(&hv.AssociateFloatingIPRequest{FloatingIpId: fip.Id, PortId: port.Id, FixedIp: "10.0.0.99"}), codes.InvalidArgument, "associate wrong fixed ip")
	got := call(f.net.AssociateFloatingIP(ctx, &hv.AssociateFloatingIPRequest{FloatingIpId: fip.Id, PortId: port.Id, FixedIp: port.IpAddress})).ok(t).GetFloatingIp()
	if got.Status != FloatingIPStatusActive || got.FixedIp != port.IpAddress || got.PortId != port.Id {
		t.Fatalf("associated = %v", got)
	}
	if l := call(f.net.ListFloatingIPs(ctx, &hv.ListFloatingIPsRequest{PortId: port.Id})).ok(t).GetFloatingIps(); len(l) != 1 {
		t.Fatalf("ListFloatingIPs(port) = %v", l)
	}
	_, err = f.net.DeletePort(ctx, &hv.DeletePortRequest{PortId: port.Id})
	wantCode(t, err, codes.FailedPrecondition, "DeletePort with a floating IP")
	got = call(f.net.DisassociateFloatingIP(ctx, &hv.DisassociateFloatingIPRequest{FloatingIpId: fip.Id})).ok(t).GetFloatingIp()
	if got.Status != FloatingIPStatusDown || got.PortId != "" {
		t.Fatalf("disassociated = %v", got)
	}
	_, err = f.net.DisassociateFloatingIP(ctx, &hv.DisassociateFloatingIPRequest{FloatingIpId: fip.Id})
	wantCode(t, err, codes.FailedPrecondition, "disassociate twice")
	if l := call(f.net.ListFloatingIPs(ctx, &hv.ListFloatingIPsRequest{TenantId: "t1"})).ok(t).GetFloatingIps(); len(l) != 1 {
		t.Fatalf("ListFloatingIPs(t1) = %v", l)
	}
	call(f.net.DeleteFloatingIP(ctx, &hv.DeleteFloatingIPRequest{FloatingIpId: fip.Id})).ok(t)
	_, err = f.net.DeleteFloatingIP(ctx, &hv.DeleteFloatingIPRequest{FloatingIpId: fip.Id})
	wantCode(t, err, codes.NotFound, "DeleteFloatingIP twice")
	again := call(f.net.CreateFloatingIP(ctx, &hv.CreateFloatingIPRequest{FloatingNetworkId: ext.Id})).ok(t).GetFloatingIp()
	if again.FloatingIp != "198.51.100.2" {
		t.Fatalf("address not released: got %s", again.FloatingIp)
	}
}

func TestListVTEPs(t *testing.T) {
	f := newNetFixture(t)
	a, b := f.node(t, "192.0.2.1"), f.node(t, "192.0.2.2")
	call(f.cluster.UpdateNodeStatus(ctx, &hv.UpdateNodeStatusRequest{NodeId: b, Status: hv.NodeStatus_NODE_STATUS_MAINTENANCE})).ok(t)
	vteps := call(f.net.ListVTEPs(ctx, &hv.ListVTEPsRequest{})).ok(t).GetVteps()
	if len(vteps) != 1 || vteps[0].NodeId != a || vteps[0].Ip != "192.0.2.1" || vteps[0].Port != 4789 || vteps[0].Interface != "vxlan0" {
		t.Fatalf("VTEPs = %v, want one for READY node %s", vteps, a)
	}
}
