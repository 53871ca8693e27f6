package hypervisor

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// vni returns a VXLAN network identifier unlikely to be in use: derived from
// the run's unique sequence, above the low range humans pick by hand.
func (e *env) vni() uint32 { return uint32(1_000_000 + e.next()%15_000_000) }

// createNetwork creates a VXLAN network for the spec's tenant (after mut) and
// records its deletion.
func (e *env) createNetwork(ctx context.Context, mut ...func(*hv.CreateNetworkRequest)) *hv.Network {
	GinkgoHelper()
	req := &hv.CreateNetworkRequest{Name: e.name("net"), Type: hv.NetworkType_NETWORK_TYPE_VXLAN, Vni: e.vni(), TenantId: e.prefix}
	for _, m := range mut {
		m(req)
	}
	resp, err := e.network.CreateNetwork(ctx, req)
	expectOK(err, "CreateNetwork %s", req.Name)
	id := resp.GetNetwork().GetId()
	Expect(id).NotTo(BeEmpty(), "CreateNetwork returned no network id")
	e.res.add("network "+id, func(ctx context.Context) error {
		_, err := e.network.DeleteNetwork(ctx, &hv.DeleteNetworkRequest{NetworkId: id})
		return err
	})
	return resp.GetNetwork()
}

// createSubnet creates cidr on network and records its deletion.
func (e *env) createSubnet(ctx context.Context, network, cidr string, mut ...func(*hv.CreateSubnetRequest)) *hv.Subnet {
	GinkgoHelper()
	req := &hv.CreateSubnetRequest{Name: e.name("subnet"), NetworkId: network, Cidr: cidr}
	for _, m := range mut {
		m(req)
	}
	resp, err := e.network.CreateSubnet(ctx, req)
	expectOK(err, "CreateSubnet %s", cidr)
	id := resp.GetSubnet().GetId()
	Expect(id).NotTo(BeEmpty(), "CreateSubnet returned no subnet id")
	e.res.add("subnet "+id, func(ctx context.Context) error {
		_, err := e.network.DeleteSubnet(ctx, &hv.DeleteSubnetRequest{SubnetId: id})
		return err
	})
	return resp.GetSubnet()
}

// allocate allocates an IP (first free when ip is "") and records its release.
func (e *env) allocate(ctx context.Context, subnet, ip string) *hv.IPAllocation {
	GinkgoHelper()
	resp, err := e.network.AllocateIP(ctx, &hv.AllocateIPRequest{SubnetId: subnet, IpAddress: ip, Hostname: e.name("h")})
	expectOK(err, "AllocateIP %q in %s", ip, subnet)
	got := resp.GetAllocation().GetIpAddress()
	e.res.add("allocation "+got, func(ctx context.Context) error {
		_, err := e.network.ReleaseIP(ctx, &hv.ReleaseIPRequest{SubnetId: subnet, IpAddress: got})
		return err
	})
	return resp.GetAllocation()
}

// createPort creates a port (unbinding it first on cleanup) and records its deletion.
func (e *env) createPort(ctx context.Context, req *hv.CreatePortRequest) *hv.Port {
	GinkgoHelper()
	if req.Name == "" {
		req.Name = e.name("port")
	}
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
