package hypervisor_test

import (
	"testing"
	"time"
)

// BenchmarkSuiteInProcess runs the whole suite against the in-process fake
// over bufconn. Ginkgo runs one suite per process, so each iteration is a
// child process; suite-ms is the suite's own wall time without process start.
func BenchmarkSuiteInProcess(b *testing.B) {
	var suite time.Duration
	for b.Loop() {
		res := runChild(b, "none", "")
		if res.Failed > 0 {
			b.Fatalf("suite failed against the fake: %v", res.FailedIDs())
		}
		suite += res.End.Sub(res.Start)
	}
	b.ReportMetric(float64(suite.Milliseconds())/float64(b.N), "suite-ms/op")
}
