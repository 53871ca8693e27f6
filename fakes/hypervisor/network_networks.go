package hypervisor

import (
	"context"

	"google.golang.org/grpc/codes"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// MTU rules. The underlay is taken to carry 9000-byte jumbo frames. A VXLAN
// network loses 50 bytes to encapsulation (outer Ethernet 14 + IPv4 20 +
// UDP 8 + VXLAN 8), so it defaults to 1450 (1500 - 50) and allows at most
// 8950; other types default to 1500 and allow at most 9000. No network
// accepts an MTU below 68, the IPv4 minimum. mtu 0 means the default.
const (
	underlayMTU   = 9000
	vxlanOverhead = 50
	defaultMTU    = 1500
	minMTU        = 68
	maxVNI        = 1<<24 - 1
	maxVLAN       = 4094
)

func (n *networkService) CreateNetwork(_ context.Context, req *hv.CreateNetworkRequest) (*hv.CreateNetworkResponse, error) {
	if err := validName("name", req.GetName(), true); err != nil {
		return nil, err
	}
	if err := validToken("tenant_id", req.GetTenantId()); err != nil {
		return nil, err
	}
	if err := n.srv.validPB("metadata", req.GetMetadata()); err != nil {
		return nil, err
	}
	mtu, err := checkNetworkType(req)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.full("networks", len(n.networks.byID)); err != nil {
		return nil, err
	}
	switch req.GetType() {
	case hv.NetworkType_NETWORK_TYPE_VXLAN:
		if other, taken := n.vnis[req.GetVni()]; taken {
			return nil, errf(codes.AlreadyExists, "vni %d is already used by network %s", req.GetVni(), other)
		}
	case hv.NetworkType_NETWORK_TYPE_VLAN:
		if other, taken := n.vlans[req.GetVlanId()]; taken {
			return nil, errf(codes.AlreadyExists, "vlan_id %d is already used by network %s", req.GetVlanId(), other)
		}
	}
	now := n.stamp()
	nw := &hv.Network{
		Id: n.srv.newID("net"), Name: req.GetName(), Type: req.GetType(),
		Vni: req.GetVni(), VlanId: req.GetVlanId(), Mtu: mtu, AdminState: true,
		Shared: req.GetShared(), External: req.GetExternal(), TenantId: req.GetTenantId(),
		Metadata: clone(req.GetMetadata()), CreatedAt: now, UpdatedAt: now,
	}
	switch nw.Type {
	case hv.NetworkType_NETWORK_TYPE_VXLAN:
		n.vnis[nw.Vni] = nw.Id
	case hv.NetworkType_NETWORK_TYPE_VLAN:
		n.vlans[nw.VlanId] = nw.Id
	}
	n.networks.put(nw.Id, nw)
	return &hv.CreateNetworkResponse{Network: clone(nw)}, nil
}

// checkNetworkType validates the type-specific fields and returns the MTU.
func checkNetworkType(req *hv.CreateNetworkRequest) (uint32, error) {
	maxMTU, mtu := uint32(underlayMTU), uint32(defaultMTU)
	switch req.GetType() {
	case hv.NetworkType_NETWORK_TYPE_VXLAN:
		if req.GetVni() < 1 || req.GetVni() > maxVNI {
			return 0, errf(codes.InvalidArgument, "vni %d out of range 1..%d for a VXLAN network", req.GetVni(), maxVNI)
		}
		maxMTU, mtu = underlayMTU-vxlanOverhead, defaultMTU-vxlanOverhead
	case hv.NetworkType_NETWORK_TYPE_VLAN:
		if req.GetVlanId() < 1 || req.GetVlanId() > maxVLAN {
			return 0, errf(codes.InvalidArgument, "vlan_id %d out of range 1..%d for a VLAN network", req.GetVlanId(), maxVLAN)
		}
	case hv.NetworkType_NETWORK_TYPE_BRIDGE, hv.NetworkType_NETWORK_TYPE_FLAT:
	default:
		return 0, errf(codes.InvalidArgument, "network type %v is not one of VXLAN, VLAN, BRIDGE, FLAT", req.GetType())
	}
	if req.GetVni() != 0 && req.GetType() != hv.NetworkType_NETWORK_TYPE_VXLAN {
		return 0, errf(codes.InvalidArgument, "vni %d given for a %v network", req.GetVni(), req.GetType())
	}
	if req.GetVlanId() != 0 && req.GetType() != hv.NetworkType_NETWORK_TYPE_VLAN {
		return 0, errf(codes.InvalidArgument, "vlan_id %d given for a %v network", req.GetVlanId(), req.GetType())
	}
	if req.GetMtu() == 0 {
		return mtu, nil
	}
	if req.GetMtu() < minMTU || req.GetMtu() > maxMTU {
		return 0, errf(codes.InvalidArgument, "mtu %d out of range %d..%d for a %v network", req.GetMtu(), minMTU, maxMTU, req.GetType())
	}
	return req.GetMtu(), nil
}

func (n *networkService) GetNetwork(_ context.Context, req *hv.GetNetworkRequest) (*hv.GetNetworkResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	nw, err := n.network(req.GetNetworkId())
	if err != nil {
		return nil, err
	}
	return &hv.GetNetworkResponse{Network: clone(nw)}, nil
}

// network looks a network up; the caller holds n.mu.
func (n *networkService) network(id string) (*hv.Network, error) {
	if err := required("network_id", id); err != nil {
		return nil, err
	}
	nw, ok := n.networks.get(id)
	if !ok {
		return nil, errf(codes.NotFound, "network %s not found", id)
	}
	return nw, nil
}

func (n *networkService) ListNetworks(_ context.Context, req *hv.ListNetworksRequest) (*hv.ListNetworksResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	items, next, _, err := n.networks.page(func(nw *hv.Network) bool {
		return (req.GetTenantId() == "" || nw.TenantId == req.GetTenantId()) &&
			(req.GetType() == hv.NetworkType_NETWORK_TYPE_UNSPECIFIED || nw.Type == req.GetType())
	}, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &hv.ListNetworksResponse{Networks: cloneAll(items), NextPageToken: next}, nil
}

func (n *networkService) DeleteNetwork(_ context.Context, req *hv.DeleteNetworkRequest) (*hv.DeleteNetworkResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	nw, err := n.network(req.GetNetworkId())
	if err != nil {
		return nil, err
	}
	if subs := n.subnets.all(func(s *subnetState) bool { return s.pb.NetworkId == nw.Id }); len(subs) > 0 {
		return nil, errf(codes.FailedPrecondition, "network %s still has %d subnet(s), first %s", nw.Id, len(subs), subs[0].pb.Id)
	}
	if ports := n.ports.all(func(p *hv.Port) bool { return p.NetworkId == nw.Id }); len(ports) > 0 {
		return nil, errf(codes.FailedPrecondition, "network %s still has %d port(s), first %s", nw.Id, len(ports), ports[0].Id)
	}
	delete(n.vnis, nw.Vni) // VNI and VLAN id 0 are never keys
	delete(n.vlans, nw.VlanId)
	n.networks.remove(nw.Id)
	return &hv.DeleteNetworkResponse{}, nil
}
