package hypervisor

import (
	"context"
	"net"
	"strings"
	"sync"
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

// probeStub serves ClusterService only: RegisterNode accepts anything (it
// must refuse the probe's empty request), GetNode never answers, WatchNodes
// holds the stream open, the rest is NotFound or Unimplemented.
type probeStub struct {
	hv.UnimplementedClusterServiceServer
	mu    sync.Mutex
	nodes map[string]bool
}

func (p *probeStub) RegisterNode(context.Context, *hv.RegisterNodeRequest) (*hv.RegisterNodeResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nodes["n-1"] = true
	return &hv.RegisterNodeResponse{NodeId: "n-1"}, nil
}

func (p *probeStub) DeregisterNode(_ context.Context, req *hv.DeregisterNodeRequest) (*emptypb.Empty, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.nodes[req.GetNodeId()] {
		return nil, status.Error(codes.NotFound, "no such node")
	}
	delete(p.nodes, req.GetNodeId())
	return &emptypb.Empty{}, nil
}

func (p *probeStub) GetNode(ctx context.Context, _ *hv.GetNodeRequest) (*hv.Node, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (p *probeStub) WatchNodes(_ *hv.WatchNodesRequest, s hv.ClusterService_WatchNodesServer) error {
	<-s.Context().Done()
	return nil
}

func TestProbeClassifies(t *testing.T) {
	defer goleak.VerifyNone(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stub := &probeStub{nodes: map[string]bool{}}
	g := grpc.NewServer()
	hv.RegisterClusterServiceServer(g, stub)
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Serve(lis) }()
	defer func() { g.Stop(); <-done }()
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	p := runProbe(ctx, endpoint{cc: cc}, endpoint{cc: cc, reason: "agent endpoint down"}, "missing", probeTimes{call: 200 * time.Millisecond, hold: 200 * time.Millisecond})
	if len(p.Results) != 79 {
		t.Fatalf("probe saw %d methods, want 79", len(p.Results))
	}
	for _, tc := range []struct {
		method string
		class  Class
		detail string
	}{
		{svcCluster + "RegisterNode", Implemented, "accepted the probe's invalid request"},
		{svcCluster + "DeregisterNode", Implemented, ""},
		{svcCluster + "GetNode", Unreachable, "no answer within 200ms"},
		{svcCluster + "WatchNodes", Implemented, "stream held open"},
		{svcCluster + "Heartbeat", Unimplemented, ""},
		{svcCompute + "PullImage", Unimplemented, ""},
		{svcAgent + "AttachConsole", Unreachable, "agent endpoint down"},
		{svcStorage + "DeleteSnapshot", Unimplemented, ""},
	} {
		r, _ := p.Result(tc.method)
		if r.Class != tc.class || !strings.Contains(r.Detail, tc.detail) {
			t.Errorf("%s: %s (%s, %q), want %s with %q", tc.method, r.Class, r.Code, r.Detail, tc.class, tc.detail)
		}
	}
	if got := p.Count(Unimplemented); got != 79-4-9 {
		t.Errorf("%d unimplemented, want 66 (79 less the 4 the stub serves and the 9 unreachable agent methods)", got)
	}
	if len(stub.nodes) != 0 {
		t.Errorf("the node the probe's invalid RegisterNode created is still there: %v", stub.nodes)
	}
}
