package recorder

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/ava-labs/avalanchego/vms/rpcchainvm/grpcutils"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recording"
)

// TestForwardUnaryAndStream: through a proxy, a unary call keeps its
// metadata and error status, a server stream delivers its messages, and
// both are recorded (the stream message by message).
func TestForwardUnaryAndStream(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gotMD := make(chan metadata.MD, 1)
	backend := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		select {
		case gotMD <- md:
		default:
		}
		return h(ctx, req)
	}))
	hs := health.NewServer()
	hs.SetServingStatus("vm", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(backend, hs)
	served := make(chan struct{})
	go func() { defer close(served); _ = backend.Serve(l) }()
	defer func() { backend.Stop(); <-served }()

	var buf bytes.Buffer
	w, err := recording.NewWriter(&buf, recording.Header{Plugin: "t", Protocol: 46})
	if err != nil {
		t.Fatal(err)
	}
	h := newHub(w)
	p, err := startProxy(h, recording.EndpointNode, recording.PluginToNode, l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	h.add(p)
	conn, err := grpcutils.Dial(p.addr)
	if err != nil {
		t.Fatal(err)
	}
	client := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	mctx := metadata.AppendToOutgoingContext(ctx, "x-test", "kept")
	if _, err := client.Check(mctx, &healthpb.HealthCheckRequest{Service: "vm"}); err != nil {
		t.Fatal(err)
	}
	if md := <-gotMD; len(md.Get("x-test")) != 1 || md.Get("x-test")[0] != "kept" {
		t.Fatalf("metadata not forwarded: %v", md)
	}
	if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("status not passed through: %v", err)
	}
	sctx, scancel := context.WithCancel(ctx)
	stream, err := client.Watch(sctx, &healthpb.HealthCheckRequest{Service: "vm"})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := stream.Recv(); err != nil || m.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("stream: %v %v", m, err)
	}
	scancel()
	if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
		t.Fatalf("cancelled stream: %v", err)
	}
	_ = conn.Close()
	h.drain(5 * time.Second)
	if err := w.Close("exit status 0"); err != nil {
		t.Fatal(err)
	}
	h.closeAll()

	s, err := recording.Decode(&buf)
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if len(s.Calls) != 3 {
		t.Fatalf("%d calls:\n%s", len(s.Calls), buf.String())
	}
	if c := s.Calls[0]; c.Code != "OK" || string(c.Request) != `{"service":"vm"}` || string(c.Response) != `{"status":"SERVING"}` {
		t.Fatalf("unary call %+v", c)
	}
	if c := s.Calls[1]; c.Code != "NotFound" {
		t.Fatalf("failed call %+v", c)
	}
	c := s.Calls[2]
	if !c.Stream || c.Code != "Canceled" || len(c.Messages) != 2 || c.Messages[0].From != "client" || string(c.Messages[1].Body) != `{"status":"SERVING"}` {
		t.Fatalf("stream call %+v", c)
	}
}
