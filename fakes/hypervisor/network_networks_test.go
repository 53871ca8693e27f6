package hypervisor

import (
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

const (
	vxlan  = hv.NetworkType_NETWORK_TYPE_VXLAN
	vlan   = hv.NetworkType_NETWORK_TYPE_VLAN
	bridge = hv.NetworkType_NETWORK_TYPE_BRIDGE
	flat   = hv.NetworkType_NETWORK_TYPE_FLAT
)

func TestCreateNetwork(t *testing.T) {
	f := newNetFixture(t)
	f.network(t, &hv.CreateNetworkRequest{Name: "taken-vni", Type: vxlan, Vni: 100})
	f.network(t, &hv.CreateNetworkRequest{Name: "taken-vlan", Type: vlan, VlanId: 10})
	tests := []struct {
		name    string
		req     *hv.CreateNetworkRequest
		code    codes.Code
		wantMTU uint32
	}{
		{"vxlan default mtu", &hv.CreateNetworkRequest{Name: "a", Type: vxlan, Vni: 1}, codes.OK, 1450},
		{"vxlan max vni and mtu", &hv.CreateNetworkRequest{Name: "a", Type: vxlan, Vni: 16777215, Mtu: 8950}, codes.OK, 8950},
		{"vlan", &hv.CreateNetworkRequest{Name: "a", Type: vlan, VlanId: 4094}, codes.OK, 1500},
		{"bridge jumbo", &hv.CreateNetworkRequest{Name: "a", Type: bridge, Mtu: 9000}, codes.OK, 9000},
		{"flat", &hv.CreateNetworkRequest{Name: "a", Type: flat}, codes.OK, 1500},
		{"no name", &hv.CreateNetworkRequest{Type: flat}, codes.InvalidArgument, 0},
		{"no type", &hv.CreateNetworkRequest{Name: "a"}, codes.InvalidArgument, 0},
		{"unknown type", &hv.CreateNetworkRequest{Name: "a", Type: 9}, codes.InvalidArgument, 0},
		{"vxlan vni 0", &hv.CreateNetworkRequest{Name: "a", Type: vxlan}, codes.InvalidArgument, 0},
		{"vxlan vni too big", &hv.CreateNetworkRequest{Name: "a", Type: vxlan, Vni: 1 << 24}, codes.InvalidArgument, 0},
		{"vxlan mtu over overhead", &hv.CreateNetworkRequest{Name: "a", Type: vxlan, Vni: 2, Mtu: 8951}, codes.InvalidArgument, 0},
		{"mtu too small", &hv.CreateNetworkRequest{Name: "a", Type: flat, Mtu: 67}, codes.InvalidArgument, 0},
		{"mtu too big", &hv.CreateNetworkRequest{Name: "a", Type: flat, Mtu: 9001}, codes.InvalidArgument, 0},
		{"vlan 0", &hv.CreateNetworkRequest{Name: "a", Type: vlan}, codes.InvalidArgument, 0},
		{"vlan 4095", &hv.CreateNetworkRequest{Name: "a", Type: vlan, VlanId: 4095}, codes.InvalidArgument, 0},
		{"vni on vlan", &hv.CreateNetworkRequest{Name: "a", Type: vlan, VlanId: 5, Vni: 5}, codes.InvalidArgument, 0},
		{"vlan on flat", &hv.CreateNetworkRequest{Name: "a", Type: flat, VlanId: 5}, codes.InvalidArgument, 0},
		{"duplicate vni", &hv.CreateNetworkRequest{Name: "a", Type: vxlan, Vni: 100}, codes.AlreadyExists, 0},
		{"duplicate vlan", &hv.CreateNetworkRequest{Name: "a", Type: vlan, VlanId: 10}, codes.AlreadyExists, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := f.net.CreateNetwork(ctx, tt.req)
			wantCode(t, err, tt.code, "CreateNetwork")
			if err != nil {
				return
			}
			nw := resp.GetNetwork()
			if nw.Mtu != tt.wantMTU || !nw.AdminState || nw.Id == "" || nw.CreatedAt == nil {
				t.Fatalf("network = %v, want mtu %d, admin_state, id, created_at", nw, tt.wantMTU)
			}
		})
	}
}

func TestNetworkGetListDelete(t *testing.T) {
	f := newNetFixture(t)
	var ids []string
	for i := range 25 {
		req := &hv.CreateNetworkRequest{Name: fmt.Sprint("n", i), Type: vlan, VlanId: uint32(i + 1), TenantId: "even"}
		if i%2 == 1 {
			req.TenantId, req.Type, req.VlanId, req.Vni = "odd", vxlan, 0, uint32(i+1)
		}
		ids = append(ids, f.network(t, req).Id)
	}
	got := call(f.net.GetNetwork(ctx, &hv.GetNetworkRequest{NetworkId: ids[3]})).ok(t).GetNetwork()
	if got.Name != "n3" || got.Vni != 4 {
		t.Fatalf("GetNetwork = %v", got)
	}
	_, err := f.net.GetNetwork(ctx, &hv.GetNetworkRequest{NetworkId: "net-nope"})
	wantCode(t, err, codes.NotFound, "GetNetwork unknown")
	_, err = f.net.GetNetwork(ctx, &hv.GetNetworkRequest{})
	wantCode(t, err, codes.InvalidArgument, "GetNetwork empty id")

	// Walk all pages of 10: 25 networks in creation order, no duplicates.
	var walked []string
	token := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("page walk does not end")
		}
		resp := call(f.net.ListNetworks(ctx, &hv.ListNetworksRequest{PageSize: 10, PageToken: token})).ok(t)
		for _, nw := range resp.Networks {
			walked = append(walked, nw.Id)
		}
		if token = resp.NextPageToken; token == "" {
			break
		}
	}
	if fmt.Sprint(walked) != fmt.Sprint(ids) {
		t.Fatalf("page walk = %v, want %v", walked, ids)
	}
	odd := call(f.net.ListNetworks(ctx, &hv.ListNetworksRequest{TenantId: "odd"})).ok(t)
	if len(odd.Networks) != 12 || odd.NextPageToken != "" {
		t.Fatalf("tenant filter gave %d networks", len(odd.Networks))
	}
	vl := call(f.net.ListNetworks(ctx, &hv.ListNetworksRequest{Type: vlan, PageSize: 100})).ok(t)
	if len(vl.Networks) != 13 {
		t.Fatalf("type filter gave %d networks, want 13", len(vl.Networks))
	}
	_, err = f.net.ListNetworks(ctx, &hv.ListNetworksRequest{PageToken: "garbage!"})
	wantCode(t, err, codes.InvalidArgument, "ListNetworks bad token")
	_, err = f.net.ListNetworks(ctx, &hv.ListNetworksRequest{PageSize: -1})
	wantCode(t, err, codes.InvalidArgument, "ListNetworks negative size")

	// Delete frees the VNI for reuse.
	call(f.net.DeleteNetwork(ctx, &hv.DeleteNetworkRequest{NetworkId: ids[3]})).ok(t)
	_, err = f.net.DeleteNetwork(ctx, &hv.DeleteNetworkRequest{NetworkId: ids[3]})
	wantCode(t, err, codes.NotFound, "DeleteNetwork twice")
	f.network(t, &hv.CreateNetworkRequest{Name: "reuse", Type: vxlan, Vni: 4})
}

func TestDeleteNetworkRefusedWhileUsed(t *testing.T) {
	f := newNetFixture(t)
	nw, sub := f.flatSubnet(t, "10.0.0.0/24", false)
	port := call(f.net.CreatePort(ctx, &hv.CreatePortRequest{NetworkId: nw.Id})).ok(t).GetPort()
	_, err := f.net.DeleteNetwork(ctx, &hv.DeleteNetworkRequest{NetworkId: nw.Id})
	wantCode(t, err, codes.FailedPrecondition, "DeleteNetwork with subnet")
	call(f.net.DeleteSubnet(ctx, &hv.DeleteSubnetRequest{SubnetId: sub.Id})).ok(t)
	_, err = f.net.DeleteNetwork(ctx, &hv.DeleteNetworkRequest{NetworkId: nw.Id})
	wantCode(t, err, codes.FailedPrecondition, "DeleteNetwork with port")
	call(f.net.DeletePort(ctx, &hv.DeletePortRequest{PortId: port.Id})).ok(t)
	call(f.net.DeleteNetwork(ctx, &hv.DeleteNetworkRequest{NetworkId: nw.Id})).ok(t)
}
