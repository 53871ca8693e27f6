package refvm

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/emptypb"

	httppb "github.com/ava-labs/avalanchego/proto/pb/http"
	responsewriterpb "github.com/ava-labs/avalanchego/proto/pb/http/responsewriter"
	readerpb "github.com/ava-labs/avalanchego/proto/pb/io/reader"

	"github.com/vmtestbed/vmtestbed/transport"
)

// responseServer is the node's temporary server for one HTTP.Handle call:
// it hands out the request body and records what the VM writes.
type responseServer struct {
	responsewriterpb.UnsafeWriterServer
	readerpb.UnsafeReaderServer
	mu     sync.Mutex
	body   []byte
	status int32
	out    []byte
}

func (r *responseServer) Read(_ context.Context, req *readerpb.ReadRequest) (*readerpb.ReadResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.body) == 0 {
		return &readerpb.ReadResponse{Error: &readerpb.Error{ErrorCode: readerpb.ErrorCode_ERROR_CODE_EOF, Message: "EOF"}}, nil
	}
	n := min(int(req.Length), len(r.body), 7) // small reads exercise the loop
	out := r.body[:n]
	r.body = r.body[n:]
	return &readerpb.ReadResponse{Read: out}, nil
}

func (r *responseServer) Write(_ context.Context, req *responsewriterpb.WriteRequest) (*responsewriterpb.WriteResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out = append(r.out, req.Payload...)
	return &responsewriterpb.WriteResponse{Written: int32(len(req.Payload))}, nil
}

func (r *responseServer) WriteHeader(_ context.Context, req *responsewriterpb.WriteHeaderRequest) (*emptypb.Empty, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = req.StatusCode
	return &emptypb.Empty{}, nil
}

func (r *responseServer) Flush(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (r *responseServer) Hijack(context.Context, *emptypb.Empty) (*responsewriterpb.HijackResponse, error) {
	return &responsewriterpb.HijackResponse{}, nil
}

func TestHTTPHandle(t *testing.T) {
	tv := startVM(t, Config{})
	tv.init(nil)
	ctx := ctxT(t)
	h, err := tv.vm.NewHTTPHandler(ctx, &emptypb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	rs := &responseServer{body: []byte(`{"jsonrpc":"2.0","id":3,"method":"refvm.lastAccepted","params":{}}`)}
	lis, addr, err := tv.node.tr.Listen("rw")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	responsewriterpb.RegisterWriterServer(srv, rs)
	readerpb.RegisterReaderServer(srv, rs)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	defer func() { srv.Stop(); <-done }()

	conn, err := transport.Dial(tv.node.tr, h.ServerAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = httppb.NewHTTPClient(conn).Handle(ctx, &httppb.HTTPRequest{
		ResponseWriter: &httppb.ResponseWriter{ServerAddr: addr},
		Request:        &httppb.Request{Method: "POST", RequestUri: "/ext/bc/x"},
	})
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var resp struct {
		Result LastAcceptedReply `json:"result"`
		ID     int               `json:"id"`
	}
	if rs.status != http.StatusOK || json.Unmarshal(rs.out, &resp) != nil || resp.ID != 3 || resp.Result.Height != 0 || resp.Result.ID == "" {
		t.Fatalf("Handle wrote status %d body %q", rs.status, rs.out)
	}
	_, err = httppb.NewHTTPClient(conn).Handle(ctx, &httppb.HTTPRequest{})
	wantCode(t, err, codes.InvalidArgument, "Handle without a response writer")
}
