package hypervisor

import (
	"context"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"

	"google.golang.org/grpc/codes"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// Port statuses.
const (
	PortStatusDown   = "DOWN"
	PortStatusActive = "ACTIVE"
)

// maxIfName is the Linux limit on interface names (IFNAMSIZ - 1).
const maxIfName = 15

func (n *networkService) CreatePort(_ context.Context, req *hv.CreatePortRequest) (*hv.CreatePortResponse, error) {
	if err := validName("name", req.GetName(), false); err != nil {
		return nil, err
	}
	if err := validList("security_groups", len(req.GetSecurityGroups())); err != nil {
		return nil, err
	}
	mac, err := normalizeMAC(req.GetMacAddress())
	if err != nil {
		return nil, err
	}
	if _, ok := hv.PortBindingType_name[int32(req.GetBindingType())]; !ok {
		return nil, errf(codes.InvalidArgument, "binding_type %d is unknown", req.GetBindingType())
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.full("ports", len(n.ports.byID)); err != nil {
		return nil, err
	}
	nw, err := n.network(req.GetNetworkId())
	if err != nil {
		return nil, err
	}
	sub, err := n.portSubnet(nw, req.GetSubnetId(), req.GetIpAddress())
	if err != nil {
		return nil, err
	}
	if owner, taken := n.macs[mac]; mac != "" && taken {
		return nil, errf(codes.AlreadyExists, "mac_address %s is already used by port %s", mac, owner)
	}
	for _, g := range req.GetSecurityGroups() {
		if _, ok := n.groups.get(g); !ok {
			return nil, errf(codes.NotFound, "security group %s not found", g)
		}
	}
	id := n.srv.newID("port")
	if mac == "" {
		mac = n.newMAC(id)
	}
	now := n.stamp()
	port := &hv.Port{
		Id: id, Name: req.GetName(), NetworkId: nw.Id, MacAddress: mac,
		SecurityGroups: append([]string(nil), req.GetSecurityGroups()...), AdminState: true,
		Status: PortStatusDown, BindingType: req.GetBindingType(), CreatedAt: now, UpdatedAt: now,
	}
	if port.BindingType == hv.PortBindingType_PORT_BINDING_UNSPECIFIED {
		port.BindingType = hv.PortBindingType_PORT_BINDING_OVS
	}
	if sub != nil {
		a, err := n.allocate(sub, req.GetIpAddress(), "port:"+id)
		if err != nil {
			return nil, err
		}
		a.pb.PortId, a.pb.MacAddress = id, mac
		port.SubnetId, port.IpAddress = sub.pb.Id, a.pb.IpAddress
	}
	n.macs[mac] = id
	n.ports.put(id, port)
	return &hv.CreatePortResponse{Port: clone(port)}, nil
}

// portSubnet finds the subnet a new port takes its address from: the given
// one (which must be on nw), or the subnet of nw containing ip, or none.
func (n *networkService) portSubnet(nw *hv.Network, subnetID, ip string) (*subnetState, error) {
	if subnetID != "" {
		sub, err := n.subnet(subnetID)
		if err != nil {
			return nil, err
		}
		if sub.pb.NetworkId != nw.Id {
			return nil, errf(codes.InvalidArgument, "subnet %s belongs to network %s, not %s", sub.pb.Id, sub.pb.NetworkId, nw.Id)
		}
		return sub, nil
	}
	if ip == "" {
		return nil, nil
	}
	addr, err := parseAddr("ip_address", ip)
	if err != nil {
		return nil, err
	}
	for _, sub := range n.subnets.all(func(s *subnetState) bool { return s.pb.NetworkId == nw.Id }) {
		if sub.ipam.Prefix().Contains(addr) {
			return sub, nil
		}
	}
	return nil, errf(codes.InvalidArgument, "ip_address %s is in no subnet of network %s", addr, nw.Id)
}

// newMAC derives a free locally administered MAC (fa:16:3e:xx:xx:xx) from
// the port id, so the same seed gives the same MACs. The caller holds n.mu.
func (n *networkService) newMAC(portID string) string {
	for salt := 0; ; salt++ {
		h := fnv.New32a()
		fmt.Fprintf(h, "%s/%d", portID, salt)
		v := h.Sum32()
		mac := net.HardwareAddr{0xfa, 0x16, 0x3e, byte(v >> 16), byte(v >> 8), byte(v)}.String()
		if _, taken := n.macs[mac]; !taken {
			return mac
		}
	}
}

func (n *networkService) GetPort(_ context.Context, req *hv.GetPortRequest) (*hv.GetPortResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	port, err := n.port(req.GetPortId())
	if err != nil {
		return nil, err
	}
	return &hv.GetPortResponse{Port: clone(port)}, nil
}

// port looks a port up; the caller holds n.mu.
func (n *networkService) port(id string) (*hv.Port, error) {
	if err := required("port_id", id); err != nil {
		return nil, err
	}
	p, ok := n.ports.get(id)
	if !ok {
		return nil, errf(codes.NotFound, "port %s not found", id)
	}
	return p, nil
}

func (n *networkService) ListPorts(_ context.Context, req *hv.ListPortsRequest) (*hv.ListPortsResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	items, next, _, err := n.ports.page(func(p *hv.Port) bool {
		return (req.GetNetworkId() == "" || p.NetworkId == req.GetNetworkId()) &&
			(req.GetInstanceId() == "" || p.InstanceId == req.GetInstanceId()) &&
			(req.GetNodeId() == "" || p.NodeId == req.GetNodeId())
	}, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &hv.ListPortsResponse{Ports: cloneAll(items), NextPageToken: next}, nil
}

func (n *networkService) DeletePort(_ context.Context, req *hv.DeletePortRequest) (*hv.DeletePortResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	port, err := n.port(req.GetPortId())
	if err != nil {
		return nil, err
	}
	if r, ok := n.routerOf[port.Id]; ok {
		return nil, errf(codes.FailedPrecondition, "port %s is an interface of router %s; use RemoveRouterInterface", port.Id, r)
	}
	if port.InstanceId != "" {
		return nil, errf(codes.FailedPrecondition, "port %s is bound to instance %s; unbind it first", port.Id, port.InstanceId)
	}
	if fips := n.fips.all(func(f *hv.FloatingIP) bool { return f.PortId == port.Id }); len(fips) > 0 {
		return nil, errf(codes.FailedPrecondition, "port %s has floating IP %s associated; disassociate it first", port.Id, fips[0].Id)
	}
	n.deletePort(port)
	return &hv.DeletePortResponse{}, nil
}

// deletePort drops a port and frees its address and MAC. The caller holds n.mu.
func (n *networkService) deletePort(port *hv.Port) {
	if port.SubnetId != "" {
		n.release(port.SubnetId, port.IpAddress)
	}
	delete(n.macs, port.MacAddress)
	delete(n.routerOf, port.Id)
	n.ports.remove(port.Id)
}

func (n *networkService) BindPort(_ context.Context, req *hv.BindPortRequest) (*hv.BindPortResponse, error) {
	if err := required("instance_id", req.GetInstanceId()); err != nil {
		return nil, err
	}
	if len(req.GetDeviceName()) > maxIfName {
		return nil, errf(codes.InvalidArgument, "device_name %q is longer than %d bytes", req.GetDeviceName(), maxIfName)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	port, err := n.port(req.GetPortId())
	if err != nil {
		return nil, err
	}
	if r, ok := n.routerOf[port.Id]; ok {
		return nil, errf(codes.FailedPrecondition, "port %s is an interface of router %s", port.Id, r)
	}
	if port.InstanceId != "" && port.InstanceId != req.GetInstanceId() {
		return nil, errf(codes.FailedPrecondition, "port %s is already bound to instance %s", port.Id, port.InstanceId)
	}
	instNode, _, ok := n.srv.lookupInstance(req.GetInstanceId())
	if !ok {
		return nil, errf(codes.NotFound, "instance %s not found", req.GetInstanceId())
	}
	node := req.GetNodeId()
	switch {
	case node == "" && instNode == "":
		return nil, errf(codes.FailedPrecondition, "instance %s is not placed on a node; give node_id", req.GetInstanceId())
	case node == "":
		node = instNode
	case instNode != "" && node != instNode:
		return nil, errf(codes.InvalidArgument, "instance %s runs on node %s, not %s", req.GetInstanceId(), instNode, node)
	}
	if !n.srv.lookupNode(node) {
		return nil, errf(codes.NotFound, "node %s not found", node)
	}
	dev := req.GetDeviceName()
	if dev == "" {
		dev = defaultDevice("tap", port.Id)
	}
	port.InstanceId, port.NodeId, port.DeviceName = req.GetInstanceId(), node, dev
	port.Status, port.UpdatedAt = PortStatusActive, n.stamp()
	n.setAllocationInstance(port, port.InstanceId)
	return &hv.BindPortResponse{Port: clone(port)}, nil
}

// defaultDevice is prefix + the start of id, cut to an interface name.
func defaultDevice(prefix, id string) string {
	name := prefix + id
	return name[:min(len(name), maxIfName)]
}

func (n *networkService) setAllocationInstance(port *hv.Port, instance string) {
	sub, ok := n.subnets.get(port.SubnetId)
	if !ok {
		return
	}
	if a, ok := sub.allocs[netip.MustParseAddr(port.IpAddress)]; ok {
		a.pb.InstanceId = instance
	}
}

func (n *networkService) UnbindPort(_ context.Context, req *hv.UnbindPortRequest) (*hv.UnbindPortResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	port, err := n.port(req.GetPortId())
	if err != nil {
		return nil, err
	}
	if port.InstanceId == "" {
		return nil, errf(codes.FailedPrecondition, "port %s is not bound", port.Id)
	}
	n.setAllocationInstance(port, "")
	port.InstanceId, port.NodeId, port.DeviceName = "", "", ""
	port.Status, port.UpdatedAt = PortStatusDown, n.stamp()
	return &hv.UnbindPortResponse{Port: clone(port)}, nil
}

// unbindInstance unbinds every port of a deleted instance.
func (n *networkService) unbindInstance(instance string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.stamp()
	for _, port := range n.ports.all(func(p *hv.Port) bool { return p.InstanceId == instance }) {
		n.setAllocationInstance(port, "")
		port.InstanceId, port.NodeId, port.DeviceName = "", "", ""
		port.Status, port.UpdatedAt = PortStatusDown, now
	}
}
