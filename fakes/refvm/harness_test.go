package refvm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ava-labs/avalanchego/ids"
	httppb "github.com/ava-labs/avalanchego/proto/pb/http"
	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	"github.com/ava-labs/avalanchego/utils/crypto/bls"
	"github.com/ava-labs/avalanchego/utils/crypto/bls/signer/localsigner"

	"github.com/vmtestbed/vmtestbed/sim"
	"github.com/vmtestbed/vmtestbed/transport"
)

// wait bounds every blocking step of a test.
const wait = 10 * time.Second

// syncBuffer is a goroutine-safe stderr sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testClock ticks one second per call from a fixed start: deterministic timestamps.
func testClock() func() time.Time {
	var n atomic.Int64
	base := time.Unix(1700000100, 0)
	return func() time.Time { return base.Add(time.Duration(n.Add(1)) * time.Second) }
}

// testVM is one in-process refvm plugin plus its node side.
type testVM struct {
	t         testing.TB
	node      *testNode
	vm        vmpb.VMClient
	conn      *grpc.ClientConn
	handshake struct {
		protocol uint32
		addr     string
	}
	cancel  context.CancelFunc
	done    chan error
	stderr  *syncBuffer
	exits   chan int
	rpcAddr string
	rpcConn *grpc.ClientConn
}

// startVM runs Serve on a fresh Bufnet node and completes the handshake.
func startVM(t testing.TB, cfg Config) *testVM {
	t.Helper()
	node := newTestNode(t, transport.NewBufnet())
	return startVMOn(t, node, cfg)
}

func startVMOn(t testing.TB, node *testNode, cfg Config) *testVM {
	t.Helper()
	tv := &testVM{t: t, node: node, done: make(chan error, 1), stderr: &syncBuffer{}, exits: make(chan int, 1)}
	cfg.Transport = node.tr
	cfg.Stderr = tv.stderr
	cfg.Exit = func(code int) { tv.exits <- code }
	if cfg.Clock == nil {
		cfg.Clock = sim.NowFunc(testClock())
	}
	ctx, cancel := context.WithCancel(context.Background())
	tv.cancel = cancel
	go func() { tv.done <- Serve(ctx, node.runtimeAddr, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-tv.done:
		case <-time.After(wait):
			t.Errorf("Serve did not return %s after its ctx was cancelled", wait)
		}
		if tv.conn != nil {
			tv.conn.Close()
		}
	})
	select {
	case req := <-node.handshakes:
		tv.handshake.protocol, tv.handshake.addr = req.ProtocolVersion, req.Addr
	case err := <-tv.done:
		tv.done <- err
		t.Fatalf("Serve returned before the handshake: %v\nstderr: %s", err, tv.stderr)
	case <-time.After(wait):
		t.Fatalf("no runtime handshake within %s", wait)
	}
	conn, err := transport.Dial(node.tr, tv.handshake.addr)
	if err != nil {
		t.Fatal(err)
	}
	tv.conn, tv.vm = conn, vmpb.NewVMClient(conn)
	return tv
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// initRequest is a complete, valid InitializeRequest.
func (tv *testVM) initRequest(genesis []byte) *vmpb.InitializeRequest {
	tv.t.Helper()
	sk, err := localsigner.New()
	if err != nil {
		tv.t.Fatal(err)
	}
	id := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	up := &vmpb.NetworkUpgrades{}
	rv := reflect.ValueOf(up).Elem()
	ts := reflect.ValueOf(timestamppb.New(time.Unix(1600000000, 0)))
	for i := 0; i < rv.NumField(); i++ {
		if rv.Type().Field(i).IsExported() && rv.Field(i).Type() == ts.Type() {
			rv.Field(i).Set(ts)
		}
	}
	return &vmpb.InitializeRequest{
		NetworkId: 88888, SubnetId: id(1), ChainId: id(2), NodeId: bytes.Repeat([]byte{3}, 20),
		PublicKey: bls.PublicKeyToCompressedBytes(sk.PublicKey()),
		XChainId:  id(4), CChainId: id(5), AvaxAssetId: id(6),
		GenesisBytes: genesis, DbServerAddr: tv.node.dbAddr, ServerAddr: tv.node.serverAddr,
		NetworkUpgrades: up,
	}
}

func (tv *testVM) init(genesis []byte) *vmpb.InitializeResponse {
	tv.t.Helper()
	resp, err := tv.vm.Initialize(ctxT(tv.t), tv.initRequest(genesis))
	if err != nil {
		tv.t.Fatalf("Initialize: %v", err)
	}
	return resp
}

// rpc calls a refvm JSON-RPC method through HTTP.HandleSimple on the "/rpc" handler.
func (tv *testVM) rpc(method string, params, result any) *rpcError {
	tv.t.Helper()
	ctx := ctxT(tv.t)
	if tv.rpcAddr == "" {
		resp, err := tv.vm.CreateHandlers(ctx, &emptypb.Empty{})
		if err != nil || len(resp.Handlers) != 1 || resp.Handlers[0].Prefix != RPCPrefix {
			tv.t.Fatalf("CreateHandlers: %v %v", resp, err)
		}
		tv.rpcAddr = resp.Handlers[0].ServerAddr
	}
	if tv.rpcConn == nil {
		conn, err := transport.Dial(tv.node.tr, tv.rpcAddr)
		if err != nil {
			tv.t.Fatal(err)
		}
		tv.rpcConn = conn
		tv.t.Cleanup(func() { conn.Close() })
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	resp, err := httppb.NewHTTPClient(tv.rpcConn).HandleSimple(ctx, &httppb.HandleSimpleHTTPRequest{Method: "POST", Url: "/ext/bc/x/rpc", Body: body})
	if err != nil {
		tv.t.Fatalf("HandleSimple %s: %v", method, err)
	}
	var out struct {
		Result json.RawMessage `json:"result"`
		Error  *rpcError       `json:"error"`
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		tv.t.Fatalf("%s: decode %q: %v", method, resp.Body, err)
	}
	if out.Error != nil {
		return out.Error
	}
	if result != nil {
		if err := json.Unmarshal(out.Result, result); err != nil {
			tv.t.Fatalf("%s: decode result %s: %v", method, out.Result, err)
		}
	}
	return nil
}

func (tv *testVM) issue(key, value string) {
	tv.t.Helper()
	if e := tv.rpc("refvm.issueTx", Tx{Key: key, Value: value}, nil); e != nil {
		tv.t.Fatalf("issueTx: %+v", e)
	}
}

// build waits for BUILD_BLOCK and builds a block.
func (tv *testVM) build() *vmpb.BuildBlockResponse {
	tv.t.Helper()
	ctx := ctxT(tv.t)
	ev, err := tv.vm.WaitForEvent(ctx, &emptypb.Empty{})
	if err != nil || ev.Message != vmpb.Message_MESSAGE_BUILD_BLOCK {
		tv.t.Fatalf("WaitForEvent: %v %v", ev, err)
	}
	blk, err := tv.vm.BuildBlock(ctx, &vmpb.BuildBlockRequest{})
	if err != nil {
		tv.t.Fatalf("BuildBlock: %v", err)
	}
	return blk
}

// buildAccept runs the builder's sequence: build, verify, prefer, parse, accept.
func (tv *testVM) buildAccept(key, value string) *vmpb.BuildBlockResponse {
	tv.t.Helper()
	tv.issue(key, value)
	blk := tv.build()
	ctx := ctxT(tv.t)
	if _, err := tv.vm.BlockVerify(ctx, &vmpb.BlockVerifyRequest{Bytes: blk.Bytes}); err != nil {
		tv.t.Fatalf("BlockVerify: %v", err)
	}
	if _, err := tv.vm.SetPreference(ctx, &vmpb.SetPreferenceRequest{Id: blk.Id}); err != nil {
		tv.t.Fatalf("SetPreference: %v", err)
	}
	if _, err := tv.vm.BlockAccept(ctx, &vmpb.BlockAcceptRequest{Id: blk.Id}); err != nil {
		tv.t.Fatalf("BlockAccept: %v", err)
	}
	return blk
}

func (tv *testVM) get(key string) GetReply {
	tv.t.Helper()
	var r GetReply
	if e := tv.rpc("refvm.get", map[string]string{"key": key}, &r); e != nil {
		tv.t.Fatalf("get: %+v", e)
	}
	return r
}

func idOf(b []byte) ids.ID { return ids.ID(b) }

func newHash(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

func codeOf(err error) codes.Code { return status.Code(err) }
