package hypervisor

import (
	"context"
	"net/netip"

	"google.golang.org/grpc/codes"

	"github.com/vmtestbed/vmtestbed/fakes/hypervisor/ipam"
	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

func (n *networkService) CreateSubnet(_ context.Context, req *hv.CreateSubnetRequest) (*hv.CreateSubnetResponse, error) {
	if err := validName("name", req.GetName(), false); err != nil {
		return nil, err
	}
	if err := required("cidr", req.GetCidr()); err != nil {
		return nil, err
	}
	if err := validList("dns_servers", len(req.GetDnsServers())); err != nil {
		return nil, err
	}
	if err := validList("allocation_pools", len(req.GetAllocationPools())); err != nil {
		return nil, err
	}
	var pools []ipam.Pool
	for _, p := range req.GetAllocationPools() {
		pool, err := ipam.ParsePool(p.GetStart(), p.GetEnd())
		if err != nil {
			return nil, ipamError("", err)
		}
		pools = append(pools, pool)
	}
	book, err := ipam.New(req.GetCidr(), req.GetGatewayIp(), pools)
	if err != nil {
		return nil, ipamError("", err)
	}
	if err := usableSubnet(book.Prefix()); err != nil {
		return nil, err
	}
	for _, d := range req.GetDnsServers() {
		if _, err := parseAddr("dns server", d); err != nil {
			return nil, err
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.full("subnets", len(n.subnets.byID)); err != nil {
		return nil, err
	}
	nw, err := n.network(req.GetNetworkId())
	if err != nil {
		return nil, err
	}
	for _, other := range n.subnets.all(func(s *subnetState) bool { return s.pb.NetworkId == nw.Id }) {
		if other.ipam.Prefix().Overlaps(book.Prefix()) {
			return nil, errf(codes.InvalidArgument, "cidr %s overlaps %s of subnet %s on network %s", book.Prefix(), other.pb.Cidr, other.pb.Id, nw.Id)
		}
	}
	now := n.stamp()
	sub := &hv.Subnet{
		Id: n.srv.newID("subnet"), Name: req.GetName(), NetworkId: nw.Id,
		Cidr: book.Prefix().String(), GatewayIp: book.Gateway().String(),
		DnsServers: append([]string(nil), req.GetDnsServers()...), EnableDhcp: req.GetEnableDhcp(),
		Ipv6: book.Prefix().Addr().Is6(), CreatedAt: now, UpdatedAt: now,
	}
	for _, p := range book.Pools() {
		sub.AllocationPools = append(sub.AllocationPools, &hv.IPPool{Start: p.Start.String(), End: p.End.String()})
	}
	n.subnets.put(sub.Id, &subnetState{pb: sub, ipam: book, allocs: map[netip.Addr]*allocation{}})
	return &hv.CreateSubnetResponse{Subnet: clone(sub)}, nil
}

func (n *networkService) GetSubnet(_ context.Context, req *hv.GetSubnetRequest) (*hv.GetSubnetResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	sub, err := n.subnet(req.GetSubnetId())
	if err != nil {
		return nil, err
	}
	return &hv.GetSubnetResponse{Subnet: clone(sub.pb)}, nil
}

// subnet looks a subnet up; the caller holds n.mu.
func (n *networkService) subnet(id string) (*subnetState, error) {
	if err := required("subnet_id", id); err != nil {
		return nil, err
	}
	sub, ok := n.subnets.get(id)
	if !ok {
		return nil, errf(codes.NotFound, "subnet %s not found", id)
	}
	return sub, nil
}

func (n *networkService) ListSubnets(_ context.Context, req *hv.ListSubnetsRequest) (*hv.ListSubnetsResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if req.GetNetworkId() != "" {
		if _, err := n.network(req.GetNetworkId()); err != nil {
			return nil, err
		}
	}
	items, next, _, err := n.subnets.page(func(s *subnetState) bool {
		return req.GetNetworkId() == "" || s.pb.NetworkId == req.GetNetworkId()
	}, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &hv.ListSubnetsResponse{NextPageToken: next}
	for _, s := range items {
		out.Subnets = append(out.Subnets, clone(s.pb))
	}
	return out, nil
}

func (n *networkService) DeleteSubnet(_ context.Context, req *hv.DeleteSubnetRequest) (*hv.DeleteSubnetResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	sub, err := n.subnet(req.GetSubnetId())
	if err != nil {
		return nil, err
	}
	if sub.gatewayPort != "" {
		return nil, errf(codes.FailedPrecondition, "subnet %s is attached to router %s", sub.pb.Id, n.routerOf[sub.gatewayPort])
	}
	if ports := n.ports.all(func(p *hv.Port) bool { return p.SubnetId == sub.pb.Id }); len(ports) > 0 {
		return nil, errf(codes.FailedPrecondition, "subnet %s still has %d port(s), first %s", sub.pb.Id, len(ports), ports[0].Id)
	}
	if len(sub.allocs) > 0 {
		return nil, errf(codes.FailedPrecondition, "subnet %s still has %d IP allocation(s)", sub.pb.Id, len(sub.allocs))
	}
	n.subnets.remove(sub.pb.Id)
	return &hv.DeleteSubnetResponse{}, nil
}

// reservedPrefixes are ranges no tenant subnet may overlap: "this network"
// (0/8, so also 0.0.0.0/0), loopback, link-local, multicast and the
// reserved 240/4 (with the broadcast address), and their IPv6 counterparts
// (::/8 with ::/0, ::1 and mapped addresses; link-local fe80::/10;
// multicast ff00::/8). Addresses there never route to a tenant network, so
// a subnet over them is a mistake (RFC 6890).
var reservedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/8"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"),
}

// usableSubnet refuses a cidr that overlaps a reserved range (InvalidArgument).
func usableSubnet(p netip.Prefix) error {
	for _, r := range reservedPrefixes {
		if r.Overlaps(p) {
			return errf(codes.InvalidArgument, "cidr %s overlaps reserved range %s (this-network, loopback, link-local, multicast or reserved); use a private range such as 10.0.0.0/8", p, r)
		}
	}
	return nil
}
