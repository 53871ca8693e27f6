package hypervisor

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

func TestNodeAgent(t *testing.T) {
	defer goleak.VerifyNone(t)
	a, err := startNodeAgent("127.0.0.1:0", "192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	defer a.stop()
	if a.host != "192.0.2.7" || a.port == 0 {
		t.Fatalf("advertised %s:%d, want 192.0.2.7 and the listener's port", a.host, a.port)
	}
	cc, err := grpc.NewClient(a.lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := hv.NewAgentServiceClient(cc)
	code := func(err error) codes.Code { return status.Code(err) }

	if _, err := c.CreateInstance(ctx, &hv.AgentCreateInstanceRequest{InstanceId: "i-1"}); code(err) != codes.InvalidArgument {
		t.Errorf("CreateInstance without a spec: %v, want InvalidArgument", err)
	}
	inst, err := c.CreateInstance(ctx, &hv.AgentCreateInstanceRequest{InstanceId: "i-1", Spec: &hv.InstanceSpec{CpuCores: 1}})
	if err != nil || inst.GetState() != hv.InstanceState_INSTANCE_STATE_STOPPED || inst.GetName() != "i-1" {
		t.Fatalf("CreateInstance = %v, %v; want a STOPPED instance named i-1", inst, err)
	}
	if _, err := c.CreateInstance(ctx, &hv.AgentCreateInstanceRequest{InstanceId: "i-1", Spec: &hv.InstanceSpec{}}); code(err) != codes.AlreadyExists {
		t.Errorf("second CreateInstance: %v, want AlreadyExists", err)
	}
	if _, err := c.StopInstance(ctx, &hv.AgentStopInstanceRequest{InstanceId: "i-1"}); code(err) != codes.FailedPrecondition {
		t.Errorf("StopInstance of a STOPPED instance: %v, want FailedPrecondition", err)
	}
	for _, step := range []func() (*hv.Instance, error){
		func() (*hv.Instance, error) { return c.StartInstance(ctx, &hv.AgentInstanceRequest{InstanceId: "i-1"}) },
		func() (*hv.Instance, error) {
			return c.RestartInstance(ctx, &hv.AgentRestartInstanceRequest{InstanceId: "i-1"})
		},
	} {
		if got, err := step(); err != nil || got.GetState() != hv.InstanceState_INSTANCE_STATE_RUNNING {
			t.Fatalf("start/restart = %v, %v; want RUNNING", got, err)
		}
	}
	if st, err := c.GetInstanceStats(ctx, &hv.AgentInstanceRequest{InstanceId: "i-1"}); err != nil || st.GetInstanceId() != "i-1" {
		t.Errorf("GetInstanceStats = %v, %v", st, err)
	}
	if l, err := c.ListInstances(ctx, &emptypb.Empty{}); err != nil || len(l.GetInstances()) != 1 {
		t.Errorf("ListInstances = %v, %v; want one instance", l, err)
	}
	stream, err := c.AttachConsole(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"i-1", "echo hi"} {
		if err := stream.Send(&hv.AgentConsoleInput{Input: &hv.AgentConsoleInput_Data{Data: []byte(d)}}); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := stream.Recv(); err != nil || string(out.GetData()) != "echo hi" {
		t.Errorf("console echo = %q, %v", out.GetData(), err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err == nil {
		t.Error("console stream did not end after CloseSend")
	}
	if _, err := c.DeleteInstance(ctx, &hv.AgentDeleteInstanceRequest{InstanceId: "i-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetInstance(ctx, &hv.AgentInstanceRequest{InstanceId: "i-1"}); code(err) != codes.NotFound {
		t.Errorf("GetInstance after delete: %v, want NotFound", err)
	}
}
