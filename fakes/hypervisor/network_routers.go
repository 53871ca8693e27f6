package hypervisor

import (
	"context"
	"net/netip"
	"slices"

	"google.golang.org/grpc/codes"

	"github.com/vmtestbed/vmtestbed/fakes/hypervisor/ipam"
	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// RouterStatusActive is the status of every router.
const RouterStatusActive = "ACTIVE"

func (n *networkService) CreateRouter(_ context.Context, req *hv.CreateRouterRequest) (*hv.CreateRouterResponse, error) {
	if err := validName("name", req.GetName(), false); err != nil {
		return nil, err
	}
	if err := validToken("tenant_id", req.GetTenantId()); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.full("routers", len(n.routers.byID)); err != nil {
		return nil, err
	}
	id := n.srv.newID("router")
	var gw *hv.ExternalGateway
	if eg := req.GetExternalGateway(); eg != nil {
		g, err := n.attachGateway(id, eg)
		if err != nil {
			return nil, err
		}
		gw = g
	}
	now := n.stamp()
	r := &hv.Router{
		Id: id, Name: req.GetName(), TenantId: req.GetTenantId(), AdminState: true,
		Status: RouterStatusActive, ExternalGateway: gw, Distributed: req.GetDistributed(),
		CreatedAt: now, UpdatedAt: now,
	}
	n.routers.put(id, &routerState{pb: r, interfaces: map[string]string{}})
	return &hv.CreateRouterResponse{Router: clone(r)}, nil
}

// attachGateway allocates the external fixed IPs of router id: the ones
// asked for, or the first free address of the network's first subnet with
// room. On error nothing stays allocated. The caller holds n.mu.
func (n *networkService) attachGateway(id string, eg *hv.ExternalGateway) (*hv.ExternalGateway, error) {
	nw, err := n.network(eg.GetNetworkId())
	if err != nil {
		return nil, err
	}
	if !nw.External {
		return nil, errf(codes.InvalidArgument, "network %s is not external", nw.Id)
	}
	out := &hv.ExternalGateway{NetworkId: nw.Id, EnableSnat: eg.GetEnableSnat()}
	undo := func() {
		for _, f := range out.ExternalFixedIps {
			n.release(f.SubnetId, f.IpAddress)
		}
	}
	owner := "router:" + id
	for _, want := range eg.GetExternalFixedIps() {
		sub, err := n.portSubnet(nw, want.GetSubnetId(), want.GetIpAddress())
		if err == nil && sub == nil {
			sub, err = n.freeSubnet(nw)
		}
		var a *allocation
		if err == nil {
			a, err = n.allocate(sub, want.GetIpAddress(), owner)
		}
		if err != nil {
			undo()
			return nil, err
		}
		out.ExternalFixedIps = append(out.ExternalFixedIps, &hv.FixedIP{SubnetId: sub.pb.Id, IpAddress: a.pb.IpAddress})
	}
	if len(out.ExternalFixedIps) == 0 {
		sub, err := n.freeSubnet(nw)
		if err != nil {
			return nil, err
		}
		a, err := n.allocate(sub, "", owner)
		if err != nil {
			return nil, err
		}
		out.ExternalFixedIps = append(out.ExternalFixedIps, &hv.FixedIP{SubnetId: sub.pb.Id, IpAddress: a.pb.IpAddress})
	}
	return out, nil
}

// freeSubnet is the first subnet of nw with a free pool address.
func (n *networkService) freeSubnet(nw *hv.Network) (*subnetState, error) {
	subs := n.subnets.all(func(s *subnetState) bool { return s.pb.NetworkId == nw.Id })
	if len(subs) == 0 {
		return nil, errf(codes.FailedPrecondition, "network %s has no subnet to allocate from", nw.Id)
	}
	for _, s := range subs {
		if a, err := s.ipam.Allocate(); err == nil {
			_ = s.ipam.Release(a) // just probed; allocate takes it for real
			return s, nil
		}
	}
	return nil, errf(codes.ResourceExhausted, "every subnet of network %s is full", nw.Id)
}

func (n *networkService) GetRouter(_ context.Context, req *hv.GetRouterRequest) (*hv.GetRouterResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	r, err := n.router(req.GetRouterId())
	if err != nil {
		return nil, err
	}
	return &hv.GetRouterResponse{Router: clone(r.pb)}, nil
}

// router looks a router up; the caller holds n.mu.
func (n *networkService) router(id string) (*routerState, error) {
	if err := required("router_id", id); err != nil {
		return nil, err
	}
	r, ok := n.routers.get(id)
	if !ok {
		return nil, errf(codes.NotFound, "router %s not found", id)
	}
	return r, nil
}

func (n *networkService) ListRouters(_ context.Context, req *hv.ListRoutersRequest) (*hv.ListRoutersResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := &hv.ListRoutersResponse{}
	for _, r := range n.routers.all(func(r *routerState) bool { return req.GetTenantId() == "" || r.pb.TenantId == req.GetTenantId() }) {
		out.Routers = append(out.Routers, clone(r.pb))
	}
	return out, nil
}

func (n *networkService) DeleteRouter(_ context.Context, req *hv.DeleteRouterRequest) (*hv.DeleteRouterResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	r, err := n.router(req.GetRouterId())
	if err != nil {
		return nil, err
	}
	if len(r.ifaceOrder) > 0 {
		return nil, errf(codes.FailedPrecondition, "router %s still has %d interface(s), first on subnet %s", r.pb.Id, len(r.ifaceOrder), r.ifaceOrder[0])
	}
	for _, f := range r.pb.GetExternalGateway().GetExternalFixedIps() {
		n.release(f.SubnetId, f.IpAddress)
	}
	n.routers.remove(r.pb.Id)
	return &hv.DeleteRouterResponse{}, nil
}

func (n *networkService) AddRouterInterface(_ context.Context, req *hv.AddRouterInterfaceRequest) (*hv.AddRouterInterfaceResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	r, err := n.router(req.GetRouterId())
	if err != nil {
		return nil, err
	}
	sub, err := n.subnet(req.GetSubnetId())
	if err != nil {
		return nil, err
	}
	if sub.gatewayPort != "" {
		return nil, errf(codes.AlreadyExists, "subnet %s is already attached to router %s", sub.pb.Id, n.routerOf[sub.gatewayPort])
	}
	id := n.srv.newID("port")
	now := n.stamp()
	port := &hv.Port{
		Id: id, Name: "router-interface-" + r.pb.Id, NetworkId: sub.pb.NetworkId, SubnetId: sub.pb.Id,
		MacAddress: n.newMAC(id), IpAddress: sub.pb.GatewayIp, DeviceName: defaultDevice("qr-", id),
		AdminState: true, Status: PortStatusActive, BindingType: hv.PortBindingType_PORT_BINDING_OVS,
		CreatedAt: now, UpdatedAt: now,
	}
	n.macs[port.MacAddress] = id
	n.ports.put(id, port)
	n.routerOf[id] = r.pb.Id
	sub.gatewayPort = id
	r.interfaces[sub.pb.Id] = id
	r.ifaceOrder = append(r.ifaceOrder, sub.pb.Id)
	r.pb.UpdatedAt = now
	return &hv.AddRouterInterfaceResponse{PortId: id}, nil
}

func (n *networkService) RemoveRouterInterface(_ context.Context, req *hv.RemoveRouterInterfaceRequest) (*hv.RemoveRouterInterfaceResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	r, err := n.router(req.GetRouterId())
	if err != nil {
		return nil, err
	}
	if err := required("subnet_id", req.GetSubnetId()); err != nil {
		return nil, err
	}
	portID, ok := r.interfaces[req.GetSubnetId()]
	if !ok {
		return nil, errf(codes.NotFound, "router %s has no interface on subnet %s", r.pb.Id, req.GetSubnetId())
	}
	sub, _ := n.subnets.get(req.GetSubnetId())
	for _, rt := range r.pb.Routes {
		if sub.ipam.Prefix().Contains(netip.MustParseAddr(rt.Nexthop)) {
			return nil, errf(codes.FailedPrecondition, "route to %s via %s of router %s needs subnet %s", rt.Destination, rt.Nexthop, r.pb.Id, sub.pb.Id)
		}
	}
	port, _ := n.ports.get(portID)
	n.deletePort(port)
	sub.gatewayPort = ""
	delete(r.interfaces, sub.pb.Id)
	r.ifaceOrder = slices.DeleteFunc(r.ifaceOrder, func(s string) bool { return s == sub.pb.Id })
	r.pb.UpdatedAt = n.stamp()
	return &hv.RemoveRouterInterfaceResponse{}, nil
}

// AddRoute adds a static route. The nexthop must lie in a subnet the router
// is attached to: one of its interfaces or its external gateway.
func (n *networkService) AddRoute(_ context.Context, req *hv.AddRouteRequest) (*hv.AddRouteResponse, error) {
	dest, err := ipam.ParsePrefix(req.GetDestination())
	if err != nil {
		return nil, errf(codes.InvalidArgument, "destination: %v", err)
	}
	hop, err := parseAddr("nexthop", req.GetNexthop())
	if err != nil {
		return nil, err
	}
	if hop.Is4() != dest.Addr().Is4() {
		return nil, errf(codes.InvalidArgument, "nexthop %s and destination %s are of different families", hop, dest)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	r, err := n.router(req.GetRouterId())
	if err != nil {
		return nil, err
	}
	if !n.routerReaches(r, hop) {
		return nil, errf(codes.InvalidArgument, "nexthop %s is in no subnet attached to router %s", hop, r.pb.Id)
	}
	for _, rt := range r.pb.Routes {
		if rt.Destination == dest.String() {
			return nil, errf(codes.AlreadyExists, "router %s already routes %s via %s", r.pb.Id, dest, rt.Nexthop)
		}
	}
	if err := n.full("routes on router "+r.pb.Id, len(r.pb.Routes)); err != nil {
		return nil, err
	}
	r.pb.Routes = append(r.pb.Routes, &hv.Route{Destination: dest.String(), Nexthop: hop.String()})
	r.pb.UpdatedAt = n.stamp()
	return &hv.AddRouteResponse{Router: clone(r.pb)}, nil
}

func (n *networkService) routerReaches(r *routerState, hop netip.Addr) bool {
	ids := slices.Clone(r.ifaceOrder)
	for _, f := range r.pb.GetExternalGateway().GetExternalFixedIps() {
		ids = append(ids, f.SubnetId)
	}
	for _, id := range ids {
		if sub, ok := n.subnets.get(id); ok && sub.ipam.Prefix().Contains(hop) {
			return true
		}
	}
	return false
}

func (n *networkService) RemoveRoute(_ context.Context, req *hv.RemoveRouteRequest) (*hv.RemoveRouteResponse, error) {
	dest, err := ipam.ParsePrefix(req.GetDestination())
	if err != nil {
		return nil, errf(codes.InvalidArgument, "destination: %v", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	r, err := n.router(req.GetRouterId())
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(r.pb.Routes, func(rt *hv.Route) bool { return rt.Destination == dest.String() })
	if i < 0 {
		return nil, errf(codes.NotFound, "router %s has no route to %s", r.pb.Id, dest)
	}
	r.pb.Routes = slices.Delete(r.pb.Routes, i, i+1)
	r.pb.UpdatedAt = n.stamp()
	return &hv.RemoveRouteResponse{Router: clone(r.pb)}, nil
}
