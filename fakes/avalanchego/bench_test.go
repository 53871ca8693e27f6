package avalanchego_test

import (
	"context"
	"testing"
	"time"

	"github.com/ava-labs/avalanchego/database/rpcdb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	rpcdbpb "github.com/ava-labs/avalanchego/proto/pb/rpcdb"
	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/fakes/refvm"
	"github.com/vmtestbed/vmtestbed/transport"
)

func benchVersion(b *testing.B, p *avalanchego.Plugin) {
	b.Helper()
	b.Cleanup(func() { _ = p.Stop(context.Background()) })
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.VM.Version(ctx, &emptypb.Empty{}); err != nil {
			b.Fatal(err)
		}
	}
}

// launchRefVM launches the in-process refvm over bufconn with a trace.
func launchRefVM(b *testing.B) *avalanchego.Plugin {
	b.Helper()
	bn := transport.NewBufnet()
	serve := func(ctx context.Context, addr string) error {
		return refvm.Serve(ctx, addr, refvm.Config{Transport: bn, Stderr: avalanchego.PluginOutput(ctx)})
	}
	p, err := avalanchego.LaunchInProcess(context.Background(), bn, serve, avalanchego.LaunchConfig{Trace: avalanchego.NewTrace(nil), GracefulTimeout: 2 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkVMCallBufconn: one traced VM.Version call to in-process refvm over bufconn.
func BenchmarkVMCallBufconn(b *testing.B) { benchVersion(b, launchRefVM(b)) }

// BenchmarkVMCallTCP: one traced VM.Version call to the test plugin binary over loopback TCP.
func BenchmarkVMCallTCP(b *testing.B) {
	bin := testPlugin(b, "ok")
	p, err := avalanchego.LaunchProcess(context.Background(), bin, avalanchego.LaunchConfig{Trace: avalanchego.NewTrace(nil), GracefulTimeout: 2 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	benchVersion(b, p)
}

// BenchmarkRPCDBPutGet: a Put and a Get through the node's rpcdb server over bufconn.
func BenchmarkRPCDBPutGet(b *testing.B) {
	n, bn := newNode(b, avalanchego.NodeConfig{})
	db := rpcdb.NewClient(rpcdbpb.NewDatabaseClient(dial(b, bn, n.DBServerAddr())))
	key, val := []byte("key"), make([]byte, 128)
	for b.Loop() {
		if err := db.Put(key, val); err != nil {
			b.Fatal(err)
		}
		if _, err := db.Get(key); err != nil {
			b.Fatal(err)
		}
	}
}

// versionOnly is the least a VM server can be: Version answers at once.
type versionOnly struct{ vmpb.UnimplementedVMServer }

func (versionOnly) Version(context.Context, *emptypb.Empty) (*vmpb.VersionResponse, error) {
	return &vmpb.VersionResponse{Version: "v"}, nil
}

// BenchmarkVMCallOverhead measures, in one run, a bare grpc-go unary call
// over bufconn (a Version-only server, no trace) and the fake node's traced
// Version call to the in-process reference VM over bufconn, and reports the
// ratio: the cost the fake node adds per RPC (target: within 1.15x).
func BenchmarkVMCallOverhead(b *testing.B) {
	var bare time.Duration
	b.Run("bare", func(b *testing.B) {
		bn := transport.NewBufnet()
		lis, addr, err := bn.Listen("bare")
		if err != nil {
			b.Fatal(err)
		}
		g := grpc.NewServer()
		vmpb.RegisterVMServer(g, versionOnly{})
		done := make(chan struct{})
		go func() { defer close(done); _ = g.Serve(lis) }()
		defer func() { g.Stop(); <-done }()
		cc, err := transport.Dial(bn, addr)
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Close()
		vm := vmpb.NewVMClient(cc)
		ctx := context.Background()
		start := time.Now()
		for b.Loop() {
			if _, err := vm.Version(ctx, &emptypb.Empty{}); err != nil {
				b.Fatal(err)
			}
		}
		bare = time.Since(start) / time.Duration(b.N)
	})
	b.Run("node", func(b *testing.B) {
		p := launchRefVM(b)
		defer func() { _ = p.Stop(context.Background()) }()
		ctx := context.Background()
		start := time.Now()
		for b.Loop() {
			if _, err := p.VM.Version(ctx, &emptypb.Empty{}); err != nil {
				b.Fatal(err)
			}
		}
		node := time.Since(start) / time.Duration(b.N)
		if bare > 0 {
			b.ReportMetric(float64(node)/float64(bare), "x-bare-grpc")
		}
	})
}
