package hypervisor

import (
	"context"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

func TestCreateInstanceValidationAndScheduling(t *testing.T) {
	e := newEnv(t, Options{}, nil)
	w1 := e.register(t, workerReq("w1"))
	master := workerReq("m1")
	master.Role = hv.NodeRole_NODE_ROLE_MASTER
	m1 := e.register(t, master)
	micro := workerReq("fc1")
	micro.SupportedInstanceTypes = []string{"microvm"}
	micro.Region = "r2"
	fc1 := e.register(t, micro)
	e.create(t, vmReq("taken"))
	tests := []struct {
		name   string
		mutate func(*hv.CreateInstanceRequest)
		code   codes.Code
	}{
		{"no name", func(r *hv.CreateInstanceRequest) { r.Name = "" }, codes.InvalidArgument},
		{"bad name", func(r *hv.CreateInstanceRequest) { r.Name = "Not_A_Label" }, codes.InvalidArgument},
		{"no type", func(r *hv.CreateInstanceRequest) { r.Type = 0 }, codes.InvalidArgument},
		{"no spec", func(r *hv.CreateInstanceRequest) { r.Spec = nil }, codes.InvalidArgument},
		{"no image", func(r *hv.CreateInstanceRequest) { r.Spec.Image = "" }, codes.InvalidArgument},
		{"zero cpu", func(r *hv.CreateInstanceRequest) { r.Spec.CpuCores = 0 }, codes.InvalidArgument},
		{"negative memory", func(r *hv.CreateInstanceRequest) { r.Spec.MemoryBytes = -1 }, codes.InvalidArgument},
		{"image of other type", func(r *hv.CreateInstanceRequest) { r.Spec.Image = "alpine:3.20" }, codes.InvalidArgument},
		{"duplicate name", func(r *hv.CreateInstanceRequest) { r.Name = "taken" }, codes.AlreadyExists},
		{"too big everywhere", func(r *hv.CreateInstanceRequest) { r.Spec.CpuCores = 64 }, codes.ResourceExhausted},
		{"no node in region", func(r *hv.CreateInstanceRequest) { r.Region = "r9" }, codes.ResourceExhausted},
		{"preferred unknown", func(r *hv.CreateInstanceRequest) { r.PreferredNodeId = "nope" }, codes.NotFound},
		{"preferred master", func(r *hv.CreateInstanceRequest) { r.PreferredNodeId = m1 }, codes.FailedPrecondition},
		{"preferred wrong type", func(r *hv.CreateInstanceRequest) { r.PreferredNodeId = fc1 }, codes.FailedPrecondition},
		{"preferred too small", func(r *hv.CreateInstanceRequest) { r.PreferredNodeId = w1; r.Spec.MemoryBytes = 15 * gib }, codes.ResourceExhausted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := vmReq("fresh")
			tc.mutate(req)
			_, err := e.compute.CreateInstance(ctxT(t), req)
			wantCode(t, err, tc.code, tc.name)
		})
	}
	// The microvm node takes a microvm in r2; the VM node has 2 cores in use.
	req := vmReq("fc")
	req.Type, req.Spec.Image, req.Region = hv.InstanceType_INSTANCE_TYPE_MICROVM, "firecracker-minimal", "r2"
	if in := e.create(t, req); in.NodeId != fc1 {
		t.Fatalf("microvm placed on %s, want %s", in.NodeId, fc1)
	}
	n, _ := e.cluster.GetNode(ctxT(t), &hv.GetNodeRequest{NodeId: w1})
	if n.Allocated.CpuCores != 2 || n.Allocated.MemoryBytes != 2*gib {
		t.Fatalf("w1 allocated %v after failed creates; want only the one instance", n.Allocated)
	}
}

func TestInstanceLifecycle(t *testing.T) {
	e := newEnv(t, Options{}, nil)
	w1 := e.register(t, workerReq("w1"))
	in := e.create(t, vmReq("g1"))
	if in.State != hv.InstanceState_INSTANCE_STATE_STOPPED || in.NodeId != w1 || in.IpAddress == "" {
		t.Fatalf("created = %v", in)
	}
	id := in.Id
	ctx := ctxT(t)
	start := func() error {
		_, err := e.compute.StartInstance(ctx, &hv.StartInstanceRequest{InstanceId: id})
		return err
	}
	stop := func(force bool) error {
		_, err := e.compute.StopInstance(ctx, &hv.StopInstanceRequest{InstanceId: id, Force: force, TimeoutSeconds: 5})
		return err
	}
	restart := func() error {
		_, err := e.compute.RestartInstance(ctx, &hv.RestartInstanceRequest{InstanceId: id})
		return err
	}
	del := func(force bool) error {
		_, err := e.compute.DeleteInstance(ctx, &hv.DeleteInstanceRequest{InstanceId: id, Force: force})
		return err
	}
	steps := []struct {
		name string
		call func() error
		code codes.Code
		want hv.InstanceState
	}{
		{"stop stopped", func() error { return stop(false) }, codes.FailedPrecondition, hv.InstanceState_INSTANCE_STATE_STOPPED},
		{"restart stopped", restart, codes.FailedPrecondition, hv.InstanceState_INSTANCE_STATE_STOPPED},
		{"start", start, codes.OK, hv.InstanceState_INSTANCE_STATE_RUNNING},
		{"start running", start, codes.FailedPrecondition, hv.InstanceState_INSTANCE_STATE_RUNNING},
		{"restart", restart, codes.OK, hv.InstanceState_INSTANCE_STATE_RUNNING},
		{"delete running", func() error { return del(false) }, codes.FailedPrecondition, hv.InstanceState_INSTANCE_STATE_RUNNING},
		{"negative timeout", func() error {
			_, err := e.compute.StopInstance(ctx, &hv.StopInstanceRequest{InstanceId: id, TimeoutSeconds: -1})
			return err
		}, codes.InvalidArgument, hv.InstanceState_INSTANCE_STATE_RUNNING},
		{"graceful stop", func() error { return stop(false) }, codes.OK, hv.InstanceState_INSTANCE_STATE_STOPPED},
		{"start again", start, codes.OK, hv.InstanceState_INSTANCE_STATE_RUNNING},
		{"force stop", func() error { return stop(true) }, codes.OK, hv.InstanceState_INSTANCE_STATE_STOPPED},
	}
	for _, st := range steps {
		wantCode(t, st.call(), st.code, st.name)
		got, err := e.compute.GetInstance(ctx, &hv.GetInstanceRequest{InstanceId: id})
		if err != nil || got.State != st.want {
			t.Fatalf("%s: state %v (%v), want %v", st.name, got.GetState(), err, st.want)
		}
	}
	if err := start(); err != nil {
		t.Fatal(err)
	}
	if err := del(true); err != nil {
		t.Fatalf("force delete running: %v", err)
	}
	_, err := e.compute.GetInstance(ctx, &hv.GetInstanceRequest{InstanceId: id})
	wantCode(t, err, codes.NotFound, "get deleted")
	wantCode(t, del(false), codes.NotFound, "delete twice")
	_, err = e.compute.GetInstance(ctx, &hv.GetInstanceRequest{})
	wantCode(t, err, codes.InvalidArgument, "get without id")
	n, _ := e.cluster.GetNode(ctx, &hv.GetNodeRequest{NodeId: w1})
	if !proto.Equal(n.Allocated, &hv.Resources{}) {
		t.Fatalf("allocated after delete = %v, want zero", n.Allocated)
	}
	// The name is free again.
	e.create(t, vmReq("g1"))
}

func TestProvisioningOnTheClockAndUnknownImage(t *testing.T) {
	e := newEnv(t, Options{ProvisionDelay: 10 * time.Second}, nil)
	e.register(t, workerReq("w1"))
	in := e.create(t, vmReq("slow"))
	bad := vmReq("badimg")
	bad.Spec.Image = "nosuch:1"
	badIn := e.create(t, bad)
	state := func(id string) *hv.Instance {
		got, err := e.compute.GetInstance(ctxT(t), &hv.GetInstanceRequest{InstanceId: id})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if in.State != hv.InstanceState_INSTANCE_STATE_PENDING {
		t.Fatalf("created = %v, want PENDING", in.State)
	}
	_, err := e.compute.StartInstance(ctxT(t), &hv.StartInstanceRequest{InstanceId: in.Id})
	wantCode(t, err, codes.FailedPrecondition, "start while PENDING")
	e.clock.Advance(5 * time.Second)
	if got := state(in.Id).State; got != hv.InstanceState_INSTANCE_STATE_CREATING {
		t.Fatalf("after 5s: %v, want CREATING", got)
	}
	e.clock.Advance(5 * time.Second)
	if got := state(in.Id).State; got != hv.InstanceState_INSTANCE_STATE_STOPPED {
		t.Fatalf("after 10s: %v, want STOPPED", got)
	}
	if got := state(badIn.Id); got.State != hv.InstanceState_INSTANCE_STATE_FAILED || got.StateReason == "" {
		t.Fatalf("unknown image: %v, want FAILED with a reason", got)
	}
	n, _ := e.cluster.ListNodes(ctxT(t), &hv.ListNodesRequest{})
	if n.Nodes[0].Allocated.CpuCores != 2 {
		t.Fatalf("allocated %v: the FAILED instance must have released its cores", n.Nodes[0].Allocated)
	}
}

func TestWatchInstance(t *testing.T) {
	e := newEnv(t, Options{ProvisionDelay: 2 * time.Second}, nil)
	e.register(t, workerReq("w1"))
	in := e.create(t, vmReq("watched"))
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	stream, err := e.compute.WatchInstance(ctx, &hv.WatchInstanceRequest{InstanceId: in.Id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Second)
	if _, err := e.compute.StartInstance(ctx, &hv.StartInstanceRequest{InstanceId: in.Id}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.compute.DeleteInstance(ctx, &hv.DeleteInstanceRequest{InstanceId: in.Id, Force: true}); err != nil {
		t.Fatal(err)
	}
	type step struct {
		ev hv.EventType
		st hv.InstanceState
	}
	want := []step{
		{hv.EventType_EVENT_TYPE_ADDED, hv.InstanceState_INSTANCE_STATE_PENDING},
		{hv.EventType_EVENT_TYPE_MODIFIED, hv.InstanceState_INSTANCE_STATE_CREATING},
		{hv.EventType_EVENT_TYPE_MODIFIED, hv.InstanceState_INSTANCE_STATE_STOPPED},
		{hv.EventType_EVENT_TYPE_MODIFIED, hv.InstanceState_INSTANCE_STATE_RUNNING},
		{hv.EventType_EVENT_TYPE_MODIFIED, hv.InstanceState_INSTANCE_STATE_DELETING},
		{hv.EventType_EVENT_TYPE_DELETED, hv.InstanceState_INSTANCE_STATE_DELETING},
	}
	for i, w := range want {
		ev, err := stream.Recv()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if ev.Type != w.ev || ev.Instance.State != w.st {
			t.Fatalf("event %d = %v %v, want %v %v", i, ev.Type, ev.Instance.State, w.ev, w.st)
		}
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("after DELETED: %v, want the stream to end", err)
	}
	_, err = e.compute.WatchInstance(ctx, &hv.WatchInstanceRequest{InstanceId: "nope"})
	if err == nil {
		s2, _ := e.compute.WatchInstance(ctx, &hv.WatchInstanceRequest{InstanceId: "nope"})
		_, err = s2.Recv()
	}
	wantCode(t, err, codes.NotFound, "watch unknown")
}

func TestInstanceStatsGrowWithUptime(t *testing.T) {
	e := newEnv(t, Options{}, nil)
	e.register(t, workerReq("w1"))
	in := e.create(t, vmReq("busy"))
	get := func() *hv.InstanceStats {
		st, err := e.compute.GetInstanceStats(ctxT(t), &hv.GetInstanceStatsRequest{InstanceId: in.Id})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := get(); st.CpuTimeNs != 0 || st.CpuUsagePercent != 0 {
		t.Fatalf("never-run stats = %v", st)
	}
	if _, err := e.compute.StartInstance(ctxT(t), &hv.StartInstanceRequest{InstanceId: in.Id}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Second)
	a := get()
	e.clock.Advance(10 * time.Second)
	b := get()
	if a.CpuUsagePercent <= 0 || b.CpuTimeNs <= a.CpuTimeNs || b.DiskReadBytes <= a.DiskReadBytes || b.NetworkRxBytes <= a.NetworkRxBytes || b.MemoryUsedBytes < a.MemoryUsedBytes {
		t.Fatalf("stats do not grow: %v then %v", a, b)
	}
	if a.CpuTimeNs != int64(10*time.Second)*2/4 {
		t.Fatalf("cpu time after 10s on 2 cores = %d, want %d", a.CpuTimeNs, int64(10*time.Second)/2)
	}
	if _, err := e.compute.StopInstance(ctxT(t), &hv.StopInstanceRequest{InstanceId: in.Id}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	c := get()
	if c.CpuTimeNs != b.CpuTimeNs || c.CpuUsagePercent != 0 || c.MemoryUsedBytes != 0 {
		t.Fatalf("stopped stats = %v; counters must hold and gauges be zero", c)
	}
	_, err := e.compute.GetInstanceStats(ctxT(t), &hv.GetInstanceStatsRequest{InstanceId: "nope"})
	wantCode(t, err, codes.NotFound, "stats unknown")
}

func TestListInstances(t *testing.T) {
	e := newEnv(t, Options{}, nil)
	big := workerReq("w1")
	big.Capacity.CpuCores, big.Capacity.MemoryBytes = 1000, 1000*gib
	w1 := e.register(t, big)
	var ids []string
	for i := range 30 {
		req := vmReq("g" + string(rune('a'+i/26)) + string(rune('a'+i%26)))
		req.Spec.CpuCores = 1
		if i%3 == 0 {
			req.Type, req.Spec.Image = hv.InstanceType_INSTANCE_TYPE_CONTAINER, "alpine"
		}
		req.Metadata = &hv.Metadata{Labels: map[string]string{"app": string(rune('x' + i%2))}}
		ids = append(ids, e.create(t, req).Id)
	}
	if _, err := e.compute.StartInstance(ctxT(t), &hv.StartInstanceRequest{InstanceId: ids[1]}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  *hv.ListInstancesRequest
		want int
	}{
		{"all", &hv.ListInstancesRequest{}, 30},
		{"containers", &hv.ListInstancesRequest{Type: hv.InstanceType_INSTANCE_TYPE_CONTAINER}, 10},
		{"running", &hv.ListInstancesRequest{State: hv.InstanceState_INSTANCE_STATE_RUNNING}, 1},
		{"on w1", &hv.ListInstancesRequest{NodeId: w1}, 30},
		{"on other", &hv.ListInstancesRequest{NodeId: "nope"}, 0},
		{"app x vms", &hv.ListInstancesRequest{Type: hv.InstanceType_INSTANCE_TYPE_VM, LabelSelector: map[string]string{"app": "x"}}, 10},
	}
	for _, tc := range tests {
		var got []string
		tok := ""
		for {
			tc.req.PageSize, tc.req.PageToken = 7, tok
			resp, err := e.compute.ListInstances(ctxT(t), tc.req)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if int(resp.TotalCount) != tc.want {
				t.Fatalf("%s: total %d, want %d", tc.name, resp.TotalCount, tc.want)
			}
			for _, in := range resp.Instances {
				got = append(got, in.Id)
			}
			if tok = resp.NextPageToken; tok == "" {
				break
			}
		}
		if len(got) != tc.want {
			t.Fatalf("%s: walked %d, want %d", tc.name, len(got), tc.want)
		}
	}
	resp, _ := e.compute.ListInstances(ctxT(t), &hv.ListInstancesRequest{PageSize: 1000})
	if len(resp.Instances) != 30 || resp.Instances[0].Id != ids[0] {
		t.Fatalf("page_size 1000 (clamped to 100): %d instances", len(resp.Instances))
	}
	for _, bad := range []*hv.ListInstancesRequest{{PageToken: "%%"}, {PageSize: -5}, {State: 77}, {Type: 9}} {
		_, err := e.compute.ListInstances(ctxT(t), bad)
		wantCode(t, err, codes.InvalidArgument, "bad list request")
	}
}

func TestImages(t *testing.T) {
	e := newEnv(t, Options{}, nil)
	list := func(typ hv.InstanceType) []*hv.Image {
		var out []*hv.Image
		tok := ""
		for {
			resp, err := e.compute.ListImages(ctxT(t), &hv.ListImagesRequest{Type: typ, PageSize: 2, PageToken: tok})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, resp.Images...)
			if tok = resp.NextPageToken; tok == "" {
				return out
			}
		}
	}
	if n := len(list(0)); n != len(catalogue) {
		t.Fatalf("catalogue has %d images, listed %d", len(catalogue), n)
	}
	if n := len(list(hv.InstanceType_INSTANCE_TYPE_CONTAINER)); n != 2 {
		t.Fatalf("%d container images, want 2", n)
	}
	stream, err := e.compute.PullImage(ctxT(t), &hv.PullImageRequest{ImageRef: "registry.local/team/redis:7.2", Type: hv.InstanceType_INSTANCE_TYPE_CONTAINER})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*hv.PullImageProgress
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	last := msgs[len(msgs)-1]
	if len(msgs) != pullSteps+2 || !last.Completed || last.Current != last.Total || last.Total <= 0 {
		t.Fatalf("pull progress = %v", msgs)
	}
	for i := 1; i < len(msgs); i++ {
		if msgs[i].Current < msgs[i-1].Current || msgs[i].Total != last.Total {
			t.Fatalf("progress not monotonic: %v", msgs)
		}
	}
	if n := len(list(hv.InstanceType_INSTANCE_TYPE_CONTAINER)); n != 3 {
		t.Fatalf("after pull: %d container images, want 3", n)
	}
	// The pulled image is usable.
	e.register(t, workerReq("w1"))
	req := vmReq("cache")
	req.Type, req.Spec.Image = hv.InstanceType_INSTANCE_TYPE_CONTAINER, "registry.local/team/redis:7.2"
	if in := e.create(t, req); in.State != hv.InstanceState_INSTANCE_STATE_STOPPED {
		t.Fatalf("instance of pulled image = %v", in.State)
	}
	for _, bad := range []*hv.PullImageRequest{
		{ImageRef: "", Type: 1}, {ImageRef: "UPPER/case", Type: 1}, {ImageRef: "a b", Type: 1}, {ImageRef: "x::y", Type: 1}, {ImageRef: "ok", Type: 0},
	} {
		s, err := e.compute.PullImage(ctxT(t), bad)
		if err == nil {
			_, err = s.Recv()
		}
		wantCode(t, err, codes.InvalidArgument, "pull "+bad.ImageRef)
	}
	_, err = e.compute.ListImages(ctxT(t), &hv.ListImagesRequest{PageToken: "bad"})
	wantCode(t, err, codes.InvalidArgument, "images bad token")
}
