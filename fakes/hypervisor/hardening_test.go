package hypervisor

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
	"github.com/vmtestbed/vmtestbed/transport"
)

// The tests in this file each pin one defect found by driving the fake as a
// real client would (issue 10, "The fake, solid"); each failed before its fix.

const tib = int64(1 << 40)

// hostileNames are names no object may take.
var hostileNames = map[string]string{
	"NUL":          "net\x00work",
	"RLO U+202E":   "net\u202Ekrow",
	"70 KB":        strings.Repeat("a", 70<<10),
	"path":         "../../etc/passwd",
	"upper case":   "Network",
	"64 bytes":     strings.Repeat("a", 64),
	"leading dash": "-net",
}

// wantShortError fails unless err has code c and a message that does not
// echo a huge field back.
func wantShortError(t *testing.T, err error, c codes.Code, what string) {
	t.Helper()
	wantCode(t, err, c, what)
	if msg := status.Convert(err).Message(); len(msg) > 400 {
		t.Fatalf("%s: the error message is %d bytes; a huge field must be clipped", what, len(msg))
	}
}

func TestReportedAllocationNeverReplacesComputedOne(t *testing.T) {
	e := newEnv(t, Options{}, nil)
	req := workerReq("w16")
	req.Capacity = &hv.Resources{CpuCores: 16, MemoryBytes: 64 * gib}
	id := e.register(t, req)
	for _, name := range []string{"a", "b"} {
		r := vmReq(name)
		r.Spec.CpuCores = 8
		e.create(t, r)
	}
	zero := &hv.Resources{}
	if _, err := e.cluster.Heartbeat(ctxT(t), &hv.HeartbeatRequest{NodeId: id, Allocated: zero}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cluster.UpdateNodeStatus(ctxT(t), &hv.UpdateNodeStatusRequest{NodeId: id, Allocated: zero}); err != nil {
		t.Fatal(err)
	}
	r := vmReq("c")
	r.Spec.CpuCores = 5
	_, err := e.compute.CreateInstance(ctxT(t), r)
	wantCode(t, err, codes.ResourceExhausted, "a 5-core instance on a full 16-core node after it reported nothing allocated")
	n, err := e.cluster.GetNode(ctxT(t), &hv.GetNodeRequest{NodeId: id})
	if err != nil {
		t.Fatal(err)
	}
	if n.Allocated.CpuCores != 16 {
		t.Fatalf("allocated %d cores, want the 16 its two instances hold", n.Allocated.CpuCores)
	}
}

func TestAgentInstancesCountAgainstAgentCapacity(t *testing.T) {
	e := newEnv(t, Options{}, nil)
	agentVM := func(id string, cores int32, mem int64) *hv.AgentCreateInstanceRequest {
		return &hv.AgentCreateInstanceRequest{InstanceId: id, Type: hv.InstanceType_INSTANCE_TYPE_VM,
			Spec: &hv.InstanceSpec{Image: "ubuntu:22.04", CpuCores: cores, MemoryBytes: mem}}
	}
	_, err := e.agent.CreateInstance(ctxT(t), agentVM("huge", 64, tib))
	wantCode(t, err, codes.ResourceExhausted, "64 cores and 1 TiB on the default 16-core agent host")
	for _, id := range []string{"half-1", "half-2"} {
		if _, err := e.agent.CreateInstance(ctxT(t), agentVM(id, 8, 8*gib)); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	_, err = e.agent.CreateInstance(ctxT(t), agentVM("one-more", 1, gib))
	wantCode(t, err, codes.ResourceExhausted, "a 17th core on the agent host")
	if _, err := e.agent.DeleteInstance(ctxT(t), &hv.AgentDeleteInstanceRequest{InstanceId: "half-1", Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.agent.CreateInstance(ctxT(t), agentVM("one-more", 1, gib)); err != nil {
		t.Fatalf("after a delete freed 8 cores: %v", err)
	}
}

func TestDeleteInstanceReleasesVolumesAndPorts(t *testing.T) {
	f := newNetFixture(t)
	node := f.node(t, "10.0.0.1")
	inst := f.instance(t, node, "doomed")
	v := call(f.sto.CreateVolume(ctx, &hv.CreateVolumeRequest{Name: "data", SizeBytes: gib})).ok(t)
	call(f.sto.AttachVolume(ctx, &hv.AttachVolumeRequest{VolumeId: v.Id, InstanceId: inst})).ok(t)
	nw, sub := f.flatSubnet(t, "10.0.0.0/24", false)
	p := call(f.net.CreatePort(ctx, &hv.CreatePortRequest{NetworkId: nw.Id, SubnetId: sub.Id})).ok(t).GetPort()
	call(f.net.BindPort(ctx, &hv.BindPortRequest{PortId: p.Id, InstanceId: inst})).ok(t)

	call(f.compute.DeleteInstance(ctx, &hv.DeleteInstanceRequest{InstanceId: inst, Force: true})).ok(t)

	got := call(f.sto.GetVolume(ctx, &hv.GetVolumeRequest{VolumeId: v.Id})).ok(t)
	if got.Status != hv.VolumeStatus_VOLUME_STATUS_AVAILABLE || got.InstanceId != "" || got.DevicePath != "" {
		t.Fatalf("volume after its instance was deleted: %v; want AVAILABLE and detached", got)
	}
	port := call(f.net.GetPort(ctx, &hv.GetPortRequest{PortId: p.Id})).ok(t).GetPort()
	if port.InstanceId != "" || port.NodeId != "" || port.Status != PortStatusDown {
		t.Fatalf("port after its instance was deleted: %v; want unbound and DOWN", port)
	}
	for _, a := range call(f.net.ListAllocations(ctx, &hv.ListAllocationsRequest{SubnetId: sub.Id})).ok(t).GetAllocations() {
		if a.InstanceId == inst {
			t.Fatalf("allocation %s still names the deleted instance", a.IpAddress)
		}
	}
	call(f.sto.DeleteVolume(ctx, &hv.DeleteVolumeRequest{VolumeId: v.Id})).ok(t)
	call(f.net.DeletePort(ctx, &hv.DeletePortRequest{PortId: p.Id})).ok(t)
}

func TestGracefulStopHonoursTimeout(t *testing.T) {
	for _, tc := range []struct {
		name        string
		shutdown    time.Duration // Options.GuestShutdownDelay
		timeout     int32
		stoppedAt   time.Duration
		reasonStart string
	}{
		{"guest that ignores the request is forced off at the deadline", -1, 5, 5 * time.Second, "force stopped"},
		{"guest slower than the deadline", time.Minute, 3, 3 * time.Second, "force stopped"},
		{"guest within the deadline", 2 * time.Second, 5, 2 * time.Second, "stopped"},
		{"timeout 0 uses Options.StopTimeout", -1, 0, 30 * time.Second, "force stopped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{GuestShutdownDelay: tc.shutdown}, nil)
			e.register(t, workerReq("w1"))
			in := e.create(t, vmReq("stopper"))
			if _, err := e.compute.StartInstance(ctxT(t), &hv.StartInstanceRequest{InstanceId: in.Id}); err != nil {
				t.Fatal(err)
			}
			got, err := e.compute.StopInstance(ctxT(t), &hv.StopInstanceRequest{InstanceId: in.Id, TimeoutSeconds: tc.timeout})
			if err != nil || got.State != hv.InstanceState_INSTANCE_STATE_RUNNING || !strings.HasPrefix(got.StateReason, "stopping") {
				t.Fatalf("StopInstance = %v, %v; want RUNNING while stopping", got, err)
			}
			_, err = e.compute.StopInstance(ctxT(t), &hv.StopInstanceRequest{InstanceId: in.Id})
			wantCode(t, err, codes.FailedPrecondition, "a second graceful stop while stopping")
			state := func() *hv.Instance {
				got, err := e.compute.GetInstance(ctxT(t), &hv.GetInstanceRequest{InstanceId: in.Id})
				if err != nil {
					t.Fatal(err)
				}
				return got
			}
			e.clock.Advance(tc.stoppedAt - time.Millisecond)
			if s := state(); s.State != hv.InstanceState_INSTANCE_STATE_RUNNING {
				t.Fatalf("before %s: %v, want still RUNNING", tc.stoppedAt, s.State)
			}
			e.clock.Advance(time.Millisecond)
			s := state()
			if s.State != hv.InstanceState_INSTANCE_STATE_STOPPED || !strings.HasPrefix(s.StateReason, tc.reasonStart) {
				t.Fatalf("at %s: %v (%q), want STOPPED with a reason starting %q", tc.stoppedAt, s.State, s.StateReason, tc.reasonStart)
			}
		})
	}
	t.Run("force while stopping cuts at once", func(t *testing.T) {
		e := newEnv(t, Options{GuestShutdownDelay: -1}, nil)
		e.register(t, workerReq("w1"))
		in := e.create(t, vmReq("stopper"))
		if _, err := e.compute.StartInstance(ctxT(t), &hv.StartInstanceRequest{InstanceId: in.Id}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.compute.StopInstance(ctxT(t), &hv.StopInstanceRequest{InstanceId: in.Id, TimeoutSeconds: 60}); err != nil {
			t.Fatal(err)
		}
		got, err := e.compute.StopInstance(ctxT(t), &hv.StopInstanceRequest{InstanceId: in.Id, Force: true})
		if err != nil || got.State != hv.InstanceState_INSTANCE_STATE_STOPPED {
			t.Fatalf("forced StopInstance while stopping = %v, %v", got, err)
		}
		if e.clock.Pending() != 1 { // only w1's lease
			t.Fatalf("%d timers pending; the graceful stop's deadline must be cancelled", e.clock.Pending())
		}
	})
}

func TestHeartbeatCarriesQueuedCommands(t *testing.T) {
	e := newEnv(t, Options{Limits: Limits{MaxPendingCommands: 2}}, nil)
	id := e.register(t, workerReq("w1"))
	first, err := e.srv.EnqueueNodeCommand(id, "drain", map[string]string{"reason": "kernel update"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.srv.EnqueueNodeCommand(id, "evict", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.srv.EnqueueNodeCommand(id, "third", nil)
	wantCode(t, err, codes.ResourceExhausted, "a third queued command with MaxPendingCommands 2")
	_, err = e.srv.EnqueueNodeCommand("node-nope", "drain", nil)
	wantCode(t, err, codes.NotFound, "a command for an unknown node")

	resp, err := e.cluster.Heartbeat(ctxT(t), &hv.HeartbeatRequest{NodeId: id})
	if err != nil {
		t.Fatal(err)
	}
	cmds := resp.GetCommands()
	if len(cmds) != 2 || cmds[0].Id != first || cmds[0].Type != "drain" || cmds[0].Parameters["reason"] != "kernel update" || cmds[1].Id != second {
		t.Fatalf("heartbeat commands = %v; want drain then evict", cmds)
	}
	resp, err = e.cluster.Heartbeat(ctxT(t), &hv.HeartbeatRequest{NodeId: id})
	if err != nil || len(resp.GetCommands()) != 0 {
		t.Fatalf("second heartbeat = %v, %v; commands are delivered once", resp, err)
	}
}

func TestKeptAliveWorkersKeepTheirStatus(t *testing.T) {
	e := newEnv(t, Options{Workers: 3}, nil)
	list, err := e.cluster.ListNodes(ctxT(t), &hv.ListNodesRequest{Status: hv.NodeStatus_NODE_STATUS_READY})
	if err != nil || list.TotalCount != 3 {
		t.Fatalf("READY nodes = %v, %v; want the 3 workers", list, err)
	}
	id := list.Nodes[0].Id
	if _, err := e.cluster.UpdateNodeStatus(ctxT(t), &hv.UpdateNodeStatusRequest{NodeId: id, Status: hv.NodeStatus_NODE_STATUS_MAINTENANCE}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Minute) // many lease TTLs
	for _, n := range list.Nodes {
		got, err := e.cluster.GetNode(ctxT(t), &hv.GetNodeRequest{NodeId: n.Id})
		if err != nil {
			t.Fatalf("worker %s after 10 minutes: %v", n.Hostname, err)
		}
		want := hv.NodeStatus_NODE_STATUS_READY
		if n.Id == id {
			want = hv.NodeStatus_NODE_STATUS_MAINTENANCE
		}
		if got.Status != want || !got.LastSeen.AsTime().After(epoch.Add(9*time.Minute)) {
			t.Fatalf("worker %s after 10 minutes: %v, last seen %v; want %v and renewed", n.Hostname, got.Status, got.LastSeen.AsTime(), want)
		}
	}
}

func TestHostileNamesAreRefused(t *testing.T) {
	f := newNetFixture(t)
	nw := f.network(t, &hv.CreateNetworkRequest{Name: "good"})
	for what, name := range hostileNames {
		t.Run(what, func(t *testing.T) {
			calls := map[string]func() error{
				"CreateNetwork": func() error {
					_, err := f.net.CreateNetwork(ctx, &hv.CreateNetworkRequest{Name: name, Type: hv.NetworkType_NETWORK_TYPE_FLAT})
					return err
				},
				"CreateSubnet": func() error {
					_, err := f.net.CreateSubnet(ctx, &hv.CreateSubnetRequest{Name: name, NetworkId: nw.Id, Cidr: "10.50.0.0/24"})
					return err
				},
				"CreatePort": func() error {
					_, err := f.net.CreatePort(ctx, &hv.CreatePortRequest{Name: name, NetworkId: nw.Id})
					return err
				},
				"CreateSecurityGroup": func() error {
					_, err := f.net.CreateSecurityGroup(ctx, &hv.CreateSecurityGroupRequest{Name: name})
					return err
				},
				"CreateRouter": func() error {
					_, err := f.net.CreateRouter(ctx, &hv.CreateRouterRequest{Name: name})
					return err
				},
				"CreateVolume": func() error {
					_, err := f.sto.CreateVolume(ctx, &hv.CreateVolumeRequest{Name: name, SizeBytes: gib})
					return err
				},
				"CreateInstance": func() error {
					_, err := f.compute.CreateInstance(ctx, &hv.CreateInstanceRequest{Name: name, Type: hv.InstanceType_INSTANCE_TYPE_VM,
						Spec: &hv.InstanceSpec{Image: "ubuntu:22.04", CpuCores: 1, MemoryBytes: gib}})
					return err
				},
			}
			for rpc, c := range calls {
				wantShortError(t, c(), codes.InvalidArgument, rpc+" with a "+what+" name")
			}
		})
	}
	// Still usable, and a huge id is not echoed back either.
	f.network(t, &hv.CreateNetworkRequest{Name: "after-hostile-names"})
	_, err := f.net.GetNetwork(ctx, &hv.GetNetworkRequest{NetworkId: strings.Repeat("x", 100<<10)})
	wantShortError(t, err, codes.NotFound, "GetNetwork of a 100 KB id")
	_, err = f.sto.CreateVolume(ctx, &hv.CreateVolumeRequest{Name: "v", SizeBytes: gib, TenantId: strings.Repeat("t", 100<<10)})
	wantShortError(t, err, codes.InvalidArgument, "CreateVolume with a 100 KB tenant_id")
}

func TestReservedSubnetsAreRefused(t *testing.T) {
	f := newNetFixture(t)
	nw := f.network(t, &hv.CreateNetworkRequest{Name: "n"})
	for _, cidr := range []string{"0.0.0.0/0", "127.0.0.0/8", "224.0.0.0/24", "169.254.0.0/24", "240.0.0.0/24", "0.0.0.0/24", "::/0", "fe80::/64", "ff02::/16"} {
		_, err := f.net.CreateSubnet(ctx, &hv.CreateSubnetRequest{NetworkId: nw.Id, Cidr: cidr})
		wantCode(t, err, codes.InvalidArgument, "CreateSubnet "+cidr)
	}
	f.subnet(t, nw.Id, "10.9.0.0/24")
}

func TestConcurrentSameNameCreateVolume(t *testing.T) {
	f := newNetFixture(t)
	const n = 200
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.sto.CreateVolume(ctx, &hv.CreateVolumeRequest{Name: "same", SizeBytes: gib, TenantId: "t1"})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok, exists := 0, 0
	for err := range errs {
		switch status.Code(err) {
		case codes.OK:
			ok++
		case codes.AlreadyExists:
			exists++
		default:
			t.Fatalf("CreateVolume: %v", err)
		}
	}
	if ok != 1 || exists != n-1 {
		t.Fatalf("%d created and %d AlreadyExists of %d same-name creates; want exactly 1 created", ok, exists, n)
	}
	// Another tenant may use the name.
	call(f.sto.CreateVolume(ctx, &hv.CreateVolumeRequest{Name: "same", SizeBytes: gib, TenantId: "t2"})).ok(t)
}

func TestVolumeSizeCountAndCapacityLimits(t *testing.T) {
	f := newNetFixtureWith(t, Options{Limits: Limits{MaxVolumeBytes: tib, StorageCapacityBytes: 2 * tib, MaxVolumes: 3}})
	create := func(name string, size int64) (*hv.Volume, error) {
		return f.sto.CreateVolume(ctx, &hv.CreateVolumeRequest{Name: name, SizeBytes: size})
	}
	_, err := create("too-big", tib+1)
	wantCode(t, err, codes.InvalidArgument, "a volume over MaxVolumeBytes")
	a := call(create("a", tib)).ok(t)
	call(create("b", tib)).ok(t)
	_, err = create("c", 1)
	wantCode(t, err, codes.ResourceExhausted, "a volume past StorageCapacityBytes")
	_, err = f.sto.ResizeVolume(ctx, &hv.ResizeVolumeRequest{VolumeId: a.Id, NewSizeBytes: tib + 1})
	wantCode(t, err, codes.InvalidArgument, "a resize over MaxVolumeBytes")
	call(f.sto.DeleteVolume(ctx, &hv.DeleteVolumeRequest{VolumeId: a.Id})).ok(t)
	call(create("c", gib)).ok(t)
	call(create("d", gib)).ok(t)
	_, err = create("e", gib)
	wantCode(t, err, codes.ResourceExhausted, "a fourth volume with MaxVolumes 3")
}

func TestMetadataLimits(t *testing.T) {
	f := newNetFixture(t)
	many := map[string]string{}
	for i := range 65 {
		many["k"+strings.Repeat("x", i%10)+string(rune('a'+i%26))+string(rune('a'+i/26))] = "v"
	}
	for what, md := range map[string]*hv.Metadata{
		"a 1 MiB label value":      {Labels: map[string]string{"k": strings.Repeat("v", 1<<20)}},
		"65 labels":                {Labels: many},
		"a 100 KB annotation":      {Annotations: map[string]string{"k": strings.Repeat("v", 100<<10)}},
		"a label value with a NUL": {Labels: map[string]string{"k": "a\x00b"}},
		"a bad annotation key":     {Annotations: map[string]string{"../x": "v"}},
	} {
		_, err := f.sto.CreateVolume(ctx, &hv.CreateVolumeRequest{Name: "v", SizeBytes: gib, Metadata: md})
		wantShortError(t, err, codes.InvalidArgument, "CreateVolume with "+what)
		_, err = f.net.CreateNetwork(ctx, &hv.CreateNetworkRequest{Name: "n", Type: hv.NetworkType_NETWORK_TYPE_FLAT, Metadata: md})
		wantShortError(t, err, codes.InvalidArgument, "CreateNetwork with "+what)
		_, err = f.compute.CreateInstance(ctx, &hv.CreateInstanceRequest{Name: "i", Type: hv.InstanceType_INSTANCE_TYPE_VM, Metadata: md,
			Spec: &hv.InstanceSpec{Image: "ubuntu:22.04", CpuCores: 1, MemoryBytes: gib}})
		wantShortError(t, err, codes.InvalidArgument, "CreateInstance with "+what)
	}
	_, err := f.sto.CreateVolume(ctx, &hv.CreateVolumeRequest{Name: "v", SizeBytes: gib, Description: strings.Repeat("d", 2000)})
	wantShortError(t, err, codes.InvalidArgument, "CreateVolume with a 2000-byte description")
}

func TestWatchersAreBounded(t *testing.T) {
	e := newEnv(t, Options{Limits: Limits{MaxWatchers: 2}}, nil)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	open := func(c context.Context) (hv.ClusterService_WatchNodesClient, error) {
		w, err := e.cluster.WatchNodes(c, &hv.WatchNodesRequest{})
		if err != nil {
			return nil, err
		}
		_, err = w.Header() // the watch is registered, or refused
		return w, err
	}
	first, cancelFirst := context.WithCancel(ctx)
	w1, err := open(first)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open(ctx); err != nil {
		t.Fatal(err)
	}
	w3, err := open(ctx)
	if err == nil {
		_, err = w3.Recv()
	}
	wantCode(t, err, codes.ResourceExhausted, "a third watcher with MaxWatchers 2")
	cancelFirst()
	_, err = w1.Recv()
	wantCode(t, err, codes.Canceled, "first watcher after cancel")
	// The server notices the cancel on its own time: wait for the slot, bounded.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := open(ctx)
		if err == nil {
			break
		}
		if status.Code(err) != codes.ResourceExhausted || time.Now().After(deadline) {
			t.Fatalf("watcher after one closed: %v", err)
		}
	}
}

func TestConsoleStreamsAndPTYsAreBounded(t *testing.T) {
	// A running instance holds two ptys: its console and its guest-agent channel.
	e := newEnv(t, Options{Limits: Limits{MaxPTYs: 4, MaxConsoleStreams: 1}}, nil)
	e.register(t, workerReq("w1"))
	var ids []string
	for _, name := range []string{"p1", "p2", "p3"} {
		r := vmReq(name)
		r.Spec.CpuCores = 1
		ids = append(ids, e.create(t, r).Id)
	}
	for _, id := range ids[:2] {
		if _, err := e.compute.StartInstance(ctxT(t), &hv.StartInstanceRequest{InstanceId: id}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.compute.StartInstance(ctxT(t), &hv.StartInstanceRequest{InstanceId: ids[2]})
	wantCode(t, err, codes.ResourceExhausted, "a third running instance with MaxPTYs 4")
	if _, err := e.compute.DeleteInstance(ctxT(t), &hv.DeleteInstanceRequest{InstanceId: ids[0], Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.compute.StartInstance(ctxT(t), &hv.StartInstanceRequest{InstanceId: ids[2]}); err != nil {
		t.Fatalf("start after a delete freed a pty: %v", err)
	}

	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	c1, err := e.compute.AttachConsole(ctx, &hv.AttachConsoleRequest{InstanceId: ids[1]})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Header(); err != nil {
		t.Fatal(err)
	}
	c2, err := e.compute.AttachConsole(ctx, &hv.AttachConsoleRequest{InstanceId: ids[2]})
	if err == nil {
		_, err = c2.Recv()
	}
	wantCode(t, err, codes.ResourceExhausted, "a second console stream with MaxConsoleStreams 1")
}

func TestServeStopEndsStreamsWithoutWaitingForTheGrace(t *testing.T) {
	served, err := Serve(Options{Workers: 1}, ServeOptions{GraceTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(served.Stop) // when the test fails first; Stop is idempotent
	cluster := hv.NewClusterServiceClient(served.Conn())
	info, err := cluster.GetClusterInfo(ctxT(t), &emptypb.Empty{})
	if err != nil || info.TotalNodes != 1 {
		t.Fatalf("GetClusterInfo = %v, %v", info, err)
	}
	w, err := cluster.WatchNodes(ctxT(t), &hv.WatchNodesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Header(); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan struct{})
	go func() { defer close(stopped); served.Stop() }()
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("Stop waited on an open watch stream; it must end the fake's streams first")
	}
	_, err = w.Recv()
	if c := status.Code(err); c != codes.Unavailable {
		t.Fatalf("watch after Stop: %v; want Unavailable", err)
	}
	if served.Err() != nil {
		t.Fatalf("Err after Stop = %v, want nil", served.Err())
	}
	served.Stop() // a second Stop is a no-op
}

func TestNodeImageAndNetworkCountsAreBounded(t *testing.T) {
	f := newNetFixtureWith(t, Options{Limits: Limits{MaxNodes: 1, MaxImages: 6, MaxNetworkObjects: 2}})
	f.node(t, "10.0.0.1")
	_, err := f.cluster.RegisterNode(ctx, &hv.RegisterNodeRequest{Hostname: "second", Ip: "10.0.0.2", Port: 7000, Role: hv.NodeRole_NODE_ROLE_WORKER})
	wantCode(t, err, codes.ResourceExhausted, "a second node with MaxNodes 1")

	pull := func(ref string) error {
		s, err := f.compute.PullImage(ctx, &hv.PullImageRequest{ImageRef: ref, Type: hv.InstanceType_INSTANCE_TYPE_VM})
		if err != nil {
			return err
		}
		for {
			if _, err := s.Recv(); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
		}
	}
	if err := pull("registry.example/one:1"); err != nil { // the 6th image: 5 are built in
		t.Fatal(err)
	}
	wantCode(t, pull("registry.example/two:1"), codes.ResourceExhausted, "a 7th image with MaxImages 6")

	f.network(t, &hv.CreateNetworkRequest{Name: "n1"})
	f.network(t, &hv.CreateNetworkRequest{Name: "n2"})
	_, err = f.net.CreateNetwork(ctx, &hv.CreateNetworkRequest{Name: "n3", Type: hv.NetworkType_NETWORK_TYPE_FLAT})
	wantCode(t, err, codes.ResourceExhausted, "a third network with MaxNetworkObjects 2")
}

func TestNodeReportsAreBounded(t *testing.T) {
	e := newEnv(t, Options{}, nil)
	id := e.register(t, workerReq("w1"))
	for what, conds := range map[string][]*hv.NodeCondition{
		"a 70 KB type":      {{Type: strings.Repeat("t", 70<<10), Status: "True"}},
		"a NUL in a reason": {{Type: "Disk", Status: "True", Reason: "a\x00b"}},
		"a 2 KB message":    {{Type: "Disk", Status: "True", Message: strings.Repeat("m", 2048)}},
	} {
		_, err := e.cluster.Heartbeat(ctxT(t), &hv.HeartbeatRequest{NodeId: id, Conditions: conds})
		wantShortError(t, err, codes.InvalidArgument, "Heartbeat with "+what)
	}
	// Distinct condition types accumulate on the node only up to a bound.
	for i := range 40 {
		c := &hv.NodeCondition{Type: "T" + strings.Repeat("x", i), Status: "True"}
		_, err := e.cluster.UpdateNodeStatus(ctxT(t), &hv.UpdateNodeStatusRequest{NodeId: id, Conditions: []*hv.NodeCondition{c}})
		if err != nil {
			wantCode(t, err, codes.InvalidArgument, "one condition type too many")
			return
		}
	}
	t.Fatal("a node took 40 distinct condition types")
}

// TestServeOnABufnetListener: a fake served on a caller's bufnet listener
// is reached through its own Conn (it dials the listener's address).
func TestServeOnABufnetListener(t *testing.T) {
	bn := transport.NewBufnet()
	lis, addr, err := bn.Listen("hypervisor")
	if err != nil {
		t.Fatal(err)
	}
	served, err := Serve(Options{Workers: 1}, ServeOptions{Listener: lis, DialOptions: bn.DialOptions()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(served.Stop)
	if served.Addr() != addr {
		t.Errorf("Addr %q, want the listener's %q", served.Addr(), addr)
	}
	info, err := hv.NewClusterServiceClient(served.Conn()).GetClusterInfo(ctxT(t), &emptypb.Empty{})
	if err != nil || info.TotalNodes != 1 {
		t.Fatalf("GetClusterInfo = %v, %v", info, err)
	}
}
