package hypervisor

import (
	"hash/fnv"
	"time"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// stats makes plausible, deterministic usage numbers from the instance's
// spec and its total running time: counters (cpu time, disk and network
// bytes) only grow; gauges (cpu %, memory) are zero while not RUNNING.
// Call with s.mu held.
func (s *Server) stats(in *instance) *hv.InstanceStats {
	up := s.uptime(in)
	ran := in.ranBefore + up
	secs := int64(ran / time.Second)
	spec := in.pb.GetSpec()
	st := &hv.InstanceStats{
		InstanceId:  in.pb.Id,
		CollectedAt: timestamp(s.now()),
		// A quarter of each core busy on average.
		CpuTimeNs:      int64(ran) * int64(spec.GetCpuCores()) / 4,
		DiskReadBytes:  secs * (1 << 20),
		DiskWriteBytes: secs * (256 << 10),
		NetworkRxBytes: secs * (10 << 10),
		NetworkTxBytes: secs * (5 << 10),
	}
	if ran > 0 {
		st.DiskReadBytes += 50 << 20 // the boot read
	}
	if in.state == hv.InstanceState_INSTANCE_STATE_RUNNING {
		h := fnv.New32a()
		h.Write([]byte(in.pb.Id))
		st.CpuUsagePercent = 25 + float64(h.Sum32()%100)/10
		used := min(spec.GetMemoryBytes(), int64(32<<20)+int64(up/time.Second)*(256<<10))
		st.MemoryUsedBytes = used
		st.MemoryCacheBytes = used / 4
	}
	return st
}
