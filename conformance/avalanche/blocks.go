package avalanche

import (
	"context"
	"fmt"
	"time"

	"github.com/ava-labs/avalanchego/ids"
	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
	if avalanchego.UsesMessenger(t.cfg.Protocol) {
		cctx, cancel := context.WithTimeout(ctx, t.cfg.CallTimeout)
		defer cancel()
		select {
		case msg, ok := <-t.node.Notifications():
			if !ok {
				return vmpb.Message_MESSAGE_UNSPECIFIED, fmt.Errorf("messenger.Notify: the node closed")
			}
			return msg, nil
		case <-cctx.Done():
			return vmpb.Message_MESSAGE_UNSPECIFIED, fmt.Errorf("no messenger.Notify from the plugin within %s (protocol %d has no WaitForEvent)", t.cfg.CallTimeout, t.cfg.Protocol)
		}
	}
	var resp *vmpb.WaitForEventResponse
	err := t.doCall(ctx, "WaitForEvent", func(ctx context.Context) (err error) {
		resp, err = t.vm.WaitForEvent(ctx, &emptypb.Empty{})
		return err
	})
	return resp.GetMessage(), err
}

// buildBlock calls BuildBlock, with a P-chain height when pHeight is set.
func (t *target) buildBlock(ctx context.Context, pHeight *uint64) (Block, error) {
	var resp *vmpb.BuildBlockResponse
	err := t.doCall(ctx, "BuildBlock", func(ctx context.Context) (err error) {
		resp, err = t.vm.BuildBlock(ctx, &vmpb.BuildBlockRequest{PChainHeight: pHeight})
		return err
	})
	if err != nil {
		return Block{}, err
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
	var resp *vmpb.ParseBlockResponse
	name := fmt.Sprintf("ParseBlock(%d bytes)", len(raw))
	err := t.doCall(ctx, name, func(ctx context.Context) (err error) {
		resp, err = t.vm.ParseBlock(ctx, &vmpb.ParseBlockRequest{Bytes: raw})
		return err
	})
	if err != nil {
		return Block{}, err
	}
	blk, err := blockFromFields(resp.GetId(), resp.GetParentId(), resp.GetHeight(), resp.GetTimestamp(), raw)
	if err != nil {
		return Block{}, fmt.Errorf("%s reply: %w", name, err)
	}
	blk.VerifyWithContext = resp.GetVerifyWithContext()
	return blk, nil
}

// batchedParse calls BatchedParseBlock; unimplemented is true when the VM
// does not implement it (an optional capability).
func (t *target) batchedParse(ctx context.Context, raws [][]byte) (blks []Block, unimplemented bool, err error) {
	var resp *vmpb.BatchedParseBlockResponse
	err = t.doCall(ctx, fmt.Sprintf("BatchedParseBlock(%d blocks)", len(raws)), func(ctx context.Context) (err error) {
		resp, err = t.vm.BatchedParseBlock(ctx, &vmpb.BatchedParseBlockRequest{Request: raws})
		return err
	})
	if status.Code(err) == codes.Unimplemented {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	if len(resp.GetResponse()) != len(raws) {
		return nil, false, fmt.Errorf("BatchedParseBlock of %d blocks answered %d", len(raws), len(resp.GetResponse()))
	}
	for i, r := range resp.GetResponse() {
		blk, err := blockFromFields(r.GetId(), r.GetParentId(), r.GetHeight(), r.GetTimestamp(), raws[i])
		if err != nil {
			return nil, false, fmt.Errorf("BatchedParseBlock entry %d: %w", i, err)
		}
		blk.VerifyWithContext = r.GetVerifyWithContext()
		blks = append(blks, blk)
	}
	return blks, false, nil
}

// getBlock calls GetBlock; errEnum is what the VM answered inside the reply.
func (t *target) getBlock(ctx context.Context, id ids.ID) (blk Block, errEnum vmpb.Error, err error) {
	var resp *vmpb.GetBlockResponse
	name := fmt.Sprintf("GetBlock(%s)", id)
	err = t.doCall(ctx, name, func(ctx context.Context) (err error) {
		resp, err = t.vm.GetBlock(ctx, &vmpb.GetBlockRequest{Id: id[:]})
		return err
	})
	if err != nil {
		return Block{}, 0, err
	}
	if resp.GetErr() != vmpb.Error_ERROR_UNSPECIFIED {
		return Block{}, resp.GetErr(), nil
	}
	blk, err = blockFromFields(id[:], resp.GetParentId(), resp.GetHeight(), resp.GetTimestamp(), resp.GetBytes())
	if err != nil {
		return Block{}, 0, fmt.Errorf("%s reply: %w", name, err)
	}
	return blk, vmpb.Error_ERROR_UNSPECIFIED, nil
}

// idAtHeight calls GetBlockIDAtHeight.
func (t *target) idAtHeight(ctx context.Context, h uint64) (ids.ID, vmpb.Error, error) {
	var resp *vmpb.GetBlockIDAtHeightResponse
	name := fmt.Sprintf("GetBlockIDAtHeight(%d)", h)
	err := t.doCall(ctx, name, func(ctx context.Context) (err error) {
		resp, err = t.vm.GetBlockIDAtHeight(ctx, &vmpb.GetBlockIDAtHeightRequest{Height: h})
		return err
	})
	if err != nil {
		return ids.Empty, 0, err
	}
	if resp.GetErr() != vmpb.Error_ERROR_UNSPECIFIED {
		return ids.Empty, resp.GetErr(), nil
	}
	id, err := ids.ToID(resp.GetBlkId())
	if err != nil {
		return ids.Empty, 0, fmt.Errorf("%s reply: %w", name, err)
	}
	return id, vmpb.Error_ERROR_UNSPECIFIED, nil
}

// verify calls BlockVerify, with a P-chain height when pHeight is set.
func (t *target) verify(ctx context.Context, raw []byte, pHeight *uint64) error {
	return t.doCall(ctx, fmt.Sprintf("BlockVerify(%d bytes)", len(raw)), func(ctx context.Context) error {
		_, err := t.vm.BlockVerify(ctx, &vmpb.BlockVerifyRequest{Bytes: raw, PChainHeight: pHeight})
		return err
	})
}

func (t *target) accept(ctx context.Context, id ids.ID) error {
	return t.doCall(ctx, fmt.Sprintf("BlockAccept(%s)", id), func(ctx context.Context) error {
		_, err := t.vm.BlockAccept(ctx, &vmpb.BlockAcceptRequest{Id: id[:]})
		return err
	})
}

func (t *target) reject(ctx context.Context, id ids.ID) error {
	return t.doCall(ctx, fmt.Sprintf("BlockReject(%s)", id), func(ctx context.Context) error {
		_, err := t.vm.BlockReject(ctx, &vmpb.BlockRejectRequest{Id: id[:]})
		return err
	})
}

func (t *target) setPreference(ctx context.Context, id ids.ID) error {
	return t.doCall(ctx, fmt.Sprintf("SetPreference(%s)", id), func(ctx context.Context) error {
		_, err := t.vm.SetPreference(ctx, &vmpb.SetPreferenceRequest{Id: id[:]})
		return err
	})
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
