package harness

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkNetwork3x1000 builds 1,000 blocks on 3 nodes, each with its own
// in-process reference VM: every block is issued on one node (round robin),
// built there, polled by all and accepted everywhere (issue 9 target: under
// 5 s for the whole run). Reports wall ms per 1,000 blocks and the ratio of
// virtual to wall time.
func BenchmarkNetwork3x1000(b *testing.B) {
	const blocks = 1000
	for b.Loop() {
		n := benchNetwork(b, NetworkConfig{Seed: 1})
		start := time.Now()
		v0 := n.World.Elapsed()
		for i := range blocks {
			node := fmt.Sprintf("n%d", i%3+1)
			buildBlock(b, n, node, fmt.Sprint("k", i), uint64(i+1))
		}
		wall := time.Since(start)
		b.ReportMetric(float64(wall.Milliseconds()), "wall-ms/1000blocks")
		b.ReportMetric(float64(n.World.Elapsed()-v0)/float64(wall), "virtual/wall")
		b.ReportMetric(float64(n.Trace().Len())/blocks, "events/block")
		closeBenchNetwork(b, n)
	}
}

// BenchmarkNetworkNodes starts N nodes and has every block, issued on a
// rotating node, accepted by all (10 blocks), reporting wall time per block
// the live heap after the run and what the Go runtime holds from the OS.
func BenchmarkNetworkNodes(b *testing.B) {
	for _, nodes := range []int{10, 100} {
		b.Run(fmt.Sprint(nodes), func(b *testing.B) {
			const blocks = 10
			for b.Loop() {
				start := time.Now()
				n := benchNetwork(b, NetworkConfig{Seed: 1, Nodes: nodes})
				b.ReportMetric(float64(time.Since(start).Milliseconds()), "startup-ms")
				start = time.Now()
				for i := range blocks {
					node := fmt.Sprintf("n%d", i%nodes+1)
					buildBlock(b, n, node, fmt.Sprint("k", i), uint64(i+1))
				}
				b.ReportMetric(float64(time.Since(start).Milliseconds())/blocks, "wall-ms/block")
				var ms runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&ms)
				b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "live-heap-MiB")
				b.ReportMetric(float64(ms.Sys)/(1<<20), "sys-MiB")
				closeBenchNetwork(b, n)
			}
		})
	}
}

// benchNetwork starts a network for one benchmark iteration; the iteration
// closes it with closeBenchNetwork (newTestNetwork's Cleanup would keep every
// iteration's network alive until the benchmark ends).
func benchNetwork(b *testing.B, cfg NetworkConfig) *Network {
	b.Helper()
	n, err := NewNetwork(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

func closeBenchNetwork(b *testing.B, n *Network) {
	b.Helper()
	if err := n.Close(); err != nil {
		b.Fatalf("close network: %v", err)
	}
}
