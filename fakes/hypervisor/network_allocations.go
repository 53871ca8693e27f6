package hypervisor

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// StatusAllocated is the status of every live IP allocation.
const StatusAllocated = "ALLOCATED"

func (n *networkService) AllocateIP(_ context.Context, req *hv.AllocateIPRequest) (*hv.AllocateIPResponse, error) {
	mac, err := normalizeMAC(req.GetMacAddress())
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	sub, err := n.subnet(req.GetSubnetId())
	if err != nil {
		return nil, err
	}
	if id := req.GetInstanceId(); id != "" {
		if _, _, ok := n.srv.lookupInstance(id); !ok {
			return nil, errf(codes.NotFound, "instance %s not found", id)
		}
	}
	if id := req.GetPortId(); id != "" {
		if _, ok := n.ports.get(id); !ok {
			return nil, errf(codes.NotFound, "port %s not found", id)
		}
	}
	a, err := n.allocate(sub, req.GetIpAddress(), "")
	if err != nil {
		return nil, err
	}
	a.pb.MacAddress, a.pb.InstanceId, a.pb.PortId, a.pb.Hostname = mac, req.GetInstanceId(), req.GetPortId(), req.GetHostname()
	return &hv.AllocateIPResponse{Allocation: clone(a.pb)}, nil
}

// allocate takes the requested address (or the first free one when ip is
// "") from sub and records it for owner. The caller holds n.mu.
func (n *networkService) allocate(sub *subnetState, ip, owner string) (*allocation, error) {
	var addr netip.Addr
	if ip == "" {
		a, err := sub.ipam.Allocate()
		if err != nil {
			return nil, ipamError(sub.pb.Id, err)
		}
		addr = a
	} else {
		a, err := parseAddr("ip_address", ip)
		if err != nil {
			return nil, err
		}
		if err := sub.ipam.AllocateAddr(a); err != nil {
			return nil, ipamError(sub.pb.Id, err)
		}
		addr = a
	}
	a := &allocation{owner: owner, pb: &hv.IPAllocation{
		Id: n.srv.newID("alloc"), SubnetId: sub.pb.Id, IpAddress: addr.String(),
		Status: StatusAllocated, CreatedAt: n.stamp(),
	}}
	sub.allocs[addr] = a
	return a, nil
}

// release frees an address recorded by allocate. The caller holds n.mu.
func (n *networkService) release(subnetID, ip string) {
	sub, ok := n.subnets.get(subnetID)
	if !ok {
		return
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return
	}
	if _, ok := sub.allocs[addr]; ok {
		delete(sub.allocs, addr)
		_ = sub.ipam.Release(addr) // recorded in allocs, so allocated in ipam
	}
}

func (n *networkService) ReleaseIP(_ context.Context, req *hv.ReleaseIPRequest) (*hv.ReleaseIPResponse, error) {
	if err := required("ip_address", req.GetIpAddress()); err != nil {
		return nil, err
	}
	addr, err := parseAddr("ip_address", req.GetIpAddress())
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	sub, err := n.subnet(req.GetSubnetId())
	if err != nil {
		return nil, err
	}
	a, ok := sub.allocs[addr]
	if !ok {
		return nil, errf(codes.NotFound, "address %s is not allocated in subnet %s", addr, sub.pb.Id)
	}
	if a.owner != "" {
		kind, id, _ := strings.Cut(a.owner, ":")
		return nil, errf(codes.FailedPrecondition, "address %s of subnet %s belongs to %s %s; delete that instead", addr, sub.pb.Id, kind, id)
	}
	n.release(sub.pb.Id, addr.String())
	return &hv.ReleaseIPResponse{}, nil
}

func (n *networkService) ListAllocations(_ context.Context, req *hv.ListAllocationsRequest) (*hv.ListAllocationsResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	subs := n.subnets.all(nil)
	if req.GetSubnetId() != "" {
		sub, err := n.subnet(req.GetSubnetId())
		if err != nil {
			return nil, err
		}
		subs = []*subnetState{sub}
	}
	out := &hv.ListAllocationsResponse{}
	for _, sub := range subs {
		addrs := make([]netip.Addr, 0, len(sub.allocs))
		for a := range sub.allocs {
			addrs = append(addrs, a)
		}
		slices.SortFunc(addrs, netip.Addr.Compare)
		for _, a := range addrs {
			out.Allocations = append(out.Allocations, clone(sub.allocs[a].pb))
		}
	}
	return out, nil
}

// normalizeMAC checks a unicast Ethernet MAC and lower-cases it; "" stays "".
func normalizeMAC(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return "", errf(codes.InvalidArgument, "mac_address %q is not a 6-byte MAC", s)
	}
	if hw[0]&1 == 1 {
		return "", errf(codes.InvalidArgument, "mac_address %s is a multicast address", hw)
	}
	return hw.String(), nil
}
