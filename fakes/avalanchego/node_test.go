package avalanchego_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/ava-labs/avalanchego/chains/atomic"
	"github.com/ava-labs/avalanchego/chains/atomic/gsharedmemory"
	"github.com/ava-labs/avalanchego/database/rpcdb"
	"github.com/ava-labs/avalanchego/ids"
	"github.com/ava-labs/avalanchego/ids/galiasreader"
	"github.com/ava-labs/avalanchego/snow/validators/gvalidators"
	"github.com/ava-labs/avalanchego/utils/constants"
	"github.com/ava-labs/avalanchego/utils/crypto/bls"
	"github.com/ava-labs/avalanchego/vms/platformvm/warp"
	"github.com/ava-labs/avalanchego/vms/platformvm/warp/gwarp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	aliasreaderpb "github.com/ava-labs/avalanchego/proto/pb/aliasreader"
	appsenderpb "github.com/ava-labs/avalanchego/proto/pb/appsender"
	rpcdbpb "github.com/ava-labs/avalanchego/proto/pb/rpcdb"
	sharedmemorypb "github.com/ava-labs/avalanchego/proto/pb/sharedmemory"
	validatorstatepb "github.com/ava-labs/avalanchego/proto/pb/validatorstate"
	warppb "github.com/ava-labs/avalanchego/proto/pb/warp"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/transport"
)

func newNode(t testing.TB, cfg avalanchego.NodeConfig) (*avalanchego.Node, *transport.Bufnet) {
	t.Helper()
	bn := transport.NewBufnet()
	if cfg.Transport == nil {
		cfg.Transport = bn
	}
	n, err := avalanchego.NewNode(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("close node: %v", err)
		}
	})
	return n, bn
}

func dial(t testing.TB, tr transport.Transport, addr string) *grpc.ClientConn {
	t.Helper()
	c, err := transport.Dial(tr, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestNodeIdentityDeterministic(t *testing.T) {
	a, _ := newNode(t, avalanchego.NodeConfig{Seed: 7})
	b, _ := newNode(t, avalanchego.NodeConfig{Seed: 7})
	c, _ := newNode(t, avalanchego.NodeConfig{Seed: 8})
	if a.NodeID() != b.NodeID() || a.ChainID() != b.ChainID() || !bytes.Equal(bls.PublicKeyToCompressedBytes(a.PublicKey()), bls.PublicKeyToCompressedBytes(b.PublicKey())) {
		t.Fatal("same seed gave different identities")
	}
	if a.NodeID() == c.NodeID() || a.ChainID() == c.ChainID() {
		t.Fatal("different seeds gave the same identity")
	}
}

func TestInitializeRequestComplete(t *testing.T) {
	n, _ := newNode(t, avalanchego.NodeConfig{Seed: 1, Genesis: []byte("g")})
	req := n.InitializeRequest(avalanchego.NewestProtocol)
	for name, b := range map[string][]byte{"subnet": req.SubnetId, "chain": req.ChainId, "x": req.XChainId, "c": req.CChainId, "avax": req.AvaxAssetId} {
		if len(b) != 32 {
			t.Errorf("%s id has %d bytes", name, len(b))
		}
	}
	if len(req.NodeId) != 20 {
		t.Errorf("node id %d bytes", len(req.NodeId))
	}
	if _, err := bls.PublicKeyFromCompressedBytes(req.PublicKey); err != nil {
		t.Errorf("public key: %v", err)
	}
	if req.NetworkId != constants.LocalID || req.DbServerAddr == "" || req.ServerAddr == "" || req.ChainDataDir == "" || string(req.GenesisBytes) != "g" {
		t.Errorf("request %v", req)
	}
	// Every timestamp is set: a nil one makes real plugins fail.
	nu := req.NetworkUpgrades.ProtoReflect()
	fields := nu.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.Message() != nil && !nu.Has(fd) {
			t.Errorf("network_upgrades.%s is nil", fd.Name())
		}
	}
}

func TestRPCDBRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		dbDir bool
	}{{"memdb", false}, {"leveldb", true}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := avalanchego.NodeConfig{}
			if tc.dbDir {
				cfg.DBDir = t.TempDir()
			}
			n, bn := newNode(t, cfg)
			db := rpcdb.NewClient(rpcdbpb.NewDatabaseClient(dial(t, bn, n.DBServerAddr())))
			for _, k := range []string{"a1", "a2", "b1"} {
				if err := db.Put([]byte(k), []byte("v"+k)); err != nil {
					t.Fatal(err)
				}
			}
			v, err := db.Get([]byte("a2"))
			if err != nil || string(v) != "va2" {
				t.Fatalf("get %q %v", v, err)
			}
			if _, err := db.Get([]byte("zz")); err == nil {
				t.Fatal("get of a missing key succeeded")
			}
			it := db.NewIteratorWithPrefix([]byte("a"))
			var keys []string
			for it.Next() {
				keys = append(keys, string(it.Key()))
			}
			it.Release()
			if len(keys) != 2 || keys[0] != "a1" || keys[1] != "a2" {
				t.Fatalf("iterator keys %v", keys)
			}
			// The same data is in the node's own database.
			if has, _ := n.Database().Has([]byte("b1")); !has {
				t.Fatal("node database lacks b1")
			}
			h, err := healthpb.NewHealthClient(dial(t, bn, n.DBServerAddr())).Check(context.Background(), &healthpb.HealthCheckRequest{})
			if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("health %v %v", h, err)
			}
		})
	}
}

func TestValidatorState(t *testing.T) {
	n, bn := newNode(t, avalanchego.NodeConfig{Seed: 3})
	vs := gvalidators.NewClient(validatorstatepb.NewValidatorStateClient(dial(t, bn, n.ServerAddr())))
	ctx := context.Background()
	h, err := vs.GetCurrentHeight(ctx)
	if err != nil || h != avalanchego.PChainHeight {
		t.Fatalf("current height %d %v", h, err)
	}
	subnet, err := vs.GetSubnetID(ctx, n.ChainID())
	if err != nil || subnet != n.SubnetID() {
		t.Fatalf("subnet %s %v", subnet, err)
	}
	if _, err := vs.GetSubnetID(ctx, ids.GenerateTestID()); err == nil {
		t.Fatal("unknown chain has a subnet")
	}
	set, err := vs.GetValidatorSet(ctx, h, n.SubnetID())
	if err != nil || len(set) != 1 || set[n.NodeID()] == nil || set[n.NodeID()].Weight != avalanchego.DefaultWeight {
		t.Fatalf("validator set %v %v", set, err)
	}
	if !bytes.Equal(bls.PublicKeyToCompressedBytes(set[n.NodeID()].PublicKey), bls.PublicKeyToCompressedBytes(n.PublicKey())) {
		t.Fatal("validator public key differs from the node's")
	}
	if _, err := vs.GetValidatorSet(ctx, h+10, n.SubnetID()); err == nil {
		t.Fatal("future height answered")
	}
	cur, height, err := vs.GetCurrentValidatorSet(ctx, n.SubnetID())
	if err != nil || len(cur) != 1 || height != h {
		t.Fatalf("current set %v %d %v", cur, height, err)
	}
	warpSets, err := vs.GetWarpValidatorSets(ctx, h)
	if err != nil || warpSets[n.SubnetID()].TotalWeight != avalanchego.DefaultWeight || len(warpSets[n.SubnetID()].Validators) != 1 {
		t.Fatalf("warp sets %v %v", warpSets, err)
	}
}

func TestWarpSignVerifies(t *testing.T) {
	n, bn := newNode(t, avalanchego.NodeConfig{Seed: 4})
	signer := gwarp.NewClient(warppb.NewSignerClient(dial(t, bn, n.ServerAddr())))
	msg, err := warp.NewUnsignedMessage(n.NetworkID(), n.ChainID(), []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	sigBytes, err := signer.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := bls.SignatureFromBytes(sigBytes)
	if err != nil {
		t.Fatal(err)
	}
	if !bls.Verify(n.PublicKey(), sig, msg.Bytes()) {
		t.Fatal("warp signature does not verify with the node's public key")
	}
	// A message for another chain is refused.
	other, _ := warp.NewUnsignedMessage(n.NetworkID(), ids.GenerateTestID(), []byte("x"))
	if _, err := signer.Sign(other); err == nil {
		t.Fatal("signed a message of another chain")
	}
}

func TestAppSenderRecords(t *testing.T) {
	n, bn := newNode(t, avalanchego.NodeConfig{})
	c := appsenderpb.NewAppSenderClient(dial(t, bn, n.ServerAddr()))
	ctx := context.Background()
	peer := ids.GenerateTestNodeID()
	if _, err := c.SendAppRequest(ctx, &appsenderpb.SendAppRequestMsg{NodeIds: [][]byte{peer.Bytes()}, RequestId: 9, Request: []byte("q")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendAppError(ctx, &appsenderpb.SendAppErrorMsg{NodeId: peer.Bytes(), RequestId: 9, ErrorCode: -3, ErrorMessage: "no"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendAppGossip(ctx, &appsenderpb.SendAppGossipMsg{Msg: []byte("g")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendAppResponse(ctx, &appsenderpb.SendAppResponseMsg{NodeId: []byte("short"), RequestId: 1}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad node id: %v", err)
	}
	rec := n.AppSender()
	m, err := rec.Next(ctx)
	if err != nil || m.Kind != avalanchego.AppKindRequest || m.RequestID != 9 || m.NodeIDs[0] != peer || string(m.Bytes) != "q" {
		t.Fatalf("first %+v %v", m, err)
	}
	m, _ = rec.Next(ctx)
	if m.Kind != avalanchego.AppKindError || m.ErrorCode != -3 || m.ErrorMessage != "no" {
		t.Fatalf("second %+v", m)
	}
	m, _ = rec.Next(ctx)
	if m.Kind != avalanchego.AppKindGossip || string(m.Bytes) != "g" {
		t.Fatalf("third %+v", m)
	}
	if len(rec.All()) != 3 {
		t.Fatalf("all %d", len(rec.All()))
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := rec.Next(cctx); err == nil {
		t.Fatal("Next returned with nothing recorded")
	}
}

func TestAliasReader(t *testing.T) {
	n, bn := newNode(t, avalanchego.NodeConfig{})
	ar := galiasreader.NewClient(aliasreaderpb.NewAliasReaderClient(dial(t, bn, n.ServerAddr())))
	id, err := ar.Lookup(avalanchego.ChainAlias)
	if err != nil || id != n.ChainID() {
		t.Fatalf("lookup %s %v", id, err)
	}
	primary, err := ar.PrimaryAlias(n.ChainID())
	if err != nil || primary != n.ChainID().String() {
		t.Fatalf("primary %q %v", primary, err)
	}
	if _, err := ar.Lookup("nope"); err == nil {
		t.Fatal("unknown alias found")
	}
}

func TestSharedMemory(t *testing.T) {
	n, bn := newNode(t, avalanchego.NodeConfig{})
	peer := ids.GenerateTestID()
	err := n.PeerSharedMemory(peer).Apply(map[ids.ID]*atomic.Requests{
		n.ChainID(): {PutRequests: []*atomic.Element{{Key: []byte("utxo"), Value: []byte("v"), Traits: [][]byte{[]byte("addr")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sm := gsharedmemory.NewClient(sharedmemorypb.NewSharedMemoryClient(dial(t, bn, n.ServerAddr())))
	vals, err := sm.Get(peer, [][]byte{[]byte("utxo")})
	if err != nil || len(vals) != 1 || string(vals[0]) != "v" {
		t.Fatalf("get %q %v", vals, err)
	}
	idx, _, _, err := sm.Indexed(peer, [][]byte{[]byte("addr")}, nil, nil, 10)
	if err != nil || len(idx) != 1 {
		t.Fatalf("indexed %q %v", idx, err)
	}
	if _, err := sm.Get(peer, [][]byte{[]byte("missing")}); err == nil {
		t.Fatal("missing key found")
	}
}
