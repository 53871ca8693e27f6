package avalanche

import (
	"context"
	"fmt"
	"time"

	"github.com/ava-labs/avalanchego/ids"
	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
)

// Block is what the node knows about a chain-VM block.
type Block struct {
	ID, ParentID      ids.ID
	Height            uint64
	Timestamp         time.Time
	Bytes             []byte
	VerifyWithContext bool
}

func (b Block) String() string {
	return fmt.Sprintf("block %s (height %d, parent %s, %d bytes)", b.ID, b.Height, b.ParentID, len(b.Bytes))
}

// blockFromFields decodes the fields every block-carrying reply has.
func blockFromFields(id, parent []byte, height uint64, ts *timestamppb.Timestamp, raw []byte) (Block, error) {
	blkID, err := ids.ToID(id)
	if err != nil {
		return Block{}, fmt.Errorf("block id of %d bytes, want 32: %w", len(id), err)
	}
	parentID, err := ids.ToID(parent)
	if err != nil {
		return Block{}, fmt.Errorf("parent id of %d bytes, want 32: %w", len(parent), err)
	}
	return Block{ID: blkID, ParentID: parentID, Height: height, Timestamp: ts.AsTime(), Bytes: raw}, nil
}

// waitEvent waits (bounded by CallTimeout) for the VM's next event:
// WaitForEvent's answer, or before protocol 42 the next
// messenger.Messenger/Notify the plugin sent the node.
func (t *target) waitEvent(ctx context.Context) (vmpb.Message, error) {
	cctx, cancel := t.call(ctx)
	defer cancel()
	if avalanchego.UsesMessenger(t.cfg.Protocol) {
		select {
		case msg, ok := <-t.node.Notifications():
			if !ok {
				return vmpb.Message_MESSAGE_UNSPECIFIED, fmt.Errorf("messenger.Notify: the node closed")
			}
			return msg, nil
		case <-cctx.Done():
			return vmpb.Message_MESSAGE_UNSPECIFIED, fmt.Errorf("no messenger.Notify from the plugin (protocol %d has no WaitForEvent): %w", t.cfg.Protocol, cctx.Err())
		}
	}
	resp, err := t.vm.WaitForEvent(cctx, &emptypb.Empty{})
	if err != nil {
		return vmpb.Message_MESSAGE_UNSPECIFIED, fmt.Errorf("WaitForEvent: %w", err)
	}
	return resp.GetMessage(), nil
}

// buildBlock calls BuildBlock, with a P-chain height when pHeight is set.
func (t *target) buildBlock(ctx context.Context, pHeight *uint64) (Block, error) {
	cctx, cancel := t.call(ctx)
	defer cancel()
	resp, err := t.vm.BuildBlock(cctx, &vmpb.BuildBlockRequest{PChainHeight: pHeight})
	if err != nil {
		return Block{}, fmt.Errorf("BuildBlock: %w", err)
	}
	blk, err := blockFromFields(resp.GetId(), resp.GetParentId(), resp.GetHeight(), resp.GetTimestamp(), resp.GetBytes())
	if err != nil {
		return Block{}, fmt.Errorf("BuildBlock reply: %w", err)
	}
	blk.VerifyWithContext = resp.GetVerifyWithContext()
	return blk, nil
}

// parseBlock calls ParseBlock; the returned block carries raw as its bytes.
func (t *target) parseBlock(ctx context.Context, raw []byte) (Block, error) {
	cctx, cancel := t.call(ctx)
	defer cancel()
	resp, err := t.vm.ParseBlock(cctx, &vmpb.ParseBlockRequest{Bytes: raw})
	if err != nil {
		return Block{}, fmt.Errorf("ParseBlock of %d bytes: %w", len(raw), err)
	}
	blk, err := blockFromFields(resp.GetId(), resp.GetParentId(), resp.GetHeight(), resp.GetTimestamp(), raw)
	if err != nil {
		return Block{}, fmt.Errorf("ParseBlock reply: %w", err)
	}
	blk.VerifyWithContext = resp.GetVerifyWithContext()
	return blk, nil
}

// getBlock calls GetBlock; found is false when the VM answered ERROR_NOT_FOUND.
func (t *target) getBlock(ctx context.Context, id ids.ID) (blk Block, errEnum vmpb.Error, err error) {
	cctx, cancel := t.call(ctx)
	defer cancel()
	resp, err := t.vm.GetBlock(cctx, &vmpb.GetBlockRequest{Id: id[:]})
	if err != nil {
		return Block{}, 0, fmt.Errorf("GetBlock(%s): %w", id, err)
	}
	if resp.GetErr() != vmpb.Error_ERROR_UNSPECIFIED {
		return Block{}, resp.GetErr(), nil
	}
	blk, err = blockFromFields(id[:], resp.GetParentId(), resp.GetHeight(), resp.GetTimestamp(), resp.GetBytes())
	if err != nil {
		return Block{}, 0, fmt.Errorf("GetBlock(%s) reply: %w", id, err)
	}
	return blk, vmpb.Error_ERROR_UNSPECIFIED, nil
}

// idAtHeight calls GetBlockIDAtHeight.
func (t *target) idAtHeight(ctx context.Context, h uint64) (ids.ID, vmpb.Error, error) {
	cctx, cancel := t.call(ctx)
	defer cancel()
	resp, err := t.vm.GetBlockIDAtHeight(cctx, &vmpb.GetBlockIDAtHeightRequest{Height: h})
	if err != nil {
		return ids.Empty, 0, fmt.Errorf("GetBlockIDAtHeight(%d): %w", h, err)
	}
	if resp.GetErr() != vmpb.Error_ERROR_UNSPECIFIED {
		return ids.Empty, resp.GetErr(), nil
	}
	id, err := ids.ToID(resp.GetBlkId())
	if err != nil {
		return ids.Empty, 0, fmt.Errorf("GetBlockIDAtHeight(%d) reply: %w", h, err)
	}
	return id, vmpb.Error_ERROR_UNSPECIFIED, nil
}

// verify calls BlockVerify, with a P-chain height when pHeight is set.
func (t *target) verify(ctx context.Context, raw []byte, pHeight *uint64) error {
	cctx, cancel := t.call(ctx)
	defer cancel()
	if _, err := t.vm.BlockVerify(cctx, &vmpb.BlockVerifyRequest{Bytes: raw, PChainHeight: pHeight}); err != nil {
		return fmt.Errorf("BlockVerify of %d bytes: %w", len(raw), err)
	}
	return nil
}

func (t *target) accept(ctx context.Context, id ids.ID) error {
	cctx, cancel := t.call(ctx)
	defer cancel()
	if _, err := t.vm.BlockAccept(cctx, &vmpb.BlockAcceptRequest{Id: id[:]}); err != nil {
		return fmt.Errorf("BlockAccept(%s): %w", id, err)
	}
	return nil
}

func (t *target) reject(ctx context.Context, id ids.ID) error {
	cctx, cancel := t.call(ctx)
	defer cancel()
	if _, err := t.vm.BlockReject(cctx, &vmpb.BlockRejectRequest{Id: id[:]}); err != nil {
		return fmt.Errorf("BlockReject(%s): %w", id, err)
	}
	return nil
}

func (t *target) setPreference(ctx context.Context, id ids.ID) error {
	cctx, cancel := t.call(ctx)
	defer cancel()
	if _, err := t.vm.SetPreference(cctx, &vmpb.SetPreferenceRequest{Id: id[:]}); err != nil {
		return fmt.Errorf("SetPreference(%s): %w", id, err)
	}
	return nil
}

// wantTx issues one transaction through the workload.
func (t *target) wantTx(ctx context.Context) error {
	w, http, err := t.workload(ctx)
	if err != nil {
		return err
	}
	cctx, cancel := t.call(ctx)
	defer cancel()
	if err := w.IssueTx(cctx, http, 1); err != nil {
		return fmt.Errorf("workload %s: issue a transaction: %w", w.Name(), err)
	}
	return nil
}

// wantBlock issues one transaction through the workload and waits for the
// VM to ask for a block.
func (t *target) wantBlock(ctx context.Context) error {
	if err := t.wantTx(ctx); err != nil {
		return err
	}
	msg, err := t.waitEvent(ctx)
	if err != nil {
		return fmt.Errorf("after issuing a transaction: %w", err)
	}
	if msg != vmpb.Message_MESSAGE_BUILD_BLOCK {
		return fmt.Errorf("after issuing a transaction WaitForEvent returned %s, want MESSAGE_BUILD_BLOCK", msg)
	}
	return nil
}

// newBlock makes the VM want a block and builds it on the current preference.
func (t *target) newBlock(ctx context.Context) (Block, error) {
	if err := t.wantBlock(ctx); err != nil {
		return Block{}, err
	}
	return t.buildBlock(ctx, nil)
}

// acceptNew builds, verifies, prefers and accepts a block, as the builder
// node does in steady state.
func (t *target) acceptNew(ctx context.Context) (Block, error) {
	blk, err := t.newBlock(ctx)
	if err != nil {
		return Block{}, err
	}
	if err := t.verify(ctx, blk.Bytes, nil); err != nil {
		return Block{}, err
	}
	if err := t.setPreference(ctx, blk.ID); err != nil {
		return Block{}, err
	}
	if err := t.accept(ctx, blk.ID); err != nil {
		return Block{}, err
	}
	return blk, nil
}
