package hypervisor

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// vni returns a VXLAN network identifier unlikely to be in use: the run's
// random base (see randomVNIBase) plus its sequence, so runs against one
// server at the same time do not collide.
func (e *env) vni() uint32 { return e.st.vniBase + uint32(e.next()%4096) }

// deleteNetworkLater records the deletion of a network a call created, also
// when the spec expected the call to be refused.
func (e *env) deleteNetworkLater(id string) {
	if id == "" {
		return
	}
	e.res.add("network "+id, func(ctx context.Context) error {
		_, err := e.network.DeleteNetwork(ctx, &hv.DeleteNetworkRequest{NetworkId: id})
		return err
	})
}

// deleteSubnetLater is deleteNetworkLater for a subnet.
func (e *env) deleteSubnetLater(id string) {
	if id == "" {
		return
	}
	e.res.add("subnet "+id, func(ctx context.Context) error {
		_, err := e.network.DeleteSubnet(ctx, &hv.DeleteSubnetRequest{SubnetId: id})
		return err
	})
}

// releaseLater records the release of an address.
func (e *env) releaseLater(subnet, ip string) {
	if ip == "" {
		return
	}
	e.res.add("allocation "+ip, func(ctx context.Context) error {
		_, err := e.network.ReleaseIP(ctx, &hv.ReleaseIPRequest{SubnetId: subnet, IpAddress: ip})
		return err
	})
}

// createNetwork creates a VXLAN network for the spec's tenant (after mut) and
// records its deletion.
func (e *env) createNetwork(ctx context.Context, mut ...func(*hv.CreateNetworkRequest)) *hv.Network {
	GinkgoHelper()
	e.need(svcNetwork + "DeleteNetwork")
	req := &hv.CreateNetworkRequest{Name: e.name("net"), Type: hv.NetworkType_NETWORK_TYPE_VXLAN, Vni: e.vni(), TenantId: e.prefix}
	for _, m := range mut {
		m(req)
	}
	resp, err := e.network.CreateNetwork(ctx, req)
	expectOK(err, "CreateNetwork %s (VNI %d)", req.Name, req.Vni)
	id := resp.GetNetwork().GetId()
	Expect(id).NotTo(BeEmpty(), "CreateNetwork returned no network id")
	e.deleteNetworkLater(id)
	return resp.GetNetwork()
}

// createSubnet creates cidr on network and records its deletion.
func (e *env) createSubnet(ctx context.Context, network, cidr string, mut ...func(*hv.CreateSubnetRequest)) *hv.Subnet {
	GinkgoHelper()
	req := &hv.CreateSubnetRequest{Name: e.name("subnet"), NetworkId: network, Cidr: cidr}
	for _, m := range mut {
		m(req)
	}
	e.need(svcNetwork + "DeleteSubnet")
	resp, err := e.network.CreateSubnet(ctx, req)
	expectOK(err, "CreateSubnet %s", cidr)
	id := resp.GetSubnet().GetId()
	Expect(id).NotTo(BeEmpty(), "CreateSubnet returned no subnet id")
	e.deleteSubnetLater(id)
	return resp.GetSubnet()
}

// allocate allocates an IP (first free when ip is "") and records its release.
func (e *env) allocate(ctx context.Context, subnet, ip string) *hv.IPAllocation {
	GinkgoHelper()
	e.need(svcNetwork + "ReleaseIP")
	resp, err := e.network.AllocateIP(ctx, &hv.AllocateIPRequest{SubnetId: subnet, IpAddress: ip, Hostname: e.name("h")})
	expectOK(err, "AllocateIP %q in %s", ip, subnet)
	e.releaseLater(subnet, resp.GetAllocation().GetIpAddress())
	return resp.GetAllocation()
}

// createPort creates a port (unbinding it first on cleanup) and records its deletion.
func (e *env) createPort(ctx context.Context, req *hv.CreatePortRequest) *hv.Port {
	GinkgoHelper()
	if req.Name == "" {
		req.Name = e.name("port")
	}
	e.need(svcNetwork+"DeletePort", svcNetwork+"GetPort")
	resp, err := e.network.CreatePort(ctx, req)
	expectOK(err, "CreatePort %s", req.Name)
	id := resp.GetPort().GetId()
	Expect(id).NotTo(BeEmpty(), "CreatePort returned no port id")
	e.res.add("port "+id, func(ctx context.Context) error {
		p, err := e.network.GetPort(ctx, &hv.GetPortRequest{PortId: id})
		if err == nil && p.GetPort().GetInstanceId() != "" {
			if _, err := e.network.UnbindPort(ctx, &hv.UnbindPortRequest{PortId: id}); err != nil {
				return err
			}
		}
		_, err = e.network.DeletePort(ctx, &hv.DeletePortRequest{PortId: id})
		return err
	})
	return resp.GetPort()
}

// createSecurityGroup creates a group for the spec's tenant and records its deletion.
func (e *env) createSecurityGroup(ctx context.Context) *hv.SecurityGroup {
	GinkgoHelper()
	e.need(svcNetwork + "DeleteSecurityGroup")
	resp, err := e.network.CreateSecurityGroup(ctx, &hv.CreateSecurityGroupRequest{Name: e.name("sg"), Description: "conformance", TenantId: e.prefix})
	expectOK(err, "CreateSecurityGroup")
	id := resp.GetSecurityGroup().GetId()
	Expect(id).NotTo(BeEmpty(), "CreateSecurityGroup returned no id")
	e.res.add("security group "+id, func(ctx context.Context) error {
		_, err := e.network.DeleteSecurityGroup(ctx, &hv.DeleteSecurityGroupRequest{SecurityGroupId: id})
		return err
	})
	return resp.GetSecurityGroup()
}

// createRouter creates a router for the spec's tenant and records its deletion.
func (e *env) createRouter(ctx context.Context, gw *hv.ExternalGateway) *hv.Router {
	GinkgoHelper()
	e.need(svcNetwork + "DeleteRouter")
	resp, err := e.network.CreateRouter(ctx, &hv.CreateRouterRequest{Name: e.name("router"), TenantId: e.prefix, ExternalGateway: gw})
	expectOK(err, "CreateRouter")
	id := resp.GetRouter().GetId()
	Expect(id).NotTo(BeEmpty(), "CreateRouter returned no id")
	e.res.add("router "+id, func(ctx context.Context) error {
		_, err := e.network.DeleteRouter(ctx, &hv.DeleteRouterRequest{RouterId: id})
		return err
	})
	return resp.GetRouter()
}
