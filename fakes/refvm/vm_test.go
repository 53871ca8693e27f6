package refvm

import (
	"bytes"
	"encoding/hex"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"

	"github.com/vmtestbed/vmtestbed/transport"
)

func wantCode(t *testing.T, err error, code codes.Code, what string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("%s: got %v, want code %v", what, err, code)
	}
}

func TestHandshakeAndVersion(t *testing.T) {
	tv := startVM(t, Config{})
	if tv.handshake.protocol != uint32(DefaultProtocol) {
		t.Fatalf("announced protocol %d, want %d", tv.handshake.protocol, DefaultProtocol)
	}
	v, err := tv.vm.Version(ctxT(t), &emptypb.Empty{})
	if err != nil || v.Version != Version {
		t.Fatalf("Version = %v, %v", v, err)
	}
	// pre-init: Version then Shutdown without Initialize makes Serve return nil.
	if _, err := tv.vm.Shutdown(ctxT(t), &emptypb.Empty{}); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-tv.done; err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	tv.done <- nil
}

func TestInitializeValidation(t *testing.T) {
	tv := startVM(t, Config{})
	cases := map[string]func(*vmpb.InitializeRequest){
		"short chain id":      func(r *vmpb.InitializeRequest) { r.ChainId = r.ChainId[:31] },
		"short node id":       func(r *vmpb.InitializeRequest) { r.NodeId = r.NodeId[:19] },
		"no public key":       func(r *vmpb.InitializeRequest) { r.PublicKey = nil },
		"bad public key":      func(r *vmpb.InitializeRequest) { r.PublicKey = bytes.Repeat([]byte{1}, 48) },
		"no upgrades":         func(r *vmpb.InitializeRequest) { r.NetworkUpgrades = nil },
		"nil durango":         func(r *vmpb.InitializeRequest) { r.NetworkUpgrades.DurangoTime = nil },
		"no db addr":          func(r *vmpb.InitializeRequest) { r.DbServerAddr = "" },
		"invalid genesis":     func(r *vmpb.InitializeRequest) { r.GenesisBytes = []byte("{not json") },
		"unknown genesis key": func(r *vmpb.InitializeRequest) { r.GenesisBytes = []byte(`{"timestamp":1,"x":2}`) },
	}
	for name, mutate := range cases {
		req := tv.initRequest(nil)
		mutate(req)
		_, err := tv.vm.Initialize(ctxT(t), req)
		wantCode(t, err, codes.InvalidArgument, name)
	}
	// Nothing was lost: a valid request still works, a second one is refused.
	tv.init(nil)
	_, err := tv.vm.Initialize(ctxT(t), tv.initRequest(nil))
	wantCode(t, err, codes.FailedPrecondition, "second Initialize")
}

func TestCallsBeforeInitialize(t *testing.T) {
	tv := startVM(t, Config{})
	_, err := tv.vm.BuildBlock(ctxT(t), &vmpb.BuildBlockRequest{})
	wantCode(t, err, codes.FailedPrecondition, "BuildBlock before Initialize")
	_, err = tv.vm.SetState(ctxT(t), &vmpb.SetStateRequest{State: vmpb.State_STATE_BOOTSTRAPPING})
	wantCode(t, err, codes.FailedPrecondition, "SetState before Initialize")
}

func TestGenesis(t *testing.T) {
	tv := startVM(t, Config{})
	resp := tv.init([]byte(`{"timestamp":1700000000,"state":{"a":"1","b":"2"}}`))
	if resp.Height != 0 || !bytes.Equal(resp.LastAcceptedParentId, make([]byte, 32)) {
		t.Fatalf("genesis height %d parent %x", resp.Height, resp.LastAcceptedParentId)
	}
	p, err := tv.vm.ParseBlock(ctxT(t), &vmpb.ParseBlockRequest{Bytes: resp.Bytes})
	if err != nil || !bytes.Equal(p.Id, resp.LastAcceptedId) {
		t.Fatalf("ParseBlock(genesis) = %x, %v; Initialize said %x", p.GetId(), err, resp.LastAcceptedId)
	}
	if got := tv.get("b"); !got.Found || got.Value != "2" {
		t.Fatalf("genesis state b = %+v", got)
	}
	st, err := tv.vm.SetState(ctxT(t), &vmpb.SetStateRequest{State: vmpb.State_STATE_BOOTSTRAPPING})
	if err != nil || !bytes.Equal(st.LastAcceptedId, resp.LastAcceptedId) {
		t.Fatalf("SetState = %v, %v", st, err)
	}
	_, err = tv.vm.SetState(ctxT(t), &vmpb.SetStateRequest{State: 9})
	wantCode(t, err, codes.InvalidArgument, "SetState(9)")
	id, err := tv.vm.GetBlockIDAtHeight(ctxT(t), &vmpb.GetBlockIDAtHeightRequest{Height: 0})
	if err != nil || !bytes.Equal(id.BlkId, resp.LastAcceptedId) {
		t.Fatalf("GetBlockIDAtHeight(0) = %v, %v", id, err)
	}
}

func TestIssueBuildVerifyAccept(t *testing.T) {
	tv := startVM(t, Config{})
	gen := tv.init(nil)
	blk := tv.buildAccept("color", "blue")
	if blk.Height != 1 || !bytes.Equal(blk.ParentId, gen.LastAcceptedId) {
		t.Fatalf("block height %d parent %x", blk.Height, blk.ParentId)
	}
	if got := tv.get("color"); !got.Found || got.Value != "blue" {
		t.Fatalf("state after accept: %+v", got)
	}
	if got := tv.get("missing"); got.Found {
		t.Fatalf("missing key found: %+v", got)
	}
	var la LastAcceptedReply
	if e := tv.rpc("refvm.lastAccepted", nil, &la); e != nil || la.Height != 1 || la.ID != hex.EncodeToString(blk.Id) {
		t.Fatalf("lastAccepted = %+v %+v", la, e)
	}
	at, err := tv.vm.GetBlockIDAtHeight(ctxT(t), &vmpb.GetBlockIDAtHeightRequest{Height: 1})
	if err != nil || !bytes.Equal(at.BlkId, blk.Id) {
		t.Fatalf("GetBlockIDAtHeight(1) = %v %v", at, err)
	}
	at, err = tv.vm.GetBlockIDAtHeight(ctxT(t), &vmpb.GetBlockIDAtHeightRequest{Height: 2})
	if err != nil || at.Err != vmpb.Error_ERROR_NOT_FOUND {
		t.Fatalf("GetBlockIDAtHeight(2) = %v %v, want ERROR_NOT_FOUND", at, err)
	}
	got, err := tv.vm.GetBlock(ctxT(t), &vmpb.GetBlockRequest{Id: blk.Id})
	if err != nil || !bytes.Equal(got.Bytes, blk.Bytes) {
		t.Fatalf("GetBlock = %v %v", got, err)
	}
	var br BlockReply
	if e := tv.rpc("refvm.getBlock", map[string]any{"height": 1}, &br); e != nil || br.Status != "Accepted" || len(br.Txs) != 1 {
		t.Fatalf("getBlock = %+v %+v", br, e)
	}
	// The issued tx was gossiped through the node's AppSender.
	select {
	case m := <-tv.node.sent:
		txs, err := parseTxs(m.bytes)
		if m.kind != "gossip" || err != nil || len(txs) != 1 || txs[0].Key != "color" {
			t.Fatalf("sent %+v (%v)", m, err)
		}
	default:
		t.Fatal("issueTx gossiped nothing")
	}
	// refvm never builds an empty block.
	_, err = tv.vm.BuildBlock(ctxT(t), &vmpb.BuildBlockRequest{})
	wantCode(t, err, codes.FailedPrecondition, "BuildBlock with empty mempool")
	// Accepting again is idempotent; unknown ids are NotFound.
	if _, err := tv.vm.BlockAccept(ctxT(t), &vmpb.BlockAcceptRequest{Id: blk.Id}); err != nil {
		t.Fatalf("re-accept: %v", err)
	}
	_, err = tv.vm.BlockAccept(ctxT(t), &vmpb.BlockAcceptRequest{Id: make([]byte, 32)})
	wantCode(t, err, codes.NotFound, "accept unknown")
	_, err = tv.vm.BlockAccept(ctxT(t), &vmpb.BlockAcceptRequest{Id: []byte{1}})
	wantCode(t, err, codes.InvalidArgument, "accept short id")
	miss, err := tv.vm.GetBlock(ctxT(t), &vmpb.GetBlockRequest{Id: make([]byte, 32)})
	if err != nil || miss.Err != vmpb.Error_ERROR_NOT_FOUND {
		t.Fatalf("GetBlock(unknown) = %v %v, want ERROR_NOT_FOUND", miss, err)
	}
}

func TestConflictingSiblings(t *testing.T) {
	tv := startVM(t, Config{})
	gen := tv.init(nil)
	ctx := ctxT(t)
	tv.issue("k", "first")
	a := tv.build()
	tv.issue("k", "second")
	b := tv.build() // preference is still genesis: a sibling of a
	if !bytes.Equal(a.ParentId, gen.LastAcceptedId) || !bytes.Equal(b.ParentId, gen.LastAcceptedId) || bytes.Equal(a.Id, b.Id) {
		t.Fatalf("want two distinct children of genesis, got %x and %x", a.Id, b.Id)
	}
	for _, blk := range [][]byte{a.Bytes, b.Bytes} {
		if _, err := tv.vm.BlockVerify(ctx, &vmpb.BlockVerifyRequest{Bytes: blk}); err != nil {
			t.Fatalf("BlockVerify: %v", err)
		}
	}
	if _, err := tv.vm.BlockAccept(ctx, &vmpb.BlockAcceptRequest{Id: b.Id}); err != nil {
		t.Fatalf("accept b: %v", err)
	}
	// a now conflicts with the accepted chain: it cannot be accepted, only rejected.
	_, err := tv.vm.BlockAccept(ctx, &vmpb.BlockAcceptRequest{Id: a.Id})
	wantCode(t, err, codes.FailedPrecondition, "accept the losing sibling")
	if _, err := tv.vm.BlockReject(ctx, &vmpb.BlockRejectRequest{Id: a.Id}); err != nil {
		t.Fatalf("reject a: %v", err)
	}
	_, err = tv.vm.BlockReject(ctx, &vmpb.BlockRejectRequest{Id: b.Id})
	wantCode(t, err, codes.FailedPrecondition, "reject accepted block")
	if got := tv.get("k"); got.Value != "second" {
		t.Fatalf("state k = %+v, want second", got)
	}
	// a's tx went back to the mempool: the VM wants to build again, on top of b.
	c := tv.build()
	if c.Height != 2 || !bytes.Equal(c.ParentId, b.Id) {
		t.Fatalf("rebuilt block height %d parent %x, want 2 on %x", c.Height, c.ParentId, b.Id)
	}
}

func TestVerifyRejectsInvalid(t *testing.T) {
	tv := startVM(t, Config{})
	gen := tv.init(nil)
	parent := idOf(gen.LastAcceptedId)
	ts := testClock()()
	cases := map[string]*Block{
		"unknown parent": newBlock(idOf(bytes.Repeat([]byte{9}, 32)), 1, ts, []Tx{{"k", "v"}}),
		"wrong height":   newBlock(parent, 5, ts, []Tx{{"k", "v"}}),
		"no txs":         newBlock(parent, 1, ts, nil),
		"before parent":  newBlock(parent, 1, ts.Add(-1e15), []Tx{{"k", "v"}}),
	}
	for name, blk := range cases {
		_, err := tv.vm.BlockVerify(ctxT(t), &vmpb.BlockVerifyRequest{Bytes: blk.Bytes})
		wantCode(t, err, codes.FailedPrecondition, name)
	}
	_, err := tv.vm.BlockVerify(ctxT(t), &vmpb.BlockVerifyRequest{Bytes: []byte{1, 2, 3}})
	wantCode(t, err, codes.InvalidArgument, "garbage bytes")
}

func TestParseBlock(t *testing.T) {
	tv := startVM(t, Config{})
	tv.init(nil)
	blk := tv.build2("x", "y")
	for range 3 {
		p, err := tv.vm.ParseBlock(ctxT(t), &vmpb.ParseBlockRequest{Bytes: blk.Bytes})
		if err != nil || !bytes.Equal(p.Id, blk.Id) || p.Height != blk.Height || !bytes.Equal(p.ParentId, blk.ParentId) {
			t.Fatalf("ParseBlock = %v %v, built %x", p, err, blk.Id)
		}
	}
	bp, err := tv.vm.BatchedParseBlock(ctxT(t), &vmpb.BatchedParseBlockRequest{Request: [][]byte{blk.Bytes, blk.Bytes}})
	if err != nil || len(bp.Response) != 2 || !bytes.Equal(bp.Response[1].Id, blk.Id) {
		t.Fatalf("BatchedParseBlock = %v %v", bp, err)
	}
	for name, b := range map[string][]byte{
		"empty":     nil,
		"truncated": blk.Bytes[:len(blk.Bytes)-1],
		"trailing":  append(append([]byte(nil), blk.Bytes...), 0),
		"version":   append([]byte{7}, blk.Bytes[1:]...),
	} {
		_, err := tv.vm.ParseBlock(ctxT(t), &vmpb.ParseBlockRequest{Bytes: b})
		wantCode(t, err, codes.InvalidArgument, name)
	}
}

// build2 issues a tx and builds a block without deciding it.
func (tv *testVM) build2(key, value string) *vmpb.BuildBlockResponse {
	tv.issue(key, value)
	return tv.build()
}

func TestGetAncestors(t *testing.T) {
	tv := startVM(t, Config{})
	gen := tv.init(nil)
	var blks [][]byte
	for i := range 4 {
		blks = append(blks, tv.buildAccept("k", string(rune('a'+i))).Bytes)
	}
	tip := blks[3]
	tipID := idOf(newHash(tip))
	resp, err := tv.vm.GetAncestors(ctxT(t), &vmpb.GetAncestorsRequest{BlkId: tipID[:], MaxBlocksNum: 10, MaxBlocksSize: 1 << 20})
	if err != nil || len(resp.BlksBytes) != 5 || !bytes.Equal(resp.BlksBytes[0], tip) || !bytes.Equal(resp.BlksBytes[4], gen.Bytes) {
		t.Fatalf("GetAncestors all: %d blocks, %v", len(resp.GetBlksBytes()), err)
	}
	resp, err = tv.vm.GetAncestors(ctxT(t), &vmpb.GetAncestorsRequest{BlkId: tipID[:], MaxBlocksNum: 2, MaxBlocksSize: 1 << 20})
	if err != nil || len(resp.BlksBytes) != 2 || !bytes.Equal(resp.BlksBytes[1], blks[2]) {
		t.Fatalf("GetAncestors max 2: %d, %v", len(resp.GetBlksBytes()), err)
	}
	resp, err = tv.vm.GetAncestors(ctxT(t), &vmpb.GetAncestorsRequest{BlkId: tipID[:], MaxBlocksNum: 10, MaxBlocksSize: int32(len(tip) + 1)})
	if err != nil || len(resp.BlksBytes) != 1 {
		t.Fatalf("GetAncestors size-limited: %d, %v", len(resp.GetBlksBytes()), err)
	}
	_, err = tv.vm.GetAncestors(ctxT(t), &vmpb.GetAncestorsRequest{BlkId: make([]byte, 32), MaxBlocksNum: 10, MaxBlocksSize: 1000})
	wantCode(t, err, codes.NotFound, "GetAncestors unknown")
	_, err = tv.vm.GetAncestors(ctxT(t), &vmpb.GetAncestorsRequest{BlkId: tipID[:], MaxBlocksNum: 0})
	wantCode(t, err, codes.InvalidArgument, "GetAncestors max 0")
}

// TestSessionBeforeHandshakeAnswer: the VM server serves before the
// handshake returns, so a node under load can run the whole session and
// terminate the plugin while the handshake's answer is still on its way;
// Serve then ends as after any termination, without an error.
func TestSessionBeforeHandshakeAnswer(t *testing.T) {
	node := newTestNode(t, transport.NewBufnet())
	node.holdHandshake = make(chan struct{})
	defer close(node.holdHandshake)
	tv := startVMOn(t, node, Config{})
	tv.init(nil)
	if _, err := tv.vm.Shutdown(ctxT(t), &emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	tv.cancel() // in process, the node's SIGTERM
	err := <-tv.done
	tv.done <- nil // for startVMOn's cleanup
	if err != nil {
		t.Fatalf("Serve: %v, want nil (terminated after Shutdown, handshake unanswered)", err)
	}
}
