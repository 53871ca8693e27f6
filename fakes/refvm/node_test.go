package refvm

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/ava-labs/avalanchego/database"
	"github.com/ava-labs/avalanchego/database/memdb"
	"github.com/ava-labs/avalanchego/database/rpcdb"
	appsenderpb "github.com/ava-labs/avalanchego/proto/pb/appsender"
	rpcdbpb "github.com/ava-labs/avalanchego/proto/pb/rpcdb"
	runtimepb "github.com/ava-labs/avalanchego/proto/pb/vm/runtime"

	"github.com/vmtestbed/vmtestbed/transport"
)

// testNode is the smallest node side refvm needs, hand-written for these
// tests: a runtime engine that records handshakes, avalanchego's real rpcdb
// server over memdb, and an AppSender that records what the VM sends.
type testNode struct {
	tr          transport.Transport
	runtimeAddr string
	dbAddr      string
	serverAddr  string
	handshakes  chan *runtimepb.InitializeRequest
	// holdHandshake, when set, holds the answer to each handshake until it
	// is closed (or the plugin gives up the call).
	holdHandshake chan struct{}
	sent          chan sentMsg
	dbOps         atomic.Int64 // calls the VM made to the database
}

// sentMsg is one AppSender call made by the VM.
type sentMsg struct {
	kind      string // "request" | "response" | "error" | "gossip"
	requestID uint32
	code      int32
	message   string
	bytes     []byte
}

func newTestNode(t testing.TB, tr transport.Transport) *testNode {
	t.Helper()
	n := &testNode{tr: tr, handshakes: make(chan *runtimepb.InitializeRequest, 4), sent: make(chan sentMsg, 256)}
	var wg sync.WaitGroup
	serve := func(name string, register func(*grpc.Server)) string {
		lis, addr, err := tr.Listen(name)
		if err != nil {
			t.Fatalf("listen %s: %v", name, err)
		}
		srv := grpc.NewServer()
		register(srv)
		wg.Add(1)
		go func() { defer wg.Done(); _ = srv.Serve(lis) }()
		t.Cleanup(srv.Stop)
		return addr
	}
	t.Cleanup(wg.Wait) // runs after the Stops above (cleanups are LIFO)
	n.runtimeAddr = serve("engine", func(s *grpc.Server) { runtimepb.RegisterRuntimeServer(s, &runtimeServer{n: n}) })
	n.dbAddr = serve("db", func(s *grpc.Server) {
		rpcdbpb.RegisterDatabaseServer(s, rpcdb.NewServer(&countingDB{Database: memdb.New(), ops: &n.dbOps}))
	})
	n.serverAddr = serve("node", func(s *grpc.Server) { appsenderpb.RegisterAppSenderServer(s, &appSender{n: n}) })
	return n
}

type runtimeServer struct {
	runtimepb.UnsafeRuntimeServer
	n *testNode
}

func (r *runtimeServer) Initialize(ctx context.Context, req *runtimepb.InitializeRequest) (*emptypb.Empty, error) {
	r.n.handshakes <- req
	if r.n.holdHandshake != nil {
		select {
		case <-r.n.holdHandshake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &emptypb.Empty{}, nil
}

type appSender struct {
	appsenderpb.UnsafeAppSenderServer
	n *testNode
}

func (a *appSender) record(m sentMsg) (*emptypb.Empty, error) {
	select {
	case a.n.sent <- m:
	default: // a test that sends more than it reads does not block the VM
	}
	return &emptypb.Empty{}, nil
}

func (a *appSender) SendAppRequest(_ context.Context, m *appsenderpb.SendAppRequestMsg) (*emptypb.Empty, error) {
	return a.record(sentMsg{kind: "request", requestID: m.RequestId, bytes: m.Request})
}

func (a *appSender) SendAppResponse(_ context.Context, m *appsenderpb.SendAppResponseMsg) (*emptypb.Empty, error) {
	return a.record(sentMsg{kind: "response", requestID: m.RequestId, bytes: m.Response})
}

func (a *appSender) SendAppError(_ context.Context, m *appsenderpb.SendAppErrorMsg) (*emptypb.Empty, error) {
	return a.record(sentMsg{kind: "error", requestID: m.RequestId, code: m.ErrorCode, message: m.ErrorMessage})
}

func (a *appSender) SendAppGossip(_ context.Context, m *appsenderpb.SendAppGossipMsg) (*emptypb.Empty, error) {
	return a.record(sentMsg{kind: "gossip", bytes: m.Msg})
}

// countingDB counts the writes and reads the VM makes.
type countingDB struct {
	database.Database
	ops *atomic.Int64
}

func (c *countingDB) Has(k []byte) (bool, error)   { c.ops.Add(1); return c.Database.Has(k) }
func (c *countingDB) Get(k []byte) ([]byte, error) { c.ops.Add(1); return c.Database.Get(k) }
func (c *countingDB) Put(k, v []byte) error        { c.ops.Add(1); return c.Database.Put(k, v) }
func (c *countingDB) Delete(k []byte) error        { c.ops.Add(1); return c.Database.Delete(k) }
func (c *countingDB) NewBatch() database.Batch     { c.ops.Add(1); return c.Database.NewBatch() }
