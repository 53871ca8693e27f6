package hypervisor

import (
	"context"

	. "github.com/onsi/gomega"
	"google.golang.org/grpc/codes"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

func (s *specs) network() {
	s.it("[HV-NET-001] CreateNetwork, GetNetwork, ListNetworks and DeleteNetwork MUST create, show, list by tenant and remove a network", func(ctx context.Context, e *env) {
		n := e.createNetwork(ctx)
		Expect(n.GetType()).To(Equal(hv.NetworkType_NETWORK_TYPE_VXLAN))
		Expect(n.GetAdminState()).To(BeTrue(), "a new network MUST be admin up")
		Expect(n.GetMtu()).To(BeNumerically(">", 0), "mtu MUST default to a positive value")
		got, err := e.network.GetNetwork(ctx, &hv.GetNetworkRequest{NetworkId: n.GetId()})
		expectOK(err, "GetNetwork")
		Expect(got.GetNetwork().GetName()).To(Equal(n.GetName()))
		Expect(got.GetNetwork().GetVni()).To(Equal(n.GetVni()))
		list, err := e.network.ListNetworks(ctx, &hv.ListNetworksRequest{TenantId: e.prefix, PageSize: 100})
		expectOK(err, "ListNetworks tenant=%s", e.prefix)
		Expect(list.GetNetworks()).To(HaveLen(1), "ListNetworks for a tenant with one network")
		_, err = e.network.DeleteNetwork(ctx, &hv.DeleteNetworkRequest{NetworkId: n.GetId()})
		expectOK(err, "DeleteNetwork")
		_, err = e.network.GetNetwork(ctx, &hv.GetNetworkRequest{NetworkId: n.GetId()})
		expectCode(err, codes.NotFound, "GetNetwork after DeleteNetwork")
	})

	s.it("[HV-NET-002] CreateNetwork MUST refuse an empty name, a VXLAN VNI outside 1..16777215 and a VLAN id outside 1..4094 with InvalidArgument", func(ctx context.Context, e *env) {
		e.need(svcNetwork + "DeleteNetwork")
		c := e.cases("invalid CreateNetwork requests")
		for _, tc := range []struct {
			name string
			req  *hv.CreateNetworkRequest
		}{
			{"empty name", &hv.CreateNetworkRequest{Type: hv.NetworkType_NETWORK_TYPE_VXLAN, Vni: e.vni()}},
			{"VNI 0", &hv.CreateNetworkRequest{Name: e.name("net"), Type: hv.NetworkType_NETWORK_TYPE_VXLAN, Vni: 0}},
			{"VNI 16777216", &hv.CreateNetworkRequest{Name: e.name("net"), Type: hv.NetworkType_NETWORK_TYPE_VXLAN, Vni: 1 << 24}},
			{"VLAN id 0", &hv.CreateNetworkRequest{Name: e.name("net"), Type: hv.NetworkType_NETWORK_TYPE_VLAN, VlanId: 0}},
			{"VLAN id 4095", &hv.CreateNetworkRequest{Name: e.name("net"), Type: hv.NetworkType_NETWORK_TYPE_VLAN, VlanId: 4095}},
		} {
			c.check(tc.name, svcNetwork+"CreateNetwork", func(g Gomega) {
				tc.req.TenantId = e.prefix
				resp, err := e.network.CreateNetwork(ctx, tc.req)
				e.deleteNetworkLater(resp.GetNetwork().GetId())
				codeIs(g, err, codes.InvalidArgument, "CreateNetwork with %s", tc.name)
			})
		}
		c.done()
	})

	s.it("[HV-NET-003] CreateNetwork MUST refuse a VXLAN VNI already in use with AlreadyExists", func(ctx context.Context, e *env) {
		n := e.createNetwork(ctx)
		resp, err := e.network.CreateNetwork(ctx, &hv.CreateNetworkRequest{Name: e.name("net"), Type: hv.NetworkType_NETWORK_TYPE_VXLAN, Vni: n.GetVni(), TenantId: e.prefix})
		e.deleteNetworkLater(resp.GetNetwork().GetId())
		expectCode(err, codes.AlreadyExists, "CreateNetwork with VNI %d of network %s", n.GetVni(), n.GetId())
	})

	s.it("[HV-NET-004] CreateSubnet MUST set a gateway inside the CIDR, and GetSubnet, ListSubnets and DeleteSubnet MUST show, list and remove the subnet", func(ctx context.Context, e *env) {
		n := e.createNetwork(ctx)
		sub := e.createSubnet(ctx, n.GetId(), "10.20.30.0/24")
		Expect(sub.GetGatewayIp()).To(HavePrefix("10.20.30."), "gateway_ip of 10.20.30.0/24 MUST lie inside the CIDR")
		Expect(sub.GetNetworkId()).To(Equal(n.GetId()))
		got, err := e.network.GetSubnet(ctx, &hv.GetSubnetRequest{SubnetId: sub.GetId()})
		expectOK(err, "GetSubnet")
		Expect(got.GetSubnet().GetCidr()).To(Equal("10.20.30.0/24"))
		list, err := e.network.ListSubnets(ctx, &hv.ListSubnetsRequest{NetworkId: n.GetId()})
		expectOK(err, "ListSubnets")
		Expect(list.GetSubnets()).To(HaveLen(1), "ListSubnets of a network with one subnet")
		_, err = e.network.DeleteSubnet(ctx, &hv.DeleteSubnetRequest{SubnetId: sub.GetId()})
		expectOK(err, "DeleteSubnet")
		_, err = e.network.GetSubnet(ctx, &hv.GetSubnetRequest{SubnetId: sub.GetId()})
		expectCode(err, codes.NotFound, "GetSubnet after DeleteSubnet")
	})

	s.it("[HV-NET-005] CreateSubnet MUST refuse a malformed CIDR or a gateway outside the CIDR with InvalidArgument, and a subnet on an unknown network with NotFound", func(ctx context.Context, e *env) {
		n := e.createNetwork(ctx)
		c := e.cases("invalid CreateSubnet requests")
		for _, tc := range []struct {
			name string
			req  *hv.CreateSubnetRequest
			want codes.Code
		}{
			{"CIDR 10.1.2.300/24", &hv.CreateSubnetRequest{NetworkId: n.GetId(), Cidr: "10.1.2.300/24"}, codes.InvalidArgument},
			{"10.1.2.0/24 with gateway 10.9.9.1", &hv.CreateSubnetRequest{NetworkId: n.GetId(), Cidr: "10.1.2.0/24", GatewayIp: "10.9.9.1"}, codes.InvalidArgument},
			{"an unknown network", &hv.CreateSubnetRequest{NetworkId: e.name("missing"), Cidr: "10.1.2.0/24"}, codes.NotFound},
		} {
			c.check(tc.name, svcNetwork+"CreateSubnet", func(g Gomega) {
				tc.req.Name = e.name("s")
				resp, err := e.network.CreateSubnet(ctx, tc.req)
				e.deleteSubnetLater(resp.GetSubnet().GetId())
				codeIs(g, err, tc.want, "CreateSubnet with %s", tc.name)
			})
		}
		c.done()
	})

	s.it("[HV-NET-006] AllocateIP MUST hand out a free address of the subnet or the requested one, refuse a taken address with AlreadyExists, and ReleaseIP and ListAllocations MUST reflect it", func(ctx context.Context, e *env) {
		n := e.createNetwork(ctx)
		sub := e.createSubnet(ctx, n.GetId(), "10.40.0.0/24")
		first := e.allocate(ctx, sub.GetId(), "")
		Expect(first.GetIpAddress()).To(HavePrefix("10.40.0."), "a free address of 10.40.0.0/24")
		Expect(first.GetIpAddress()).NotTo(Equal(sub.GetGatewayIp()), "AllocateIP MUST NOT hand out the gateway")
		Expect(first.GetSubnetId()).To(Equal(sub.GetId()))
		picked := e.allocate(ctx, sub.GetId(), "10.40.0.77")
		Expect(picked.GetIpAddress()).To(Equal("10.40.0.77"), "requested address")
		dup, err := e.network.AllocateIP(ctx, &hv.AllocateIPRequest{SubnetId: sub.GetId(), IpAddress: "10.40.0.77"})
		if err == nil {
			e.releaseLater(sub.GetId(), dup.GetAllocation().GetIpAddress())
		}
		expectCode(err, codes.AlreadyExists, "AllocateIP of the taken address 10.40.0.77")
		list, err := e.network.ListAllocations(ctx, &hv.ListAllocationsRequest{SubnetId: sub.GetId()})
		expectOK(err, "ListAllocations")
		var ips []string
		for _, a := range list.GetAllocations() {
			ips = append(ips, a.GetIpAddress())
		}
		Expect(ips).To(ContainElements(first.GetIpAddress(), "10.40.0.77"), "ListAllocations")
		_, err = e.network.ReleaseIP(ctx, &hv.ReleaseIPRequest{SubnetId: sub.GetId(), IpAddress: first.GetIpAddress()})
		expectOK(err, "ReleaseIP")
		list, err = e.network.ListAllocations(ctx, &hv.ListAllocationsRequest{SubnetId: sub.GetId()})
		expectOK(err, "ListAllocations after ReleaseIP")
		for _, a := range list.GetAllocations() {
			Expect(a.GetIpAddress()).NotTo(Equal(first.GetIpAddress()), "ListAllocations after ReleaseIP of %s", first.GetIpAddress())
		}
		_, err = e.network.ReleaseIP(ctx, &hv.ReleaseIPRequest{SubnetId: sub.GetId(), IpAddress: "10.40.0.99"})
		expectCode(err, codes.NotFound, "ReleaseIP of an address never allocated")
	})

	s.it("[HV-NET-007] AllocateIP MUST return ResourceExhausted once a subnet's pool is used up", func(ctx context.Context, e *env) {
		n := e.createNetwork(ctx)
		sub := e.createSubnet(ctx, n.GetId(), "10.41.0.0/29")
		// A /29 has 6 usable addresses; the gateway takes one.
		for i := range 5 {
			a := e.allocate(ctx, sub.GetId(), "")
			Expect(a.GetIpAddress()).NotTo(BeEmpty(), "allocation %d", i)
		}
		_, err := e.network.AllocateIP(ctx, &hv.AllocateIPRequest{SubnetId: sub.GetId()})
		expectCode(err, codes.ResourceExhausted, "AllocateIP in a /29 after 5 allocations")
	})

	s.it("[HV-NET-008] CreatePort MUST give a port a MAC and an IP from its subnet, BindPort MUST attach it to an instance, UnbindPort detach it, and DeletePort MUST be refused while bound", func(ctx context.Context, e *env) {
		inst, node := e.runningInstance(ctx)
		n := e.createNetwork(ctx)
		sub := e.createSubnet(ctx, n.GetId(), "10.42.0.0/24")
		p := e.createPort(ctx, &hv.CreatePortRequest{NetworkId: n.GetId(), SubnetId: sub.GetId()})
		Expect(p.GetMacAddress()).To(MatchRegexp(`^[0-9a-f]{2}(:[0-9a-f]{2}){5}$`), "mac_address")
		Expect(p.GetIpAddress()).To(HavePrefix("10.42.0."), "ip_address from subnet 10.42.0.0/24")
		got, err := e.network.GetPort(ctx, &hv.GetPortRequest{PortId: p.GetId()})
		expectOK(err, "GetPort")
		Expect(got.GetPort().GetMacAddress()).To(Equal(p.GetMacAddress()))
		bound, err := e.network.BindPort(ctx, &hv.BindPortRequest{PortId: p.GetId(), InstanceId: inst.GetId(), NodeId: node.GetId()})
		expectOK(err, "BindPort")
		Expect(bound.GetPort().GetInstanceId()).To(Equal(inst.GetId()), "instance_id after BindPort")
		Expect(bound.GetPort().GetStatus()).To(Equal("ACTIVE"), "status after BindPort")
		list, err := e.network.ListPorts(ctx, &hv.ListPortsRequest{InstanceId: inst.GetId()})
		expectOK(err, "ListPorts instance_id=%s", inst.GetId())
		Expect(list.GetPorts()).To(HaveLen(1), "ListPorts by instance")
		_, err = e.network.DeletePort(ctx, &hv.DeletePortRequest{PortId: p.GetId()})
		expectCode(err, codes.FailedPrecondition, "DeletePort of a bound port")
		unbound, err := e.network.UnbindPort(ctx, &hv.UnbindPortRequest{PortId: p.GetId()})
		expectOK(err, "UnbindPort")
		Expect(unbound.GetPort().GetInstanceId()).To(BeEmpty(), "instance_id after UnbindPort")
		_, err = e.network.DeletePort(ctx, &hv.DeletePortRequest{PortId: p.GetId()})
		expectOK(err, "DeletePort of an unbound port")
		allocs, err := e.network.ListAllocations(ctx, &hv.ListAllocationsRequest{SubnetId: sub.GetId()})
		expectOK(err, "ListAllocations")
		for _, a := range allocs.GetAllocations() {
			Expect(a.GetIpAddress()).NotTo(Equal(p.GetIpAddress()), "DeletePort MUST release the port's address")
		}
	})

	s.it("[HV-NET-009] DeleteSubnet MUST be refused with FailedPrecondition while an address is allocated", func(ctx context.Context, e *env) {
		n := e.createNetwork(ctx)
		sub := e.createSubnet(ctx, n.GetId(), "10.43.0.0/24")
		e.allocate(ctx, sub.GetId(), "")
		_, err := e.network.DeleteSubnet(ctx, &hv.DeleteSubnetRequest{SubnetId: sub.GetId()})
		expectCode(err, codes.FailedPrecondition, "DeleteSubnet with an allocated address")
		_, err = e.network.GetSubnet(ctx, &hv.GetSubnetRequest{SubnetId: sub.GetId()})
		expectOK(err, "GetSubnet after a refused delete")
	})

	s.it("[HV-NET-010] Security groups: CreateSecurityGroup, GetSecurityGroup, ListSecurityGroups, AddSecurityRule, RemoveSecurityRule and DeleteSecurityGroup MUST manage groups and rules", func(ctx context.Context, e *env) {
		sg := e.createSecurityGroup(ctx)
		rule, err := e.network.AddSecurityRule(ctx, &hv.AddSecurityRuleRequest{
			SecurityGroupId: sg.GetId(), Direction: hv.SecurityRuleDirection_SECURITY_RULE_DIRECTION_INGRESS,
			EtherType: hv.EtherType_ETHER_TYPE_IPV4, Protocol: "tcp", PortRangeMin: 22, PortRangeMax: 22, RemoteIpPrefix: "0.0.0.0/0",
		})
		expectOK(err, "AddSecurityRule tcp/22")
		Expect(rule.GetRule().GetId()).NotTo(BeEmpty(), "rule id")
		got, err := e.network.GetSecurityGroup(ctx, &hv.GetSecurityGroupRequest{SecurityGroupId: sg.GetId()})
		expectOK(err, "GetSecurityGroup")
		Expect(got.GetSecurityGroup().GetRules()).To(HaveLen(1), "rules after AddSecurityRule")
		list, err := e.network.ListSecurityGroups(ctx, &hv.ListSecurityGroupsRequest{TenantId: e.prefix})
		expectOK(err, "ListSecurityGroups")
		Expect(list.GetSecurityGroups()).To(HaveLen(1), "ListSecurityGroups of a tenant with one group")
		_, err = e.network.RemoveSecurityRule(ctx, &hv.RemoveSecurityRuleRequest{SecurityGroupId: sg.GetId(), RuleId: rule.GetRule().GetId()})
		expectOK(err, "RemoveSecurityRule")
		_, err = e.network.RemoveSecurityRule(ctx, &hv.RemoveSecurityRuleRequest{SecurityGroupId: sg.GetId(), RuleId: rule.GetRule().GetId()})
		expectCode(err, codes.NotFound, "RemoveSecurityRule of a removed rule")
		_, err = e.network.DeleteSecurityGroup(ctx, &hv.DeleteSecurityGroupRequest{SecurityGroupId: sg.GetId()})
		expectOK(err, "DeleteSecurityGroup")
		_, err = e.network.GetSecurityGroup(ctx, &hv.GetSecurityGroupRequest{SecurityGroupId: sg.GetId()})
		expectCode(err, codes.NotFound, "GetSecurityGroup after delete")
	})

	s.it("[HV-NET-011] AddSecurityRule MUST refuse an inverted port range or a bad direction with InvalidArgument and an identical rule with AlreadyExists", func(ctx context.Context, e *env) {
		sg := e.createSecurityGroup(ctx)
		good := &hv.AddSecurityRuleRequest{
			SecurityGroupId: sg.GetId(), Direction: hv.SecurityRuleDirection_SECURITY_RULE_DIRECTION_EGRESS,
			EtherType: hv.EtherType_ETHER_TYPE_IPV4, Protocol: "udp", PortRangeMin: 53, PortRangeMax: 53,
		}
		_, err := e.network.AddSecurityRule(ctx, good)
		expectOK(err, "AddSecurityRule udp/53")
		_, err = e.network.AddSecurityRule(ctx, good)
		expectCode(err, codes.AlreadyExists, "AddSecurityRule of an identical rule")
		inverted := &hv.AddSecurityRuleRequest{SecurityGroupId: sg.GetId(), Direction: good.Direction, EtherType: good.EtherType, Protocol: "tcp", PortRangeMin: 90, PortRangeMax: 80}
		_, err = e.network.AddSecurityRule(ctx, inverted)
		expectCode(err, codes.InvalidArgument, "AddSecurityRule with port range 90..80")
		noDir := &hv.AddSecurityRuleRequest{SecurityGroupId: sg.GetId(), EtherType: good.EtherType, Protocol: "tcp", PortRangeMin: 80, PortRangeMax: 80}
		_, err = e.network.AddSecurityRule(ctx, noDir)
		expectCode(err, codes.InvalidArgument, "AddSecurityRule without a direction")
	})

	s.it("[HV-NET-012] DeleteSecurityGroup MUST be refused with FailedPrecondition while a port uses the group", func(ctx context.Context, e *env) {
		sg := e.createSecurityGroup(ctx)
		n := e.createNetwork(ctx)
		e.createPort(ctx, &hv.CreatePortRequest{NetworkId: n.GetId(), SecurityGroups: []string{sg.GetId()}})
		_, err := e.network.DeleteSecurityGroup(ctx, &hv.DeleteSecurityGroupRequest{SecurityGroupId: sg.GetId()})
		expectCode(err, codes.FailedPrecondition, "DeleteSecurityGroup of a group a port uses")
	})

	s.it("[HV-NET-013] Routers: AddRouterInterface MUST attach a subnet through a port, AddRoute and RemoveRoute MUST edit routes, and DeleteRouter MUST be refused while an interface exists", func(ctx context.Context, e *env) {
		n := e.createNetwork(ctx)
		sub := e.createSubnet(ctx, n.GetId(), "10.44.0.0/24")
		r := e.createRouter(ctx, nil)
		got, err := e.network.GetRouter(ctx, &hv.GetRouterRequest{RouterId: r.GetId()})
		expectOK(err, "GetRouter")
		Expect(got.GetRouter().GetName()).To(Equal(r.GetName()))
		list, err := e.network.ListRouters(ctx, &hv.ListRoutersRequest{TenantId: e.prefix})
		expectOK(err, "ListRouters")
		Expect(list.GetRouters()).To(HaveLen(1), "ListRouters of a tenant with one router")
		itf, err := e.network.AddRouterInterface(ctx, &hv.AddRouterInterfaceRequest{RouterId: r.GetId(), SubnetId: sub.GetId()})
		expectOK(err, "AddRouterInterface")
		Expect(itf.GetPortId()).NotTo(BeEmpty(), "AddRouterInterface MUST return the interface's port_id")
		e.res.add("router interface", func(ctx context.Context) error {
			_, err := e.network.RemoveRouterInterface(ctx, &hv.RemoveRouterInterfaceRequest{RouterId: r.GetId(), SubnetId: sub.GetId()})
			return err
		})
		_, err = e.network.AddRouterInterface(ctx, &hv.AddRouterInterfaceRequest{RouterId: r.GetId(), SubnetId: sub.GetId()})
		if err == nil {
			e.res.add("second router interface", func(ctx context.Context) error {
				_, err := e.network.RemoveRouterInterface(ctx, &hv.RemoveRouterInterfaceRequest{RouterId: r.GetId(), SubnetId: sub.GetId()})
				return err
			})
		}
		expectCode(err, codes.AlreadyExists, "AddRouterInterface of a subnet already attached")
		route, err := e.network.AddRoute(ctx, &hv.AddRouteRequest{RouterId: r.GetId(), Destination: "192.168.50.0/24", Nexthop: "10.44.0.10"})
		expectOK(err, "AddRoute via 10.44.0.10")
		Expect(route.GetRouter().GetRoutes()).To(ContainElement(HaveField("Destination", "192.168.50.0/24")), "routes after AddRoute")
		_, err = e.network.DeleteRouter(ctx, &hv.DeleteRouterRequest{RouterId: r.GetId()})
		expectCode(err, codes.FailedPrecondition, "DeleteRouter with an interface")
		removed, err := e.network.RemoveRoute(ctx, &hv.RemoveRouteRequest{RouterId: r.GetId(), Destination: "192.168.50.0/24"})
		expectOK(err, "RemoveRoute")
		Expect(removed.GetRouter().GetRoutes()).To(BeEmpty(), "routes after RemoveRoute")
		_, err = e.network.RemoveRoute(ctx, &hv.RemoveRouteRequest{RouterId: r.GetId(), Destination: "192.168.50.0/24"})
		expectCode(err, codes.NotFound, "RemoveRoute of a removed route")
		_, err = e.network.RemoveRouterInterface(ctx, &hv.RemoveRouterInterfaceRequest{RouterId: r.GetId(), SubnetId: sub.GetId()})
		expectOK(err, "RemoveRouterInterface")
		_, err = e.network.DeleteRouter(ctx, &hv.DeleteRouterRequest{RouterId: r.GetId()})
		expectOK(err, "DeleteRouter without interfaces")
	})

	s.it("[HV-NET-014] Floating IPs: CreateFloatingIP MUST allocate from an external network, AssociateFloatingIP MUST bind it to a port, DisassociateFloatingIP unbind it, and ListFloatingIPs and DeleteFloatingIP MUST reflect it", func(ctx context.Context, e *env) {
		ext := e.createNetwork(ctx, func(r *hv.CreateNetworkRequest) { r.External = true })
		e.createSubnet(ctx, ext.GetId(), "203.0.113.0/24")
		n := e.createNetwork(ctx)
		sub := e.createSubnet(ctx, n.GetId(), "10.45.0.0/24")
		p := e.createPort(ctx, &hv.CreatePortRequest{NetworkId: n.GetId(), SubnetId: sub.GetId()})
		resp, err := e.network.CreateFloatingIP(ctx, &hv.CreateFloatingIPRequest{FloatingNetworkId: ext.GetId(), TenantId: e.prefix})
		expectOK(err, "CreateFloatingIP")
		fip := resp.GetFloatingIp()
		e.res.add("floating ip", func(ctx context.Context) error {
			_, err := e.network.DeleteFloatingIP(ctx, &hv.DeleteFloatingIPRequest{FloatingIpId: fip.GetId()})
			return err
		})
		Expect(fip.GetFloatingIp()).To(HavePrefix("203.0.113."), "floating_ip from the external subnet")
		assoc, err := e.network.AssociateFloatingIP(ctx, &hv.AssociateFloatingIPRequest{FloatingIpId: fip.GetId(), PortId: p.GetId()})
		expectOK(err, "AssociateFloatingIP")
		Expect(assoc.GetFloatingIp().GetPortId()).To(Equal(p.GetId()), "port_id after AssociateFloatingIP")
		Expect(assoc.GetFloatingIp().GetFixedIp()).To(Equal(p.GetIpAddress()), "fixed_ip defaults to the port's address")
		byPort, err := e.network.ListFloatingIPs(ctx, &hv.ListFloatingIPsRequest{PortId: p.GetId()})
		expectOK(err, "ListFloatingIPs port_id")
		Expect(byPort.GetFloatingIps()).To(HaveLen(1), "ListFloatingIPs by port")
		dis, err := e.network.DisassociateFloatingIP(ctx, &hv.DisassociateFloatingIPRequest{FloatingIpId: fip.GetId()})
		expectOK(err, "DisassociateFloatingIP")
		Expect(dis.GetFloatingIp().GetPortId()).To(BeEmpty(), "port_id after DisassociateFloatingIP")
		_, err = e.network.DeleteFloatingIP(ctx, &hv.DeleteFloatingIPRequest{FloatingIpId: fip.GetId()})
		expectOK(err, "DeleteFloatingIP")
		byTenant, err := e.network.ListFloatingIPs(ctx, &hv.ListFloatingIPsRequest{TenantId: e.prefix})
		expectOK(err, "ListFloatingIPs tenant")
		Expect(byTenant.GetFloatingIps()).To(BeEmpty(), "ListFloatingIPs after DeleteFloatingIP")
	})

	s.it("[HV-NET-015] ListVTEPs MUST list a VTEP for every READY node, at the node's IP", func(ctx context.Context, e *env) {
		node := e.readyNode(ctx, e.region())
		resp, err := e.network.ListVTEPs(ctx, &hv.ListVTEPsRequest{})
		expectOK(err, "ListVTEPs")
		var found *hv.VTEP
		for _, v := range resp.GetVteps() {
			if v.GetNodeId() == node.GetId() {
				found = v
			}
		}
		Expect(found).NotTo(BeNil(), "ListVTEPs has no VTEP for READY node %s", node.GetId())
		Expect(found.GetIp()).To(Equal(node.GetIp()), "VTEP ip")
		Expect(found.GetPort()).To(BeNumerically(">", 0), "VTEP port")
	})
}
