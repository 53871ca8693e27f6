package guestagent

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// metrics answers get_metrics with load averages and memory from /proc when
// present, else plausible fixed numbers.
func (a *Agent) metrics() reply {
	m := map[string]any{
		"cpus":             runtime.NumCPU(),
		"uptime":           a.uptimeSeconds(),
		"load1":            0.1,
		"load5":            0.1,
		"load15":           0.1,
		"mem_total_kb":     int64(1 << 20),
		"mem_available_kb": int64(512 << 10),
		"source":           "simulated",
	}
	if a.opts.Fault == FaultConstantMetrics {
		return reply{"result": m}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			for i, k := range []string{"load1", "load5", "load15"} {
				if v, err := strconv.ParseFloat(f[i], 64); err == nil {
					m[k] = v
				}
			}
			m["source"] = "/proc"
		}
	}
	if total, avail, ok := readMeminfo("/proc/meminfo"); ok {
		m["mem_total_kb"], m["mem_available_kb"] = total, avail
	}
	return reply{"result": m}
}

func readMeminfo(path string) (total, avail int64, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, found := strings.Cut(sc.Text(), ":")
		if !found {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "MemTotal":
			total = n
		case "MemAvailable":
			avail = n
		}
	}
	return total, avail, total > 0 && avail > 0 && avail <= total
}
