package hypervisor

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
	"github.com/vmtestbed/vmtestbed/virtio"
)

// nullMachines runs instances on machines that do nothing (no pty): the
// cluster benchmark measures the control plane, not 10,000 guests.
type nullMachines struct{}

func (nullMachines) NewMachine(MachineSpec, MachineEnv) (Machine, error) { return nullMachine{}, nil }

type nullMachine struct{}

func (nullMachine) PowerOn() error                         { return nil }
func (nullMachine) RequestShutdown() (bool, error)         { return true, nil }
func (nullMachine) PowerOff() error                        { return nil }
func (nullMachine) Console() io.ReadWriter                 { return nullConsole{} }
func (nullMachine) Resize(int, int) error                  { return nil }
func (nullMachine) DomainXML() string                      { return "<domain/>" }
func (nullMachine) Close() error                           { return nil }
func (nullMachine) Channel(string) (virtio.Channel, error) { return nil, io.EOF }

// nullConsole never prints: Read ends the fake's console reader at once.
type nullConsole struct{}

func (nullConsole) Read([]byte) (int, error)    { return 0, io.EOF }
func (nullConsole) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkCluster1000x10000: 1,000 host nodes register, 10,000 instances
// are scheduled onto them and started, every node heartbeats for three
// intervals, then one node stops heartbeating: its lease lapses, its grace
// period ends, it is removed and its instances go FAILED. Reports the
// phases' wall time and the live heap (time on the fake's ManualClock).
func BenchmarkCluster1000x10000(b *testing.B) {
	for b.Loop() {
		e := newEnv(b, Options{Machines: nullMachines{}, LeaseTTL: 15 * time.Second, HeartbeatInterval: 5 * time.Second,
			NodeGracePeriod: 15 * time.Second, Limits: Limits{MaxNodes: 2000, MaxWatchers: 16}}, nil)
		ctx := context.Background()
		start := time.Now()
		ids := make([]string, 1000)
		for i := range ids {
			req := workerReq(fmt.Sprintf("h%04d", i))
			req.Capacity = &hv.Resources{CpuCores: 64, MemoryBytes: 256 << 30, DiskBytes: 4 << 40}
			ids[i] = e.register(b, req)
		}
		registered := time.Since(start)
		start = time.Now()
		for i := range 10000 {
			in, err := e.compute.CreateInstance(ctx, &hv.CreateInstanceRequest{Name: fmt.Sprintf("i%05d", i), Type: hv.InstanceType_INSTANCE_TYPE_VM,
				Spec: &hv.InstanceSpec{Image: "ubuntu:22.04", CpuCores: 2, MemoryBytes: 4 << 30}})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.compute.StartInstance(ctx, &hv.StartInstanceRequest{InstanceId: in.Id}); err != nil {
				b.Fatal(err)
			}
		}
		scheduled := time.Since(start)
		start = time.Now()
		for range 3 {
			for _, id := range ids {
				if _, err := e.cluster.Heartbeat(ctx, &hv.HeartbeatRequest{NodeId: id}); err != nil {
					b.Fatal(err)
				}
			}
			e.clock.Advance(5 * time.Second)
		}
		beats := time.Since(start) / 3
		start = time.Now()
		// Every node but the first goes on heartbeating; the first is lost.
		for range 7 {
			for _, id := range ids[1:] {
				if _, err := e.cluster.Heartbeat(ctx, &hv.HeartbeatRequest{NodeId: id}); err != nil {
					b.Fatal(err)
				}
			}
			e.clock.Advance(5 * time.Second)
		}
		if _, err := e.cluster.GetNode(ctx, &hv.GetNodeRequest{NodeId: ids[0]}); err == nil {
			b.Fatal("the lost node is still registered after its lease and grace period")
		}
		failure := time.Since(start)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(registered.Seconds()*1000, "ms/register-1000")
		b.ReportMetric(scheduled.Seconds()*1000, "ms/schedule-start-10000")
		b.ReportMetric(beats.Seconds()*1000, "ms/heartbeat-round")
		b.ReportMetric(failure.Seconds()*1000, "ms/node-failure")
		b.ReportMetric(float64(ms.HeapAlloc>>20), "MiB-live-heap")
	}
}
