package hypervisor

import (
	"fmt"
	"regexp"
	"testing"

	"google.golang.org/grpc/codes"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

var generatedMAC = regexp.MustCompile(`^fa:16:3e:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$`)

func TestCreatePort(t *testing.T) {
	f := newNetFixture(t)
	nw, sub := f.flatSubnet(t, "10.0.0.0/24", false)
	otherNet, otherSub := f.flatSubnet(t, "10.9.0.0/24", false)
	sg := call(f.net.CreateSecurityGroup(ctx, &hv.CreateSecurityGroupRequest{Name: "web"})).ok(t).GetSecurityGroup()
	p := call(f.net.CreatePort(ctx, &hv.CreatePortRequest{Name: "p", NetworkId: nw.Id, SubnetId: sub.Id, SecurityGroups: []string{sg.Id}})).ok(t).GetPort()
	if !generatedMAC.MatchString(p.MacAddress) || p.IpAddress != "10.0.0.2" || p.Status != PortStatusDown ||
		!p.AdminState || p.BindingType != hv.PortBindingType_PORT_BINDING_OVS {
		t.Fatalf("port = %v", p)
	}
	fixed := call(f.net.CreatePort(ctx, &hv.CreatePortRequest{NetworkId: nw.Id, IpAddress: "10.0.0.77", MacAddress: "02:AA:bb:cc:dd:ee"})).ok(t).GetPort()
	if fixed.SubnetId != sub.Id || fixed.IpAddress != "10.0.0.77" || fixed.MacAddress != "02:aa:bb:cc:dd:ee" {
		t.Fatalf("fixed-ip port = %v", fixed)
	}
	tests := []struct {
		name string
		req  *hv.CreatePortRequest
		code codes.Code
	}{
		{"no network", &hv.CreatePortRequest{}, codes.InvalidArgument},
		{"unknown network", &hv.CreatePortRequest{NetworkId: "net-nope"}, codes.NotFound},
		{"unknown subnet", &hv.CreatePortRequest{NetworkId: nw.Id, SubnetId: "subnet-nope"}, codes.NotFound},
		{"subnet of other network", &hv.CreatePortRequest{NetworkId: nw.Id, SubnetId: otherSub.Id}, codes.InvalidArgument},
		{"ip in no subnet", &hv.CreatePortRequest{NetworkId: nw.Id, IpAddress: "10.9.0.5"}, codes.InvalidArgument},
		{"ip taken", &hv.CreatePortRequest{NetworkId: nw.Id, IpAddress: "10.0.0.77"}, codes.AlreadyExists},
		{"mac taken", &hv.CreatePortRequest{NetworkId: otherNet.Id, MacAddress: "02:aa:bb:cc:dd:ee"}, codes.AlreadyExists},
		{"bad mac", &hv.CreatePortRequest{NetworkId: nw.Id, MacAddress: "02:aa"}, codes.InvalidArgument},
		{"unknown security group", &hv.CreatePortRequest{NetworkId: nw.Id, SecurityGroups: []string{"sg-nope"}}, codes.NotFound},
		{"unknown binding", &hv.CreatePortRequest{NetworkId: nw.Id, BindingType: 42}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.net.CreatePort(ctx, tt.req)
			wantCode(t, err, tt.code, "CreatePort")
		})
	}
	if n := len(call(f.net.ListPorts(ctx, &hv.ListPortsRequest{})).ok(t).GetPorts()); n != 2 {
		t.Fatalf("%d ports after failed creates, want 2", n)
	}
	if n := len(call(f.net.ListAllocations(ctx, &hv.ListAllocationsRequest{})).ok(t).GetAllocations()); n != 2 {
		t.Fatalf("%d allocations after failed creates, want 2", n)
	}
	_, err := f.net.GetPort(ctx, &hv.GetPortRequest{PortId: "port-nope"})
	wantCode(t, err, codes.NotFound, "GetPort unknown")
	if got := call(f.net.GetPort(ctx, &hv.GetPortRequest{PortId: p.Id})).ok(t).GetPort(); got.IpAddress != p.IpAddress {
		t.Fatalf("GetPort = %v", got)
	}
}

func TestPortBindLifecycle(t *testing.T) {
	f := newNetFixture(t)
	nodeA, nodeB := f.node(t, "192.0.2.1"), f.node(t, "192.0.2.2")
	inst := f.instance(t, nodeA, "web")
	nw, sub := f.flatSubnet(t, "10.0.0.0/24", false)
	p := call(f.net.CreatePort(ctx, &hv.CreatePortRequest{NetworkId: nw.Id, SubnetId: sub.Id})).ok(t).GetPort()

	bind := func(req *hv.BindPortRequest) error {
		_, err := f.net.BindPort(ctx, req)
		return err
	}
	wantCode(t, bind(&hv.BindPortRequest{PortId: p.Id}), codes.InvalidArgument, "BindPort without instance")
	wantCode(t, bind(&hv.BindPortRequest{PortId: "port-nope", InstanceId: inst}), codes.NotFound, "BindPort unknown port")
	wantCode(t, bind(&hv.BindPortRequest{PortId: p.Id, InstanceId: "inst-nope"}), codes.NotFound, "BindPort unknown instance")
	wantCode(t, bind(&hv.BindPortRequest{PortId: p.Id, InstanceId: inst, NodeId: nodeB}), codes.InvalidArgument, "BindPort wrong node")
	wantCode(t, bind(&hv.BindPortRequest{PortId: p.Id, InstanceId: inst, DeviceName: "a-very-long-device-name"}), codes.InvalidArgument, "BindPort long device name")

	bound := call(f.net.BindPort(ctx, &hv.BindPortRequest{PortId: p.Id, InstanceId: inst})).ok(t).GetPort()
	if bound.Status != PortStatusActive || bound.NodeId != nodeA || bound.InstanceId != inst || bound.DeviceName != ("tap" + p.Id)[:15] {
		t.Fatalf("bound port = %v", bound)
	}
	other := f.instance(t, nodeA, "db")
	wantCode(t, bind(&hv.BindPortRequest{PortId: p.Id, InstanceId: other}), codes.FailedPrecondition, "BindPort already bound")
	_, err := f.net.DeletePort(ctx, &hv.DeletePortRequest{PortId: p.Id})
	wantCode(t, err, codes.FailedPrecondition, "DeletePort while bound")

	for _, q := range []*hv.ListPortsRequest{{InstanceId: inst}, {NodeId: nodeA}, {NetworkId: nw.Id}} {
		if got := call(f.net.ListPorts(ctx, q)).ok(t).GetPorts(); len(got) != 1 || got[0].Id != p.Id {
			t.Fatalf("ListPorts(%v) = %v", q, got)
		}
	}
	if got := call(f.net.ListPorts(ctx, &hv.ListPortsRequest{NodeId: nodeB})).ok(t).GetPorts(); len(got) != 0 {
		t.Fatalf("ListPorts(node B) = %v", got)
	}
	allocs := call(f.net.ListAllocations(ctx, &hv.ListAllocationsRequest{SubnetId: sub.Id})).ok(t).GetAllocations()
	if len(allocs) != 1 || allocs[0].InstanceId != inst {
		t.Fatalf("allocation after bind = %v", allocs)
	}

	unbound := call(f.net.UnbindPort(ctx, &hv.UnbindPortRequest{PortId: p.Id})).ok(t).GetPort()
	if unbound.Status != PortStatusDown || unbound.InstanceId != "" || unbound.NodeId != "" || unbound.DeviceName != "" {
		t.Fatalf("unbound port = %v", unbound)
	}
	_, err = f.net.UnbindPort(ctx, &hv.UnbindPortRequest{PortId: p.Id})
	wantCode(t, err, codes.FailedPrecondition, "UnbindPort twice")
	_, err = f.net.UnbindPort(ctx, &hv.UnbindPortRequest{PortId: "port-nope"})
	wantCode(t, err, codes.NotFound, "UnbindPort unknown")

	call(f.net.BindPort(ctx, &hv.BindPortRequest{PortId: p.Id, InstanceId: other, NodeId: nodeA, DeviceName: "eth-db"})).ok(t)
	call(f.net.UnbindPort(ctx, &hv.UnbindPortRequest{PortId: p.Id})).ok(t)
	call(f.net.DeletePort(ctx, &hv.DeletePortRequest{PortId: p.Id})).ok(t)
	_, err = f.net.DeletePort(ctx, &hv.DeletePortRequest{PortId: p.Id})
	wantCode(t, err, codes.NotFound, "DeletePort twice")
	if got := call(f.net.ListAllocations(ctx, &hv.ListAllocationsRequest{SubnetId: sub.Id})).ok(t).GetAllocations(); len(got) != 0 {
		t.Fatalf("DeletePort left allocations %v", got)
	}
}

func TestListPortsPagination(t *testing.T) {
	f := newNetFixture(t)
	nw, sub := f.flatSubnet(t, "10.0.0.0/24", false)
	macs := map[string]bool{}
	for i := range 45 {
		p := call(f.net.CreatePort(ctx, &hv.CreatePortRequest{Name: fmt.Sprint(i), NetworkId: nw.Id, SubnetId: sub.Id})).ok(t).GetPort()
		if macs[p.MacAddress] {
			t.Fatalf("MAC %s generated twice", p.MacAddress)
		}
		macs[p.MacAddress] = true
	}
	first := call(f.net.ListPorts(ctx, &hv.ListPortsRequest{NetworkId: nw.Id})).ok(t)
	if len(first.Ports) != 20 || first.NextPageToken == "" {
		t.Fatalf("default page has %d ports, want 20 and a token", len(first.Ports))
	}
	second := call(f.net.ListPorts(ctx, &hv.ListPortsRequest{NetworkId: nw.Id, PageSize: 1000, PageToken: first.NextPageToken})).ok(t)
	if len(second.Ports) != 25 || second.NextPageToken != "" || second.Ports[0].Name != "20" {
		t.Fatalf("second page has %d ports (first %q), token %q", len(second.Ports), second.Ports[0].Name, second.NextPageToken)
	}
}

func BenchmarkCreatePort(b *testing.B) {
	f := newNetFixture(b)
	nw, sub := f.flatSubnet(b, "10.128.0.0/16", false)
	req := &hv.CreatePortRequest{NetworkId: nw.Id, SubnetId: sub.Id}
	for b.Loop() {
		p := call(f.net.CreatePort(ctx, req)).ok(b).GetPort()
		call(f.net.DeletePort(ctx, &hv.DeletePortRequest{PortId: p.Id})).ok(b)
	}
}
