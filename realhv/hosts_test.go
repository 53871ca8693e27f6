package realhv

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	fakehv "github.com/vmtestbed/vmtestbed/fakes/hypervisor"
	"github.com/vmtestbed/vmtestbed/internal/realhvtest"
	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// secondHost connects to the second libvirt host ($VMTESTBED_LIBVIRT_URI2;
// ci/realhv-setup.sh --second-host starts one on loopback TCP).
func secondHost(t *testing.T) *Host {
	t.Helper()
	uri := realhvtest.SecondURI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := Connect(ctx, uri, Options{Prefix: testPrefix})
	if err != nil {
		t.Fatalf("second host %s: %v", uri, err)
	}
	t.Cleanup(func() {
		if _, err := h.Sweep(); err != nil {
			t.Error(err)
		}
		_ = h.Close()
	})
	return h
}

// TestInstancesSpreadOverTwoHosts: the hypervisor fake with two nodes, each
// backed by its own libvirt daemon (libvirt's remote protocol is the
// distributed engine): one instance lands on each node and boots as a
// domain of that node's libvirt.
func TestInstancesSpreadOverTwoHosts(t *testing.T) {
	first, second := connect(t), secondHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	img := testImage(t, ctx)
	served, err := fakehv.Serve(fakehv.Options{Seed: 1, Machines: Machines{
		Host: first, Hosts: map[string]*Host{"host-a": first, "host-b": second}, Image: img, Dir: sharedDir(t)}}, fakehv.ServeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer served.Stop()
	cluster, compute := hv.NewClusterServiceClient(served.Conn()), hv.NewComputeServiceClient(served.Conn())
	for _, name := range []string{"host-a", "host-b"} {
		// Room for one 1-core instance each, so the scheduler must spread.
		if _, err := cluster.RegisterNode(ctx, &hv.RegisterNodeRequest{Hostname: name, Ip: "127.0.0.1", Port: 7000,
			Role: hv.NodeRole_NODE_ROLE_WORKER, Capacity: &hv.Resources{CpuCores: 1, MemoryBytes: 2 << 30, DiskBytes: 10 << 30},
			SupportedInstanceTypes: []string{"INSTANCE_TYPE_VM"}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"spread-1", "spread-2"} {
		in, err := compute.CreateInstance(ctx, &hv.CreateInstanceRequest{Name: name, Type: hv.InstanceType_INSTANCE_TYPE_VM,
			Spec: &hv.InstanceSpec{Image: "ubuntu:22.04", CpuCores: 1, MemoryBytes: 1 << 30}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := compute.StartInstance(ctx, &hv.StartInstanceRequest{InstanceId: in.Id}); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := first.Domains()
	b, _ := second.Domains()
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("domains: %v on the first host, %v on the second; want one on each", a, b)
	}
}

// TestSpreadPlacesNodesInTurn: each node seen first goes to the next host
// in turn and stays there; unplaced instances (no node) and a Spread
// without hosts choose none.
func TestSpreadPlacesNodesInTurn(t *testing.T) {
	a, b := &Host{uri: "qemu:///a"}, &Host{uri: "qemu:///b"}
	s := NewSpread(a, b)
	for _, tc := range []struct {
		node string
		want *Host
	}{{"n1", a}, {"n2", b}, {"n1", a}, {"n3", a}, {"", nil}, {"n2", b}} {
		if got := s.Place(tc.node); got != tc.want {
			t.Errorf("node %q on %v, want %v", tc.node, got, tc.want)
		}
	}
	want := map[string][]string{"qemu:///a": {"n1", "n3"}, "qemu:///b": {"n2"}}
	if got := s.Nodes(); !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("Nodes() = %v, want %v", got, want)
	}
	var none *Spread
	if none.Place("n1") != nil || NewSpread().Place("n1") != nil {
		t.Error("a nil or empty Spread placed a node")
	}
}
