package hypervisor

import (
	"context"

	"google.golang.org/grpc/codes"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// Floating IP statuses: DOWN until associated with a port.
const (
	FloatingIPStatusDown   = "DOWN"
	FloatingIPStatusActive = "ACTIVE"
)

func (n *networkService) CreateFloatingIP(_ context.Context, req *hv.CreateFloatingIPRequest) (*hv.CreateFloatingIPResponse, error) {
	if err := validToken("tenant_id", req.GetTenantId()); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.full("floating IPs", len(n.fips.byID)); err != nil {
		return nil, err
	}
	nw, err := n.network(req.GetFloatingNetworkId())
	if err != nil {
		return nil, err
	}
	if !nw.External {
		return nil, errf(codes.InvalidArgument, "network %s is not external", nw.Id)
	}
	sub, err := n.freeSubnet(nw)
	if err != nil {
		return nil, err
	}
	id := n.srv.newID("fip")
	a, err := n.allocate(sub, "", "floatingip:"+id)
	if err != nil {
		return nil, err
	}
	now := n.stamp()
	f := &hv.FloatingIP{
		Id: id, FloatingIp: a.pb.IpAddress, FloatingNetworkId: nw.Id, TenantId: req.GetTenantId(),
		Status: FloatingIPStatusDown, CreatedAt: now, UpdatedAt: now,
	}
	n.fips.put(id, f)
	return &hv.CreateFloatingIPResponse{FloatingIp: clone(f)}, nil
}

// floatingIP looks a floating IP up; the caller holds n.mu.
func (n *networkService) floatingIP(id string) (*hv.FloatingIP, error) {
	if err := required("floating_ip_id", id); err != nil {
		return nil, err
	}
	f, ok := n.fips.get(id)
	if !ok {
		return nil, errf(codes.NotFound, "floating IP %s not found", id)
	}
	return f, nil
}

// AssociateFloatingIP maps a floating IP to a port's fixed IP. Associating
// again with the same port is a no-op; moving to another port needs a
// disassociate first. Reachability through a router is not checked.
func (n *networkService) AssociateFloatingIP(_ context.Context, req *hv.AssociateFloatingIPRequest) (*hv.AssociateFloatingIPResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f, err := n.floatingIP(req.GetFloatingIpId())
	if err != nil {
		return nil, err
	}
	port, err := n.port(req.GetPortId())
	if err != nil {
		return nil, err
	}
	if port.IpAddress == "" {
		return nil, errf(codes.FailedPrecondition, "port %s has no fixed IP", port.Id)
	}
	if fixed := req.GetFixedIp(); fixed != "" {
		addr, err := parseAddr("fixed_ip", fixed)
		if err != nil {
			return nil, err
		}
		if addr.String() != port.IpAddress {
			return nil, errf(codes.InvalidArgument, "fixed_ip %s is not the address %s of port %s", addr, port.IpAddress, port.Id)
		}
	}
	if f.PortId != "" && f.PortId != port.Id {
		return nil, errf(codes.FailedPrecondition, "floating IP %s is associated with port %s; disassociate it first", f.Id, f.PortId)
	}
	for _, other := range n.fips.all(func(o *hv.FloatingIP) bool { return o.Id != f.Id && o.PortId == port.Id }) {
		return nil, errf(codes.AlreadyExists, "port %s already has floating IP %s", port.Id, other.Id)
	}
	f.PortId, f.FixedIp, f.Status, f.UpdatedAt = port.Id, port.IpAddress, FloatingIPStatusActive, n.stamp()
	return &hv.AssociateFloatingIPResponse{FloatingIp: clone(f)}, nil
}

func (n *networkService) DisassociateFloatingIP(_ context.Context, req *hv.DisassociateFloatingIPRequest) (*hv.DisassociateFloatingIPResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f, err := n.floatingIP(req.GetFloatingIpId())
	if err != nil {
		return nil, err
	}
	if f.PortId == "" {
		return nil, errf(codes.FailedPrecondition, "floating IP %s is not associated", f.Id)
	}
	f.PortId, f.FixedIp, f.Status, f.UpdatedAt = "", "", FloatingIPStatusDown, n.stamp()
	return &hv.DisassociateFloatingIPResponse{FloatingIp: clone(f)}, nil
}

// DeleteFloatingIP releases the address, associated or not.
func (n *networkService) DeleteFloatingIP(_ context.Context, req *hv.DeleteFloatingIPRequest) (*hv.DeleteFloatingIPResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f, err := n.floatingIP(req.GetFloatingIpId())
	if err != nil {
		return nil, err
	}
	for _, sub := range n.subnets.all(func(s *subnetState) bool { return s.pb.NetworkId == f.FloatingNetworkId }) {
		n.release(sub.pb.Id, f.FloatingIp)
	}
	n.fips.remove(f.Id)
	return &hv.DeleteFloatingIPResponse{}, nil
}

func (n *networkService) ListFloatingIPs(_ context.Context, req *hv.ListFloatingIPsRequest) (*hv.ListFloatingIPsResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	all := n.fips.all(func(f *hv.FloatingIP) bool {
		return (req.GetTenantId() == "" || f.TenantId == req.GetTenantId()) &&
			(req.GetPortId() == "" || f.PortId == req.GetPortId())
	})
	return &hv.ListFloatingIPsResponse{FloatingIps: cloneAll(all)}, nil
}
