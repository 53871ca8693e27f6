package hypervisor

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

func TestRegisterNodeValidation(t *testing.T) {
	e := newEnv(t, Options{}, nil)
	e.register(t, workerReq("taken"))
	tests := []struct {
		name   string
		mutate func(*hv.RegisterNodeRequest)
		code   codes.Code
	}{
		{"empty hostname", func(r *hv.RegisterNodeRequest) { r.Hostname = "" }, codes.InvalidArgument},
		{"bad hostname", func(r *hv.RegisterNodeRequest) { r.Hostname = "Bad_Host" }, codes.InvalidArgument},
		{"bad ip", func(r *hv.RegisterNodeRequest) { r.Ip = "10.0.0.300" }, codes.InvalidArgument},
		{"port 0", func(r *hv.RegisterNodeRequest) { r.Port = 0 }, codes.InvalidArgument},
		{"port too big", func(r *hv.RegisterNodeRequest) { r.Port = 70000 }, codes.InvalidArgument},
		{"no role", func(r *hv.RegisterNodeRequest) { r.Role = 0 }, codes.InvalidArgument},
		{"unknown role", func(r *hv.RegisterNodeRequest) { r.Role = 9 }, codes.InvalidArgument},
		{"negative capacity", func(r *hv.RegisterNodeRequest) { r.Capacity.CpuCores = -1 }, codes.InvalidArgument},
		{"unknown type", func(r *hv.RegisterNodeRequest) { r.SupportedInstanceTypes = []string{"BAREMETAL"} }, codes.InvalidArgument},
		{"bad label", func(r *hv.RegisterNodeRequest) {
			r.Metadata = &hv.Metadata{Labels: map[string]string{"bad key!": "v"}}
		}, codes.InvalidArgument},
		{"duplicate hostname", func(r *hv.RegisterNodeRequest) { r.Hostname = "taken" }, codes.AlreadyExists},
		{"ok ipv6 master", func(r *hv.RegisterNodeRequest) {
			r.Ip = "::1"
			r.Role = hv.NodeRole_NODE_ROLE_MASTER
		}, codes.OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := workerReq("node-" + string(rune('a'+len(tc.name)%26)))
			tc.mutate(req)
			_, err := e.cluster.RegisterNode(ctxT(t), req)
			wantCode(t, err, tc.code, tc.name)
		})
	}
	info, err := e.cluster.GetClusterInfo(ctxT(t), &emptypb.Empty{})
	if err != nil || info.TotalNodes != 2 {
		t.Fatalf("after validation table: %v nodes, err %v; want 2 (bad input must not add state)", info.GetTotalNodes(), err)
	}
}

func TestRegisterNodeResponse(t *testing.T) {
	e := newEnv(t, Options{LeaseTTL: 20 * time.Second, HeartbeatInterval: 5 * time.Second}, nil)
	resp, err := e.cluster.RegisterNode(ctxT(t), workerReq("w1"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.NodeId == "" || resp.HeartbeatIntervalSeconds != 5 || resp.LeaseTtlSeconds != 20 {
		t.Fatalf("RegisterNode = %v", resp)
	}
	n, err := e.cluster.GetNode(ctxT(t), &hv.GetNodeRequest{NodeId: resp.NodeId})
	if err != nil {
		t.Fatal(err)
	}
	if n.Status != hv.NodeStatus_NODE_STATUS_READY || !proto.Equal(n.Allocatable, n.Capacity) || !n.CreatedAt.AsTime().Equal(epoch) {
		t.Fatalf("new node = %v", n)
	}
}

func TestIDsDeterministicFromSeed(t *testing.T) {
	ids := func(seed int64) string {
		e := newEnv(t, Options{Seed: seed}, nil)
		return e.register(t, workerReq("w1"))
	}
	if a, b, c := ids(7), ids(7), ids(8); a != b || a == c {
		t.Fatalf("seed 7 gave %s and %s, seed 8 gave %s", a, b, c)
	}
}

func nodeStatus(t *testing.T, e *env, id string) (hv.NodeStatus, codes.Code) {
	t.Helper()
	n, err := e.cluster.GetNode(ctxT(t), &hv.GetNodeRequest{NodeId: id})
	if err != nil {
		return 0, codes.NotFound
	}
	return n.Status, codes.OK
}

func TestLeaseLifecycle(t *testing.T) {
	e := newEnv(t, Options{LeaseTTL: 30 * time.Second, NodeGracePeriod: 60 * time.Second}, nil)
	id := e.register(t, workerReq("w1"))
	inst := e.create(t, vmReq("guest1"))
	heartbeat := func() {
		t.Helper()
		resp, err := e.cluster.Heartbeat(ctxT(t), &hv.HeartbeatRequest{NodeId: id})
		if err != nil || !resp.Accepted {
			t.Fatalf("Heartbeat: %v %v", resp, err)
		}
	}
	steps := []struct {
		do   func()
		want hv.NodeStatus
		code codes.Code
	}{
		{func() { e.clock.Advance(29 * time.Second) }, hv.NodeStatus_NODE_STATUS_READY, codes.OK},
		{heartbeat, hv.NodeStatus_NODE_STATUS_READY, codes.OK},
		{func() { e.clock.Advance(29 * time.Second) }, hv.NodeStatus_NODE_STATUS_READY, codes.OK}, // renewed
		{func() { e.clock.Advance(2 * time.Second) }, hv.NodeStatus_NODE_STATUS_NOT_READY, codes.OK},
		{heartbeat, hv.NodeStatus_NODE_STATUS_READY, codes.OK},                                        // back before grace ends
		{func() { e.clock.Advance(31 * time.Second) }, hv.NodeStatus_NODE_STATUS_NOT_READY, codes.OK}, // lapsed 1s ago
		{func() { e.clock.Advance(58 * time.Second) }, hv.NodeStatus_NODE_STATUS_NOT_READY, codes.OK}, // grace ends in 1s
		{func() { e.clock.Advance(2 * time.Second) }, 0, codes.NotFound},                              // removed
	}
	for i, st := range steps {
		st.do()
		got, code := nodeStatus(t, e, id)
		if got != st.want || code != st.code {
			t.Fatalf("step %d: status %v (%v), want %v (%v)", i, got, code, st.want, st.code)
		}
	}
	_, err := e.cluster.Heartbeat(ctxT(t), &hv.HeartbeatRequest{NodeId: id})
	wantCode(t, err, codes.NotFound, "heartbeat after removal")
	got, err := e.compute.GetInstance(ctxT(t), &hv.GetInstanceRequest{InstanceId: inst.Id})
	if err != nil || got.State != hv.InstanceState_INSTANCE_STATE_FAILED || got.StateReason == "" {
		t.Fatalf("instance on removed node = %v, %v; want FAILED with a reason", got, err)
	}
	if e.clock.Pending() != 0 {
		t.Fatalf("%d timers still pending after the node is gone", e.clock.Pending())
	}
}

func TestHeartbeatAndUpdateNodeStatus(t *testing.T) {
	e := newEnv(t, Options{}, nil)
	id := e.register(t, workerReq("w1"))
	alloc := &hv.Resources{CpuCores: 3, MemoryBytes: gib}
	cond := &hv.NodeCondition{Type: "DiskPressure", Status: "True"}
	e.clock.Advance(5 * time.Second)
	if _, err := e.cluster.Heartbeat(ctxT(t), &hv.HeartbeatRequest{NodeId: id, Allocated: alloc, Conditions: []*hv.NodeCondition{cond}}); err != nil {
		t.Fatal(err)
	}
	n, _ := e.cluster.GetNode(ctxT(t), &hv.GetNodeRequest{NodeId: id})
	// The reported allocation is not stored: nothing runs on w1.
	if !proto.Equal(n.Allocated, &hv.Resources{}) || !n.LastSeen.AsTime().Equal(epoch.Add(5*time.Second)) || len(n.Conditions) != 2 {
		t.Fatalf("after heartbeat: %v", n)
	}
	n, err := e.cluster.UpdateNodeStatus(ctxT(t), &hv.UpdateNodeStatusRequest{NodeId: id, Status: hv.NodeStatus_NODE_STATUS_DRAINING})
	if err != nil || n.Status != hv.NodeStatus_NODE_STATUS_DRAINING {
		t.Fatalf("UpdateNodeStatus = %v, %v", n, err)
	}
	// A draining node takes no new instances.
	_, err = e.compute.CreateInstance(ctxT(t), vmReq("g1"))
	wantCode(t, err, codes.ResourceExhausted, "create on draining cluster")

	bad := []struct {
		name string
		call func() error
		code codes.Code
	}{
		{"update unknown node", func() error {
			_, err := e.cluster.UpdateNodeStatus(ctxT(t), &hv.UpdateNodeStatusRequest{NodeId: "nope"})
			return err
		}, codes.NotFound},
		{"update no id", func() error {
			_, err := e.cluster.UpdateNodeStatus(ctxT(t), &hv.UpdateNodeStatusRequest{})
			return err
		}, codes.InvalidArgument},
		{"update bad status", func() error {
			_, err := e.cluster.UpdateNodeStatus(ctxT(t), &hv.UpdateNodeStatusRequest{NodeId: id, Status: 42})
			return err
		}, codes.InvalidArgument},
		{"heartbeat negative allocated", func() error {
			_, err := e.cluster.Heartbeat(ctxT(t), &hv.HeartbeatRequest{NodeId: id, Allocated: &hv.Resources{CpuCores: -1}})
			return err
		}, codes.InvalidArgument},
		{"deregister unknown", func() error {
			_, err := e.cluster.DeregisterNode(ctxT(t), &hv.DeregisterNodeRequest{NodeId: "nope"})
			return err
		}, codes.NotFound},
		{"get unknown", func() error {
			_, err := e.cluster.GetNode(ctxT(t), &hv.GetNodeRequest{NodeId: "nope"})
			return err
		}, codes.NotFound},
	}
	for _, tc := range bad {
		wantCode(t, tc.call(), tc.code, tc.name)
	}
	if _, err := e.cluster.DeregisterNode(ctxT(t), &hv.DeregisterNodeRequest{NodeId: id}); err != nil {
		t.Fatal(err)
	}
	_, code := nodeStatus(t, e, id)
	if code != codes.NotFound {
		t.Fatalf("deregistered node still found")
	}
}

func TestListNodesAndClusterInfo(t *testing.T) {
	e := newEnv(t, Options{ClusterName: "lab"}, nil)
	var ids []string
	for i := range 25 {
		req := workerReq("w" + string(rune('a'+i)))
		if i%5 == 0 {
			req.Role = hv.NodeRole_NODE_ROLE_MASTER
		}
		if i%2 == 0 {
			req.Zone = "z2"
		}
		req.Metadata = &hv.Metadata{Labels: map[string]string{"rack": string(rune('0' + i%3))}}
		ids = append(ids, e.register(t, req))
	}
	_, err := e.cluster.UpdateNodeStatus(ctxT(t), &hv.UpdateNodeStatusRequest{NodeId: ids[1], Status: hv.NodeStatus_NODE_STATUS_MAINTENANCE})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  *hv.ListNodesRequest
		want int
	}{
		{"all", &hv.ListNodesRequest{}, 25},
		{"masters", &hv.ListNodesRequest{Role: hv.NodeRole_NODE_ROLE_MASTER}, 5},
		{"zone z2", &hv.ListNodesRequest{Zone: "z2"}, 13},
		{"region r1", &hv.ListNodesRequest{Region: "r1"}, 25},
		{"region none", &hv.ListNodesRequest{Region: "r9"}, 0},
		{"maintenance", &hv.ListNodesRequest{Status: hv.NodeStatus_NODE_STATUS_MAINTENANCE}, 1},
		{"rack 0", &hv.ListNodesRequest{LabelSelector: map[string]string{"rack": "0"}}, 9},
		{"rack 0 workers z2", &hv.ListNodesRequest{Role: hv.NodeRole_NODE_ROLE_WORKER, Zone: "z2", LabelSelector: map[string]string{"rack": "0"}}, 4},
	}
	for _, tc := range tests {
		var got []string
		tok := ""
		for {
			tc.req.PageSize, tc.req.PageToken = 4, tok
			resp, err := e.cluster.ListNodes(ctxT(t), tc.req)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if int(resp.TotalCount) != tc.want || len(resp.Nodes) > 4 {
				t.Fatalf("%s: total %d, page %d; want total %d", tc.name, resp.TotalCount, len(resp.Nodes), tc.want)
			}
			for _, n := range resp.Nodes {
				got = append(got, n.Id)
			}
			if tok = resp.NextPageToken; tok == "" {
				break
			}
		}
		if len(got) != tc.want {
			t.Fatalf("%s: walked %d nodes, want %d", tc.name, len(got), tc.want)
		}
	}
	resp, _ := e.cluster.ListNodes(ctxT(t), &hv.ListNodesRequest{})
	if len(resp.Nodes) != 20 || resp.Nodes[0].Id != ids[0] || resp.Nodes[19].Id != ids[19] {
		t.Fatalf("default page: %d nodes, not in registration order", len(resp.Nodes))
	}
	_, err = e.cluster.ListNodes(ctxT(t), &hv.ListNodesRequest{PageToken: "garbage!"})
	wantCode(t, err, codes.InvalidArgument, "malformed token")
	_, err = e.cluster.ListNodes(ctxT(t), &hv.ListNodesRequest{PageSize: -1})
	wantCode(t, err, codes.InvalidArgument, "negative page size")

	e.create(t, vmReq("g1"))
	info, err := e.cluster.GetClusterInfo(ctxT(t), &emptypb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if info.ClusterName != "lab" || info.ClusterId == "" || info.Version == "" || info.TotalNodes != 25 || info.ReadyNodes != 24 ||
		info.TotalCapacity.CpuCores != 25*8 || info.TotalAllocated.CpuCores != 2 || info.TotalAllocated.MemoryBytes != 2*gib {
		t.Fatalf("ClusterInfo = %v", info)
	}
}

func TestHooksForNetworkAndStorage(t *testing.T) {
	e := newEnv(t, Options{}, nil)
	id := e.register(t, workerReq("w1"))
	in := e.create(t, vmReq("g1"))
	if !e.srv.lookupNode(id) || e.srv.lookupNode("nope") {
		t.Fatal("lookupNode wrong")
	}
	node, st, ok := e.srv.lookupInstance(in.Id)
	if !ok || node != id || st != hv.InstanceState_INSTANCE_STATE_STOPPED {
		t.Fatalf("lookupInstance = %s %v %v", node, st, ok)
	}
	if _, _, ok := e.srv.lookupInstance("nope"); ok {
		t.Fatal("lookupInstance found an unknown id")
	}
	if !e.srv.now().Equal(epoch) {
		t.Fatalf("now = %v, want the manual clock's %v", e.srv.now(), epoch)
	}
}

func recvNodeEvent(t *testing.T, s interface {
	Recv() (*hv.NodeEvent, error)
}) *hv.NodeEvent {
	t.Helper()
	ev, err := s.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	return ev
}

func TestWatchNodes(t *testing.T) {
	// Fixed flow-control windows (no BDP growth) so an unread stream backs up
	// into the server's per-watcher buffer after a bounded number of events.
	e := newEnv(t, Options{WatchBuffer: 8}, nil, grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	z2, err := e.cluster.WatchNodes(ctx, &hv.WatchNodesRequest{Zone: "z2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := z2.Header(); err != nil { // the watch is registered
		t.Fatal(err)
	}
	slow, err := e.cluster.WatchNodes(ctx, &hv.WatchNodesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := slow.Header(); err != nil {
		t.Fatal(err)
	}
	e.register(t, workerReq("other")) // zone z1: filtered out of z2
	req := workerReq("w2")
	req.Zone = "z2"
	id := e.register(t, req)
	if _, err := e.cluster.Heartbeat(ctxT(t), &hv.HeartbeatRequest{NodeId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cluster.DeregisterNode(ctxT(t), &hv.DeregisterNodeRequest{NodeId: id}); err != nil {
		t.Fatal(err)
	}
	want := []hv.EventType{hv.EventType_EVENT_TYPE_ADDED, hv.EventType_EVENT_TYPE_MODIFIED, hv.EventType_EVENT_TYPE_DELETED}
	for i, w := range want {
		ev := recvNodeEvent(t, z2)
		if ev.Type != w || ev.Node.Id != id {
			t.Fatalf("z2 event %d = %v %s, want %v %s", i, ev.Type, ev.Node.Id, w, id)
		}
	}
	// The unfiltered watcher never reads: once the transport's window and
	// its buffer of 8 are full it is dropped with ResourceExhausted, while
	// the z2 watcher (filtered, reading) is unaffected.
	other := e.register(t, workerReq("busy"))
	for range 2000 {
		if _, err := e.cluster.Heartbeat(ctxT(t), &hv.HeartbeatRequest{NodeId: other}); err != nil {
			t.Fatal(err)
		}
	}
	for {
		if _, err := slow.Recv(); err != nil {
			wantCode(t, err, codes.ResourceExhausted, "overflowed watcher")
			break
		}
	}
	req = workerReq("w3")
	req.Zone = "z2"
	id3 := e.register(t, req)
	if ev := recvNodeEvent(t, z2); ev.Node.Id != id3 {
		t.Fatalf("z2 watcher after another overflowed: %v", ev)
	}
	cancel()
	_, err = z2.Recv()
	wantCode(t, err, codes.Canceled, "Recv after cancel")
}
