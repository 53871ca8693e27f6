package hypervisor

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
	"github.com/vmtestbed/vmtestbed/transport"
)

func benchEnv(b *testing.B, tr transport.Transport) *env {
	e := newEnv(b, Options{WatchBuffer: 1024}, tr)
	req := workerReq("bench")
	req.Capacity.CpuCores, req.Capacity.MemoryBytes = 1<<30, 1<<60
	e.register(b, req)
	return e
}

func smallVM(i int) *hv.CreateInstanceRequest {
	req := vmReq(fmt.Sprintf("b%d", i))
	req.Spec.CpuCores, req.Spec.MemoryBytes = 1, 1<<20
	return req
}

func benchCreate(b *testing.B, tr transport.Transport) {
	e := benchEnv(b, tr)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := e.compute.CreateInstance(ctx, smallVM(i)); err != nil {
			b.Fatal(err)
		}
	}
}

func benchGet(b *testing.B, tr transport.Transport) {
	e := benchEnv(b, tr)
	ctx := context.Background()
	in := e.create(b, smallVM(0))
	req := &hv.GetInstanceRequest{InstanceId: in.Id}
	for b.Loop() {
		if _, err := e.compute.GetInstance(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCreateInstance(b *testing.B)    { benchCreate(b, nil) }
func BenchmarkGetInstance(b *testing.B)       { benchGet(b, nil) }
func BenchmarkCreateInstanceTCP(b *testing.B) { benchCreate(b, transport.TCP{}) }
func BenchmarkGetInstanceTCP(b *testing.B)    { benchGet(b, transport.TCP{}) }

// BenchmarkListInstances10k walks 10,000 instances in pages of 100 and
// reports the p99 page latency.
func BenchmarkListInstances10k(b *testing.B) {
	e := benchEnv(b, nil)
	ctx := context.Background()
	for i := range 10000 {
		if _, err := e.compute.CreateInstance(ctx, smallVM(i)); err != nil {
			b.Fatal(err)
		}
	}
	var pages []time.Duration
	for b.Loop() {
		tok, n := "", 0
		for {
			start := time.Now()
			resp, err := e.compute.ListInstances(ctx, &hv.ListInstancesRequest{PageSize: 100, PageToken: tok})
			pages = append(pages, time.Since(start))
			if err != nil {
				b.Fatal(err)
			}
			n += len(resp.Instances)
			if tok = resp.NextPageToken; tok == "" {
				break
			}
		}
		if n != 10000 {
			b.Fatalf("walked %d instances", n)
		}
	}
	slices.Sort(pages)
	b.ReportMetric(float64(pages[len(pages)*99/100].Microseconds()), "p99-page-µs")
}

// BenchmarkWatchNodesFanout1000 measures one node event reaching 1,000 watchers.
func BenchmarkWatchNodesFanout1000(b *testing.B) {
	e := benchEnv(b, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const watchers = 1000
	streams := make([]hv.ClusterService_WatchNodesClient, watchers)
	for i := range streams {
		s, err := e.cluster.WatchNodes(ctx, &hv.WatchNodesRequest{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Header(); err != nil {
			b.Fatal(err)
		}
		streams[i] = s
	}
	nodeID := e.register(b, workerReq("fan"))
	for _, s := range streams { // drain the ADDED event
		if _, err := s.Recv(); err != nil {
			b.Fatal(err)
		}
	}
	got := make(chan error, watchers)
	for b.Loop() {
		if _, err := e.cluster.Heartbeat(ctx, &hv.HeartbeatRequest{NodeId: nodeID}); err != nil {
			b.Fatal(err)
		}
		for _, s := range streams {
			go func() { _, err := s.Recv(); got <- err }()
		}
		for range watchers {
			if err := <-got; err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkCreateVolumeNamed creates named volumes: the per-tenant name
// check is an index lookup, so the cost does not grow with the volume count.
func BenchmarkCreateVolumeNamed(b *testing.B) {
	f := newNetFixtureWith(b, Options{Limits: Limits{MaxVolumes: b.N + 1, StorageCapacityBytes: int64(b.N+1) << 20}})
	b.ResetTimer()
	for i := range b.N {
		if _, err := f.sto.CreateVolume(ctx, &hv.CreateVolumeRequest{Name: fmt.Sprintf("v%d", i), SizeBytes: 1 << 20, TenantId: "t"}); err != nil {
			b.Fatal(err)
		}
	}
}
