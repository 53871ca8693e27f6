package hypervisor

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
	"github.com/vmtestbed/vmtestbed/transport"
)

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// env is a Server behind real gRPC with one client of each service.
type env struct {
	srv     *Server
	served  *Served
	clock   *ManualClock
	cluster hv.ClusterServiceClient
	compute hv.ComputeServiceClient
	agent   hv.AgentServiceClient
}

// newEnv serves a Server with a manual clock (through Serve) over tr
// (Serve's private bufconn when nil).
func newEnv(t testing.TB, opts Options, tr transport.Transport, dial ...grpc.DialOption) *env {
	t.Helper()
	clock := NewManualClock(epoch)
	if opts.Clock == nil {
		opts.Clock = clock
	}
	so := ServeOptions{DialOptions: dial}
	if tr != nil {
		lis, _, err := tr.Listen("hypervisor")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		so = ServeOptions{Listener: lis, DialOptions: append(tr.DialOptions(), dial...)}
	}
	served, err := Serve(opts, so)
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(served.Stop)
	conn := served.Conn()
	return &env{
		srv: served.Fake(), served: served, clock: clock,
		cluster: hv.NewClusterServiceClient(conn),
		compute: hv.NewComputeServiceClient(conn),
		agent:   hv.NewAgentServiceClient(conn),
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

const gib = int64(1 << 30)

func workerReq(host string) *hv.RegisterNodeRequest {
	return &hv.RegisterNodeRequest{
		Hostname: host, Ip: "10.0.0.1", Port: 7000, Role: hv.NodeRole_NODE_ROLE_WORKER,
		Region: "r1", Zone: "z1",
		Capacity:               &hv.Resources{CpuCores: 8, MemoryBytes: 16 * gib, DiskBytes: 100 * gib},
		SupportedInstanceTypes: []string{"INSTANCE_TYPE_VM", "CONTAINER"},
	}
}

func (e *env) register(t testing.TB, req *hv.RegisterNodeRequest) string {
	t.Helper()
	resp, err := e.cluster.RegisterNode(ctxT(t), req)
	if err != nil {
		t.Fatalf("RegisterNode %s: %v", req.Hostname, err)
	}
	return resp.NodeId
}

func vmReq(name string) *hv.CreateInstanceRequest {
	return &hv.CreateInstanceRequest{
		Name: name, Type: hv.InstanceType_INSTANCE_TYPE_VM,
		Spec: &hv.InstanceSpec{Image: "ubuntu:22.04", CpuCores: 2, MemoryBytes: 2 * gib},
	}
}

func (e *env) create(t testing.TB, req *hv.CreateInstanceRequest) *hv.Instance {
	t.Helper()
	in, err := e.compute.CreateInstance(ctxT(t), req)
	if err != nil {
		t.Fatalf("CreateInstance %s: %v", req.Name, err)
	}
	return in
}
