package avalanchego_test

import (
	"context"
	"testing"
	"time"

	"github.com/ava-labs/avalanchego/database/rpcdb"
	"google.golang.org/protobuf/types/known/emptypb"

	rpcdbpb "github.com/ava-labs/avalanchego/proto/pb/rpcdb"

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

// BenchmarkVMCallBufconn: one traced VM.Version call to in-process refvm over bufconn.
func BenchmarkVMCallBufconn(b *testing.B) {
	bn := transport.NewBufnet()
	serve := func(ctx context.Context, addr string) error {
		return refvm.Serve(ctx, addr, refvm.Config{Transport: bn, Stderr: avalanchego.PluginOutput(ctx)})
	}
	p, err := avalanchego.LaunchInProcess(context.Background(), bn, serve, avalanchego.LaunchConfig{Trace: avalanchego.NewTrace(nil), GracefulTimeout: 2 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	benchVersion(b, p)
}

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
