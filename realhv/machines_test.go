package realhv

import (
	"context"
	"strings"
	"testing"
	"time"

	fakehv "github.com/vmtestbed/vmtestbed/fakes/hypervisor"
	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
	"github.com/vmtestbed/vmtestbed/virtio"
)

// TestHypervisorFakeOnLibvirt: the hypervisor fake with realhv.Machines
// runs an instance as a real domain booting the tiny guest. Its agent
// answers over the domain's channel (found through the fake's
// Server.Machine), a graceful restart lets the guest power itself off and
// boots a new domain, its console shows the kernel's boot log, a graceful
// stop ends with the guest powering itself off, and a delete leaves no
// domain.
func TestHypervisorFakeOnLibvirt(t *testing.T) {
	h := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	img := testImage(t, ctx)
	served, err := fakehv.Serve(fakehv.Options{Seed: 1, Machines: Machines{Host: h, Image: img, Dir: sharedDir(t)}}, fakehv.ServeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer served.Stop()
	cluster, compute := hv.NewClusterServiceClient(served.Conn()), hv.NewComputeServiceClient(served.Conn())
	if _, err := cluster.RegisterNode(ctx, &hv.RegisterNodeRequest{
		Hostname: "kvm-1", Ip: "127.0.0.1", Port: 7000, Role: hv.NodeRole_NODE_ROLE_WORKER,
		Capacity:               &hv.Resources{CpuCores: 4, MemoryBytes: 8 << 30, DiskBytes: 100 << 30},
		SupportedInstanceTypes: []string{"INSTANCE_TYPE_VM"},
	}); err != nil {
		t.Fatal(err)
	}
	in, err := compute.CreateInstance(ctx, &hv.CreateInstanceRequest{Name: "guest-1", Type: hv.InstanceType_INSTANCE_TYPE_VM,
		Spec: &hv.InstanceSpec{Image: "ubuntu:22.04", CpuCores: 1, MemoryBytes: 1 << 30}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := compute.StartInstance(ctx, &hv.StartInstanceRequest{InstanceId: in.Id}); err != nil {
		t.Fatal(err)
	}
	m, err := served.Fake().Machine(in.Id)
	if err != nil {
		t.Fatal(err)
	}
	if x := m.DomainXML(); !strings.Contains(x, fakehv.AgentChannel) {
		t.Errorf("live domain XML lacks the agent channel:\n%s", x)
	}
	ping := func() {
		t.Helper()
		ch, err := m.Channel(fakehv.AgentChannel)
		if err != nil {
			t.Fatal(err)
		}
		if err := virtio.AwaitPong(ctx, ch); err != nil {
			t.Fatalf("no pong from the instance's agent: %v", err)
		}
	}
	ping()
	// A graceful restart: the guest powers itself off, a new domain boots,
	// and its agent answers.
	before := m.DomainXML()
	re, err := compute.RestartInstance(ctx, &hv.RestartInstanceRequest{InstanceId: in.Id})
	if err != nil {
		t.Fatal(err)
	}
	if re.GetState() != hv.InstanceState_INSTANCE_STATE_RUNNING || re.GetStateReason() != "restarted" {
		t.Errorf("after a graceful restart: %v %q, want RUNNING \"restarted\" (the guest shut itself down)", re.GetState(), re.GetStateReason())
	}
	if after := m.DomainXML(); after == "" || after == before {
		t.Errorf("the restart booted no new domain (domain XML before and after are the same)")
	}
	ping()
	// The console carries what the guest's kernel printed.
	con, err := compute.AttachConsole(ctx, &hv.AttachConsoleRequest{InstanceId: in.Id})
	if err != nil {
		t.Fatal(err)
	}
	var seen strings.Builder
	for !strings.Contains(seen.String(), "Linux version") {
		out, err := con.Recv()
		if err != nil {
			t.Fatalf("console: %v after %q", err, seen.String())
		}
		seen.Write(out.GetData())
	}
	// Watch first, so the STOPPED event cannot be missed.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	watch, err := compute.WatchInstance(wctx, &hv.WatchInstanceRequest{InstanceId: in.Id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := compute.StopInstance(ctx, &hv.StopInstanceRequest{InstanceId: in.Id, TimeoutSeconds: 60}); err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := watch.Recv()
		if err != nil {
			t.Fatalf("watching the instance stop: %v", err)
		}
		if got := ev.GetInstance(); got.GetState() == hv.InstanceState_INSTANCE_STATE_STOPPED {
			if got.GetStateReason() != "stopped" {
				t.Errorf("stopped with reason %q, want the guest's own power-off", got.GetStateReason())
			}
			break
		}
	}
	wcancel()
	if _, err := compute.DeleteInstance(ctx, &hv.DeleteInstanceRequest{InstanceId: in.Id}); err != nil {
		t.Fatal(err)
	}
	if names, _ := h.Domains(); len(names) != 0 {
		t.Errorf("domains left after delete: %v", names)
	}
}
