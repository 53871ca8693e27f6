package hypervisor

import (
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

func TestCreateSubnet(t *testing.T) {
	f := newNetFixture(t)
	nw, _ := f.flatSubnet(t, "10.0.0.0/24", false)
	other := f.network(t, &hv.CreateNetworkRequest{Name: "other"})
	tests := []struct {
		name string
		req  *hv.CreateSubnetRequest
		code codes.Code
	}{
		{"same cidr on another network", &hv.CreateSubnetRequest{NetworkId: other.Id, Cidr: "10.0.0.0/24"}, codes.OK},
		{"ipv6", &hv.CreateSubnetRequest{NetworkId: nw.Id, Cidr: "fd00::/64", DnsServers: []string{"fd00::53"}}, codes.OK},
		{"pools and gateway", &hv.CreateSubnetRequest{NetworkId: nw.Id, Cidr: "10.1.0.0/24", GatewayIp: "10.1.0.254",
			AllocationPools: []*hv.IPPool{{Start: "10.1.0.10", End: "10.1.0.20"}}, DnsServers: []string{"8.8.8.8"}}, codes.OK},
		{"unknown network", &hv.CreateSubnetRequest{NetworkId: "net-nope", Cidr: "10.2.0.0/24"}, codes.NotFound},
		{"no network", &hv.CreateSubnetRequest{Cidr: "10.2.0.0/24"}, codes.InvalidArgument},
		{"no cidr", &hv.CreateSubnetRequest{NetworkId: nw.Id}, codes.InvalidArgument},
		{"bad cidr", &hv.CreateSubnetRequest{NetworkId: nw.Id, Cidr: "10.2.0.0/40"}, codes.InvalidArgument},
		{"host bits", &hv.CreateSubnetRequest{NetworkId: nw.Id, Cidr: "10.2.0.1/24"}, codes.InvalidArgument},
		{"overlap", &hv.CreateSubnetRequest{NetworkId: nw.Id, Cidr: "10.0.0.128/25"}, codes.InvalidArgument},
		{"gateway outside", &hv.CreateSubnetRequest{NetworkId: nw.Id, Cidr: "10.2.0.0/24", GatewayIp: "10.3.0.1"}, codes.InvalidArgument},
		{"bad dns", &hv.CreateSubnetRequest{NetworkId: nw.Id, Cidr: "10.2.0.0/24", DnsServers: []string{"dns.example"}}, codes.InvalidArgument},
		{"pool outside", &hv.CreateSubnetRequest{NetworkId: nw.Id, Cidr: "10.2.0.0/24",
			AllocationPools: []*hv.IPPool{{Start: "10.2.0.10", End: "10.2.1.20"}}}, codes.InvalidArgument},
		{"pools overlap", &hv.CreateSubnetRequest{NetworkId: nw.Id, Cidr: "10.2.0.0/24",
			AllocationPools: []*hv.IPPool{{Start: "10.2.0.10", End: "10.2.0.20"}, {Start: "10.2.0.15", End: "10.2.0.30"}}}, codes.InvalidArgument},
		{"pool reversed", &hv.CreateSubnetRequest{NetworkId: nw.Id, Cidr: "10.2.0.0/24",
			AllocationPools: []*hv.IPPool{{Start: "10.2.0.20", End: "10.2.0.10"}}}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.net.CreateSubnet(ctx, tt.req)
			wantCode(t, err, tt.code, "CreateSubnet")
		})
	}
	got := call(f.net.ListSubnets(ctx, &hv.ListSubnetsRequest{NetworkId: nw.Id})).ok(t).GetSubnets()
	if len(got) != 3 || got[1].GetIpv6() != true || got[2].GatewayIp != "10.1.0.254" || len(got[2].AllocationPools) != 1 {
		t.Fatalf("ListSubnets = %v", got)
	}
	if p := got[0].AllocationPools; len(p) != 1 || p[0].Start != "10.0.0.2" || p[0].End != "10.0.0.254" || got[0].GatewayIp != "10.0.0.1" {
		t.Fatalf("default gateway/pools = %s %v", got[0].GatewayIp, p)
	}
	_, err := f.net.ListSubnets(ctx, &hv.ListSubnetsRequest{NetworkId: "net-nope"})
	wantCode(t, err, codes.NotFound, "ListSubnets unknown network")
	_, err = f.net.GetSubnet(ctx, &hv.GetSubnetRequest{SubnetId: "subnet-nope"})
	wantCode(t, err, codes.NotFound, "GetSubnet unknown")
	if s := call(f.net.GetSubnet(ctx, &hv.GetSubnetRequest{SubnetId: got[2].Id})).ok(t).GetSubnet(); s.Cidr != "10.1.0.0/24" {
		t.Fatalf("GetSubnet = %v", s)
	}
}

func TestListSubnetsPagination(t *testing.T) {
	f := newNetFixture(t)
	nw := f.network(t, &hv.CreateNetworkRequest{Name: "many"})
	for i := range 7 {
		f.subnet(t, nw.Id, fmt.Sprintf("10.%d.0.0/16", i))
	}
	seen := map[string]bool{}
	token, pages := "", 0
	for {
		resp := call(f.net.ListSubnets(ctx, &hv.ListSubnetsRequest{NetworkId: nw.Id, PageSize: 3, PageToken: token})).ok(t)
		pages++
		for _, s := range resp.Subnets {
			if seen[s.Id] {
				t.Fatalf("subnet %s twice", s.Id)
			}
			seen[s.Id] = true
		}
		if token = resp.NextPageToken; token == "" || pages > 3 {
			break
		}
	}
	if len(seen) != 7 || pages != 3 {
		t.Fatalf("walked %d subnets in %d pages, want 7 in 3", len(seen), pages)
	}
}

func TestDeleteSubnetRefusedWhileUsed(t *testing.T) {
	f := newNetFixture(t)
	nw, sub := f.flatSubnet(t, "10.0.0.0/24", false)
	del := func() error {
		_, err := f.net.DeleteSubnet(ctx, &hv.DeleteSubnetRequest{SubnetId: sub.Id})
		return err
	}
	alloc := call(f.net.AllocateIP(ctx, &hv.AllocateIPRequest{SubnetId: sub.Id})).ok(t).GetAllocation()
	wantCode(t, del(), codes.FailedPrecondition, "DeleteSubnet with allocation")
	call(f.net.ReleaseIP(ctx, &hv.ReleaseIPRequest{SubnetId: sub.Id, IpAddress: alloc.IpAddress})).ok(t)

	port := call(f.net.CreatePort(ctx, &hv.CreatePortRequest{NetworkId: nw.Id, SubnetId: sub.Id})).ok(t).GetPort()
	wantCode(t, del(), codes.FailedPrecondition, "DeleteSubnet with port")
	call(f.net.DeletePort(ctx, &hv.DeletePortRequest{PortId: port.Id})).ok(t)

	r := call(f.net.CreateRouter(ctx, &hv.CreateRouterRequest{Name: "r"})).ok(t).GetRouter()
	call(f.net.AddRouterInterface(ctx, &hv.AddRouterInterfaceRequest{RouterId: r.Id, SubnetId: sub.Id})).ok(t)
	wantCode(t, del(), codes.FailedPrecondition, "DeleteSubnet with router interface")
	call(f.net.RemoveRouterInterface(ctx, &hv.RemoveRouterInterfaceRequest{RouterId: r.Id, SubnetId: sub.Id})).ok(t)

	wantCode(t, del(), codes.OK, "DeleteSubnet when free")
	wantCode(t, del(), codes.NotFound, "DeleteSubnet twice")
}
