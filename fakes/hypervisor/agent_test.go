package hypervisor

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/emptypb"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

func agentReq(id string) *hv.AgentCreateInstanceRequest {
	return &hv.AgentCreateInstanceRequest{
		InstanceId: id, Type: hv.InstanceType_INSTANCE_TYPE_VM,
		Spec:   &hv.InstanceSpec{Image: "debian:12", CpuCores: 1, MemoryBytes: gib},
		Labels: map[string]string{"owner": "agent"},
	}
}

func TestAgentSharesStateWithCompute(t *testing.T) {
	e := newEnv(t, Options{}, nil)
	in, err := e.agent.CreateInstance(ctxT(t), agentReq("vm-7"))
	if err != nil {
		t.Fatal(err)
	}
	if in.Id != "vm-7" || in.Name != "vm-7" || in.NodeId != "" || in.Metadata.Labels["owner"] != "agent" {
		t.Fatalf("agent create = %v", in)
	}
	got, err := e.compute.GetInstance(ctxT(t), &hv.GetInstanceRequest{InstanceId: "vm-7"})
	if err != nil || got.State != hv.InstanceState_INSTANCE_STATE_STOPPED {
		t.Fatalf("compute sees %v, %v", got, err)
	}
	if _, err := e.agent.StartInstance(ctxT(t), &hv.AgentInstanceRequest{InstanceId: "vm-7"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.agent.RestartInstance(ctxT(t), &hv.AgentRestartInstanceRequest{InstanceId: "vm-7", Force: true}); err != nil {
		t.Fatal(err)
	}
	if st, err := e.agent.GetInstanceStats(ctxT(t), &hv.AgentInstanceRequest{InstanceId: "vm-7"}); err != nil || st.InstanceId != "vm-7" {
		t.Fatalf("stats %v %v", st, err)
	}
	if _, err := e.agent.StopInstance(ctxT(t), &hv.AgentStopInstanceRequest{InstanceId: "vm-7", Force: true}); err != nil {
		t.Fatal(err)
	}
	list, err := e.agent.ListInstances(ctxT(t), &emptypb.Empty{})
	if err != nil || len(list.Instances) != 1 {
		t.Fatalf("agent list %v %v", list, err)
	}
	if _, err := e.agent.DeleteInstance(ctxT(t), &hv.AgentDeleteInstanceRequest{InstanceId: "vm-7"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.agent.GetInstance(ctxT(t), &hv.AgentInstanceRequest{InstanceId: "vm-7"})
	wantCode(t, err, codes.NotFound, "agent get deleted")
}

func TestAgentCreateValidationAndPlacement(t *testing.T) {
	e := newEnv(t, Options{AgentNodeID: "node-missing"}, nil)
	_, err := e.agent.CreateInstance(ctxT(t), agentReq("a1"))
	wantCode(t, err, codes.FailedPrecondition, "agent node not registered")

	// Ids are deterministic from the seed: learn the node id, then start an
	// agent bound to it. It places and accounts its instances on that node.
	nodeID := newEnv(t, Options{Seed: 5}, nil).register(t, workerReq("w1"))
	e2 := newEnv(t, Options{Seed: 5, AgentNodeID: nodeID}, nil)
	if got := e2.register(t, workerReq("w1")); got != nodeID {
		t.Fatalf("same seed gave node %s, then %s", nodeID, got)
	}
	in, err := e2.agent.CreateInstance(ctxT(t), agentReq("a1"))
	if err != nil || in.NodeId != nodeID {
		t.Fatalf("agent create on node: %v %v", in, err)
	}
	n, _ := e2.cluster.GetNode(ctxT(t), &hv.GetNodeRequest{NodeId: nodeID})
	if n.Allocated.CpuCores != 1 {
		t.Fatalf("node allocated %v", n.Allocated)
	}
	tests := []struct {
		name   string
		mutate func(*hv.AgentCreateInstanceRequest)
		code   codes.Code
	}{
		{"no id", func(r *hv.AgentCreateInstanceRequest) { r.InstanceId = "" }, codes.InvalidArgument},
		{"bad id", func(r *hv.AgentCreateInstanceRequest) { r.InstanceId = "a/b" }, codes.InvalidArgument},
		{"bad name", func(r *hv.AgentCreateInstanceRequest) { r.Name = "UPPER" }, codes.InvalidArgument},
		{"no spec", func(r *hv.AgentCreateInstanceRequest) { r.Spec = nil }, codes.InvalidArgument},
		{"no type", func(r *hv.AgentCreateInstanceRequest) { r.Type = 0 }, codes.InvalidArgument},
		{"duplicate id", func(r *hv.AgentCreateInstanceRequest) { r.InstanceId = "a1"; r.Name = "other" }, codes.AlreadyExists},
		{"too big", func(r *hv.AgentCreateInstanceRequest) { r.Spec.CpuCores = 100 }, codes.ResourceExhausted},
	}
	for _, tc := range tests {
		req := agentReq("a2")
		tc.mutate(req)
		_, err := e2.agent.CreateInstance(ctxT(t), req)
		wantCode(t, err, tc.code, tc.name)
	}
}
