package hypervisor

import (
	"sync"
	"testing"

	"google.golang.org/grpc/codes"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

func TestAllocateIPExhaustsSlash29(t *testing.T) {
	f := newNetFixture(t)
	_, sub := f.flatSubnet(t, "192.168.9.0/29", false)
	var got []string
	for range 5 {
		a := call(f.net.AllocateIP(ctx, &hv.AllocateIPRequest{SubnetId: sub.Id, Hostname: "h", MacAddress: "02:00:00:00:00:01"})).ok(t).GetAllocation()
		if a.Status != StatusAllocated || a.Hostname != "h" || a.MacAddress != "02:00:00:00:00:01" || a.SubnetId != sub.Id {
			t.Fatalf("allocation = %v", a)
		}
		got = append(got, a.IpAddress)
	}
	if got[0] != "192.168.9.2" || got[4] != "192.168.9.6" {
		t.Fatalf("allocated %v, want .2..6 (gateway .1 kept back)", got)
	}
	_, err := f.net.AllocateIP(ctx, &hv.AllocateIPRequest{SubnetId: sub.Id})
	wantCode(t, err, codes.ResourceExhausted, "AllocateIP on a full /29")
	call(f.net.ReleaseIP(ctx, &hv.ReleaseIPRequest{SubnetId: sub.Id, IpAddress: "192.168.9.4"})).ok(t)
	again := call(f.net.AllocateIP(ctx, &hv.AllocateIPRequest{SubnetId: sub.Id})).ok(t).GetAllocation()
	if again.IpAddress != "192.168.9.4" {
		t.Fatalf("reallocated %s, want the released 192.168.9.4", again.IpAddress)
	}
}

func TestAllocateIPErrors(t *testing.T) {
	f := newNetFixture(t)
	_, sub := f.flatSubnet(t, "10.0.0.0/24", false)
	call(f.net.AllocateIP(ctx, &hv.AllocateIPRequest{SubnetId: sub.Id, IpAddress: "10.0.0.50"})).ok(t)
	tests := []struct {
		name string
		req  *hv.AllocateIPRequest
		code codes.Code
	}{
		{"taken", &hv.AllocateIPRequest{SubnetId: sub.Id, IpAddress: "10.0.0.50"}, codes.AlreadyExists},
		{"gateway", &hv.AllocateIPRequest{SubnetId: sub.Id, IpAddress: "10.0.0.1"}, codes.InvalidArgument},
		{"outside cidr", &hv.AllocateIPRequest{SubnetId: sub.Id, IpAddress: "10.0.1.5"}, codes.InvalidArgument},
		{"not an ip", &hv.AllocateIPRequest{SubnetId: sub.Id, IpAddress: "ten"}, codes.InvalidArgument},
		{"bad mac", &hv.AllocateIPRequest{SubnetId: sub.Id, MacAddress: "zz"}, codes.InvalidArgument},
		{"multicast mac", &hv.AllocateIPRequest{SubnetId: sub.Id, MacAddress: "01:00:5e:00:00:01"}, codes.InvalidArgument},
		{"unknown subnet", &hv.AllocateIPRequest{SubnetId: "subnet-nope"}, codes.NotFound},
		{"unknown instance", &hv.AllocateIPRequest{SubnetId: sub.Id, InstanceId: "inst-nope"}, codes.NotFound},
		{"unknown port", &hv.AllocateIPRequest{SubnetId: sub.Id, PortId: "port-nope"}, codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.net.AllocateIP(ctx, tt.req)
			wantCode(t, err, tt.code, "AllocateIP")
		})
	}
	// Failed calls changed nothing.
	if all := call(f.net.ListAllocations(ctx, &hv.ListAllocationsRequest{SubnetId: sub.Id})).ok(t).GetAllocations(); len(all) != 1 {
		t.Fatalf("after failures: %d allocations, want 1", len(all))
	}
	_, err := f.net.ReleaseIP(ctx, &hv.ReleaseIPRequest{SubnetId: sub.Id, IpAddress: "10.0.0.51"})
	wantCode(t, err, codes.NotFound, "ReleaseIP of a free address")
	_, err = f.net.ReleaseIP(ctx, &hv.ReleaseIPRequest{SubnetId: "subnet-nope", IpAddress: "10.0.0.50"})
	wantCode(t, err, codes.NotFound, "ReleaseIP unknown subnet")
	_, err = f.net.ReleaseIP(ctx, &hv.ReleaseIPRequest{SubnetId: sub.Id, IpAddress: "x"})
	wantCode(t, err, codes.InvalidArgument, "ReleaseIP bad address")
	_, err = f.net.ListAllocations(ctx, &hv.ListAllocationsRequest{SubnetId: "subnet-nope"})
	wantCode(t, err, codes.NotFound, "ListAllocations unknown subnet")

	port := call(f.net.CreatePort(ctx, &hv.CreatePortRequest{NetworkId: sub.NetworkId, SubnetId: sub.Id})).ok(t).GetPort()
	_, err = f.net.ReleaseIP(ctx, &hv.ReleaseIPRequest{SubnetId: sub.Id, IpAddress: port.IpAddress})
	wantCode(t, err, codes.FailedPrecondition, "ReleaseIP of a port's address")
	all := call(f.net.ListAllocations(ctx, &hv.ListAllocationsRequest{})).ok(t).GetAllocations()
	if len(all) != 2 || all[0].PortId != port.Id || all[0].MacAddress != port.MacAddress { // sorted by address
		t.Fatalf("ListAllocations = %v", all)
	}
}

func TestAllocateIPConcurrentNoDuplicates(t *testing.T) {
	f := newNetFixture(t)
	_, sub := f.flatSubnet(t, "10.5.0.0/24", false)
	const workers, each = 8, 40 // 320 tries for 253 addresses
	var mu sync.Mutex
	seen := map[string]bool{}
	exhausted := 0
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				resp, err := f.net.AllocateIP(ctx, &hv.AllocateIPRequest{SubnetId: sub.Id})
				mu.Lock()
				switch {
				case err == nil && seen[resp.Allocation.IpAddress]:
					t.Errorf("address %s handed out twice", resp.Allocation.IpAddress)
				case err == nil:
					seen[resp.Allocation.IpAddress] = true
				default:
					wantCode(t, err, codes.ResourceExhausted, "concurrent AllocateIP")
					exhausted++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 253 || exhausted != workers*each-253 {
		t.Fatalf("%d distinct addresses and %d exhausted, want 253 and %d", len(seen), exhausted, workers*each-253)
	}
}

func BenchmarkAllocateIP(b *testing.B) {
	f := newNetFixture(b)
	_, sub := f.flatSubnet(b, "10.200.0.0/16", false)
	req := &hv.AllocateIPRequest{SubnetId: sub.Id}
	for b.Loop() {
		a := call(f.net.AllocateIP(ctx, req)).ok(b).GetAllocation()
		call(f.net.ReleaseIP(ctx, &hv.ReleaseIPRequest{SubnetId: sub.Id, IpAddress: a.IpAddress})).ok(b)
	}
}
