package refvm

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ava-labs/avalanchego/ids"
	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
)

func toID(b []byte, what string) (ids.ID, error) {
	id, err := ids.ToID(b)
	if err != nil {
		return ids.Empty, status.Errorf(codes.InvalidArgument, "refvm: %s: %v", what, err)
	}
	return id, nil
}

// BuildBlock builds a block from the mempool on top of the preferred block.
// refvm never builds an empty block.
func (v *vm) BuildBlock(ctx context.Context, _ *vmpb.BuildBlockRequest) (*vmpb.BuildBlockResponse, error) {
	if v.cfg.Variant == VariantCrashBuild {
		v.crash(CrashMessage, 2)
		return nil, status.Error(codes.Unavailable, "refvm: plugin crashed")
	}
	var leftover bool // txs past the block limit still want a block
	defer func() { v.notifyBuild(ctx, leftover) }()
	v.mu.Lock()
	defer v.mu.Unlock()
	defer func() { leftover = len(v.mempool.txs) > 0 }()
	c, err := v.ready()
	if err != nil {
		return nil, err
	}
	if len(v.mempool.txs) == 0 {
		return nil, status.Error(codes.FailedPrecondition, "refvm: BuildBlock: no transactions in the mempool")
	}
	parent, st, err := c.get(c.preferred)
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "refvm: BuildBlock: preferred block %s: %v", c.preferred, err)
	}
	if st == statusProcessing {
		return nil, status.Errorf(codes.FailedPrecondition, "refvm: BuildBlock: preferred block %s is not verified", parent.ID)
	}
	if st == statusAccepted {
		// An accepted preference can only be (an ancestor of) the last accepted block.
		parent = c.lastAccepted
		if v.cfg.Variant == VariantBuildOnCachedTip {
			parent = c.tip
		}
	}
	ts := v.clock()
	if ts.Before(parent.Timestamp) {
		ts = parent.Timestamp
	}
	blk := localize(newBlock(parent.ID, parent.Height+1, ts, v.mempool.take(maxBlockTxs)), c.salt)
	c.processing[blk.ID] = &entry{blk: blk, status: statusProcessing}
	v.built[blk.ID] = struct{}{}
	v.metrics.blocksBuilt++
	return &vmpb.BuildBlockResponse{
		Id:        blk.ID[:],
		ParentId:  blk.Parent[:],
		Bytes:     blk.Bytes,
		Height:    blk.Height,
		Timestamp: timestamppb.New(blk.Timestamp),
	}, nil
}

// parseResponse describes blk; nondeterministic-parse mixes a counter into
// the id, parse-local-timestamp stamps blocks it does not hold with its own
// clock.
func (v *vm) parseResponse(blk *Block) *vmpb.ParseBlockResponse {
	id, ts := blk.ID, blk.Timestamp
	switch v.cfg.Variant {
	case VariantNondeterministicParse:
		v.mu.Lock()
		v.parses++
		n := v.parses
		v.mu.Unlock()
		id = sha256.Sum256(binary.BigEndian.AppendUint64(append([]byte(nil), blk.Bytes...), n))
	case VariantParseLocalTimestamp:
		v.mu.Lock()
		if v.chain != nil {
			if _, _, err := v.chain.get(blk.ID); err != nil {
				ts = v.clock().UTC()
			}
		}
		v.mu.Unlock()
	}
	return &vmpb.ParseBlockResponse{
		Id:        id[:],
		ParentId:  blk.Parent[:],
		Height:    blk.Height,
		Timestamp: timestamppb.New(ts),
	}
}

// parse decodes a block's bytes (with the local-block-id variant's id).
func (v *vm) parse(b []byte) (*Block, error) {
	blk, err := parseBlock(b)
	if err != nil || v.cfg.Variant != VariantLocalBlockID {
		return blk, err
	}
	v.mu.Lock()
	var salt []byte
	if v.chain != nil {
		salt = v.chain.salt
	}
	v.mu.Unlock()
	return localize(blk, salt), nil
}

// ParseBlock decodes bytes deterministically. An unknown parent is fine here.
func (v *vm) ParseBlock(_ context.Context, req *vmpb.ParseBlockRequest) (*vmpb.ParseBlockResponse, error) {
	blk, err := v.parse(req.Bytes)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "refvm: ParseBlock: %v", err)
	}
	return v.parseResponse(blk), nil
}

func (v *vm) BatchedParseBlock(_ context.Context, req *vmpb.BatchedParseBlockRequest) (*vmpb.BatchedParseBlockResponse, error) {
	out := &vmpb.BatchedParseBlockResponse{}
	for i, b := range req.Request {
		blk, err := v.parse(b)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "refvm: BatchedParseBlock: block %d: %v", i, err)
		}
		out.Response = append(out.Response, v.parseResponse(blk))
	}
	return out, nil
}

// GetBlock answers ERROR_NOT_FOUND inside the response for unknown ids.
func (v *vm) GetBlock(_ context.Context, req *vmpb.GetBlockRequest) (*vmpb.GetBlockResponse, error) {
	id, err := toID(req.Id, "GetBlock: id")
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	c, err := v.ready()
	if err != nil {
		return nil, err
	}
	blk, _, err := c.get(id)
	if errors.Is(err, errUnknownBlock) {
		if v.cfg.Variant == VariantGetBlockStatus {
			return nil, status.Errorf(codes.NotFound, "refvm: GetBlock: block %s not found", id)
		}
		return &vmpb.GetBlockResponse{Err: vmpb.Error_ERROR_NOT_FOUND}, nil
	}
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "refvm: GetBlock: %v", err)
	}
	return &vmpb.GetBlockResponse{
		ParentId:  blk.Parent[:],
		Bytes:     blk.Bytes,
		Height:    blk.Height,
		Timestamp: timestamppb.New(blk.Timestamp),
	}, nil
}

func (v *vm) SetPreference(_ context.Context, req *vmpb.SetPreferenceRequest) (*emptypb.Empty, error) {
	id, err := toID(req.Id, "SetPreference: id")
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	c, err := v.ready()
	if err != nil {
		return nil, err
	}
	if _, _, err := c.get(id); err != nil {
		return nil, status.Errorf(codes.NotFound, "refvm: SetPreference: block %s: %v", id, err)
	}
	c.preferred = id
	return &emptypb.Empty{}, nil
}

// BlockVerify checks parent, height, timestamp and txs; the
// verify-accepts-invalid variant skips the parent and height checks.
func (v *vm) BlockVerify(_ context.Context, req *vmpb.BlockVerifyRequest) (*vmpb.BlockVerifyResponse, error) {
	blk, err := v.parse(req.Bytes)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "refvm: BlockVerify: %v", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	c, err := v.ready()
	if err != nil {
		return nil, err
	}
	if _, ours := v.built[blk.ID]; v.cfg.Variant == VariantVerifyOwnBlocksOnly && !ours && blk.ID != c.lastAccepted.ID {
		return nil, status.Errorf(codes.FailedPrecondition, "refvm: BlockVerify %s: its transactions are not in this node's mempool", blk.ID)
	}
	if err := c.verify(blk, v.clock(), v.cfg.Variant != VariantVerifyAcceptsInvalid); err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "refvm: BlockVerify %s: %v", blk.ID, err)
	}
	return &vmpb.BlockVerifyResponse{Timestamp: timestamppb.New(blk.Timestamp)}, nil
}

func (v *vm) BlockAccept(_ context.Context, req *vmpb.BlockAcceptRequest) (*emptypb.Empty, error) {
	id, err := toID(req.Id, "BlockAccept: id")
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	c, err := v.ready()
	if err != nil {
		return nil, err
	}
	blk, err := c.accept(id)
	if errors.Is(err, errUnknownBlock) {
		return nil, status.Errorf(codes.NotFound, "refvm: BlockAccept: %v", err)
	}
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "refvm: BlockAccept: %v", err)
	}
	v.mempool.remove(blk.Txs) // a peer's block may hold txs gossiped here
	v.metrics.blocksAccepted++
	v.metrics.txsAccepted += uint64(len(blk.Txs))
	return &emptypb.Empty{}, nil
}

// BlockReject drops a processing block; its txs return to the mempool.
func (v *vm) BlockReject(ctx context.Context, req *vmpb.BlockRejectRequest) (*emptypb.Empty, error) {
	id, err := toID(req.Id, "BlockReject: id")
	if err != nil {
		return nil, err
	}
	var refilled bool // the rejected block's txs made the mempool non-empty
	defer func() { v.notifyBuild(ctx, refilled) }()
	v.mu.Lock()
	defer v.mu.Unlock()
	wasEmpty := len(v.mempool.txs) == 0
	defer func() { refilled = wasEmpty && len(v.mempool.txs) > 0 }()
	c, err := v.ready()
	if err != nil {
		return nil, err
	}
	blk, err := c.reject(id)
	if errors.Is(err, errUnknownBlock) {
		return nil, status.Errorf(codes.NotFound, "refvm: BlockReject: %v", err)
	}
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "refvm: BlockReject: %v", err)
	}
	for _, tx := range blk.Txs {
		if _, err := v.mempool.add(tx); err != nil {
			v.logf("refvm: BlockReject %s: tx %q dropped: %v", id, tx.Key, err)
		}
	}
	v.metrics.blocksRejected++
	return &emptypb.Empty{}, nil
}

// GetAncestors returns blk_id's bytes then its ancestors', newest first,
// up to max_blocks_num blocks and max_blocks_size bytes (the first block is
// always included).
func (v *vm) GetAncestors(_ context.Context, req *vmpb.GetAncestorsRequest) (*vmpb.GetAncestorsResponse, error) {
	id, err := toID(req.BlkId, "GetAncestors: blk_id")
	if err != nil {
		return nil, err
	}
	if req.MaxBlocksNum <= 0 {
		return nil, status.Errorf(codes.InvalidArgument, "refvm: GetAncestors: max_blocks_num %d must be positive", req.MaxBlocksNum)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	c, err := v.ready()
	if err != nil {
		return nil, err
	}
	out := &vmpb.GetAncestorsResponse{}
	size := 0
	for len(out.BlksBytes) < int(req.MaxBlocksNum) {
		blk, _, err := c.get(id)
		if errors.Is(err, errUnknownBlock) {
			if len(out.BlksBytes) == 0 {
				return nil, status.Errorf(codes.NotFound, "refvm: GetAncestors: block %s not found", id)
			}
			break
		}
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "refvm: GetAncestors: %v", err)
		}
		if len(out.BlksBytes) > 0 && size+len(blk.Bytes) > int(req.MaxBlocksSize) {
			break
		}
		size += len(blk.Bytes)
		out.BlksBytes = append(out.BlksBytes, blk.Bytes)
		if blk.Height == 0 {
			break
		}
		id = blk.Parent
	}
	return out, nil
}

// GetBlockIDAtHeight answers accepted blocks only; ERROR_NOT_FOUND otherwise.
func (v *vm) GetBlockIDAtHeight(_ context.Context, req *vmpb.GetBlockIDAtHeightRequest) (*vmpb.GetBlockIDAtHeightResponse, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c, err := v.ready()
	if err != nil {
		return nil, err
	}
	id, err := c.idAtHeight(req.Height)
	if errors.Is(err, errUnknownBlock) {
		return &vmpb.GetBlockIDAtHeightResponse{Err: vmpb.Error_ERROR_NOT_FOUND}, nil
	}
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "refvm: GetBlockIDAtHeight: %v", fmt.Errorf("height %d: %w", req.Height, err))
	}
	return &vmpb.GetBlockIDAtHeightResponse{BlkId: id[:]}, nil
}
