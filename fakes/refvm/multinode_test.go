package refvm

import (
	"bytes"
	"testing"
	"time"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
)

// siblingsDecided verifies two competing blocks at height 1, accepts the
// first, rejects the second and returns what the VM then reports at height 1
// and the two block ids.
func siblingsDecided(t *testing.T, variant string) (atHeight, winner, loser []byte) {
	t.Helper()
	tv := startVM(t, Config{Variant: variant})
	gen := tv.init(nil)
	a := newBlock(idOf(gen.LastAcceptedId), 1, time.Unix(1700000100, 0), []Tx{{"a", "1"}})
	b := newBlock(idOf(gen.LastAcceptedId), 1, time.Unix(1700000100, 0), []Tx{{"b", "2"}})
	ctx := ctxT(t)
	for _, blk := range []*Block{a, b} {
		if _, err := tv.vm.BlockVerify(ctx, &vmpb.BlockVerifyRequest{Bytes: blk.Bytes}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tv.vm.BlockAccept(ctx, &vmpb.BlockAcceptRequest{Id: a.ID[:]}); err != nil {
		t.Fatal(err)
	}
	if _, err := tv.vm.BlockReject(ctx, &vmpb.BlockRejectRequest{Id: b.ID[:]}); err != nil {
		t.Fatal(err)
	}
	r, err := tv.vm.GetBlockIDAtHeight(ctx, &vmpb.GetBlockIDAtHeightRequest{Height: 1})
	if err != nil {
		t.Fatal(err)
	}
	return r.BlkId, a.ID[:], b.ID[:]
}

func TestAcceptOnRejectVariant(t *testing.T) {
	at, winner, _ := siblingsDecided(t, "")
	if !bytes.Equal(at, winner) {
		t.Fatal("the correct VM does not keep the accepted block at height 1")
	}
	at, _, loser := siblingsDecided(t, VariantAcceptOnReject)
	if !bytes.Equal(at, loser) {
		t.Fatal("accept-on-reject kept the accepted block instead of taking the rejected one")
	}
	for _, v := range Variants() {
		if v.Name == VariantAcceptOnReject {
			t.Fatal("a multi-node variant is listed among the single-node Variants")
		}
	}
	if len(MultiNodeVariants()) == 0 || !knownVariant(VariantAcceptOnReject) {
		t.Fatal("accept-on-reject is not a known multi-node variant")
	}
}

// A block accepted from a peer removes its transactions from the local
// mempool (they arrived by gossip): the VM does not ask to build them again.
func TestAcceptedTxsLeaveTheMempool(t *testing.T) {
	tv := startVM(t, Config{})
	gen := tv.init(nil)
	tv.issue("k", "v") // as if gossiped here too
	peer := newBlock(idOf(gen.LastAcceptedId), 1, time.Unix(1700000100, 0), []Tx{{"k", "v"}})
	ctx := ctxT(t)
	if _, err := tv.vm.BlockVerify(ctx, &vmpb.BlockVerifyRequest{Bytes: peer.Bytes}); err != nil {
		t.Fatal(err)
	}
	if _, err := tv.vm.BlockAccept(ctx, &vmpb.BlockAcceptRequest{Id: peer.ID[:]}); err != nil {
		t.Fatal(err)
	}
	if _, err := tv.vm.BuildBlock(ctx, &vmpb.BuildBlockRequest{}); err == nil {
		t.Fatal("BuildBlock built a block from transactions a peer's block already accepted")
	}
}
