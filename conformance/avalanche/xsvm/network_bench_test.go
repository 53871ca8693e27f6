package xsvm_test

import (
	"context"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/conformance/avalanche/xsvm"
	"github.com/vmtestbed/vmtestbed/harness"
)

// BenchmarkXSVM3NodesFirstBlock: three fake nodes, each launching xsvm
// v1.14.2 as its own process, start, a signed transfer goes in through n1's
// API, n1 builds, and the block is accepted on all three: the time from the
// start of the network to the block accepted everywhere (the same work
// takes a tmpnet network about 12 s: docs/PERFORMANCE.md).
func BenchmarkXSVM3NodesFirstBlock(b *testing.B) {
	bin := xsvmPlugin(b)
	w, err := xsvm.NewWorkload()
	if err != nil {
		b.Fatal(err)
	}
	genesis, err := w.Genesis()
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for b.Loop() {
		total += firstBlockOn3(b, bin, w, genesis)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/first-block-on-3")
}

// firstBlockOn3 is one round: start, issue, build, accepted on all; the
// network (three xsvm processes) is closed whatever happens.
func firstBlockOn3(b *testing.B, bin string, w *xsvm.Workload, genesis []byte) time.Duration {
	ctx := context.Background()
	start := time.Now()
	n, err := harness.NewNetwork(ctx, harness.NetworkConfig{Seed: 1, Nodes: 3, Plugin: bin, Protocol: xsvmProtocol, Genesis: genesis})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := n.Close(); err != nil {
			b.Error(err)
		}
	}()
	c, ok := n.HTTP("n1")
	if !ok {
		b.Fatal("n1 has no HTTP handler")
	}
	if err := w.IssueTx(ctx, c, 1); err != nil {
		b.Fatal(err)
	}
	if err := n.Build("n1"); err != nil {
		b.Fatal(err)
	}
	if err := n.RunUntilHeight(1, time.Minute); err != nil {
		b.Fatalf("%v (heights %s)", err, n.Heights())
	}
	return time.Since(start)
}
