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

	"github.com/ava-labs/avalanchego/ids"
	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
)

// A state summary carries everything needed to jump to a block: the block
// itself and the full accepted state after it, with its hash. Encoding:
// version 0x01 | height 8 | blocklen 4 | block | statehash 32 | n 4 | n entries
// (same entry encoding as txs). Its ID is sha256 of the bytes.
// Syncing is static: StateSummaryAccept applies the summary before returning.
type summary struct {
	Height    uint64
	Block     *Block
	StateHash ids.ID
	State     []Tx
	Bytes     []byte
	ID        ids.ID
}

const maxSummaryEntries = 1 << 20

func newSummary(blk *Block, hash ids.ID, state []Tx) *summary {
	b := []byte{0x01}
	b = binary.BigEndian.AppendUint64(b, blk.Height)
	b = binary.BigEndian.AppendUint32(b, uint32(len(blk.Bytes)))
	b = append(b, blk.Bytes...)
	b = append(b, hash[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(state)))
	for _, tx := range state {
		b = appendTx(b, tx)
	}
	return &summary{Height: blk.Height, Block: blk, StateHash: hash, State: state, Bytes: b, ID: sha256.Sum256(b)}
}

func parseSummary(b []byte) (*summary, error) {
	if len(b) < 1+8+4 || b[0] != 0x01 {
		return nil, errors.New("not a refvm state summary")
	}
	height := binary.BigEndian.Uint64(b[1:9])
	blkBytes, rest, err := readField(b[9:], len(b))
	if err != nil {
		return nil, fmt.Errorf("summary block: %w", err)
	}
	blk, err := parseBlock(blkBytes)
	if err != nil {
		return nil, fmt.Errorf("summary block: %w", err)
	}
	if blk.Height != height {
		return nil, fmt.Errorf("summary height %d but its block has height %d", height, blk.Height)
	}
	if len(rest) < 32+4 {
		return nil, errTruncated
	}
	hash := ids.ID(rest[:32])
	n := binary.BigEndian.Uint32(rest[32:36])
	if n > maxSummaryEntries {
		return nil, fmt.Errorf("summary has %d state entries, limit %d", n, maxSummaryEntries)
	}
	rest = rest[36:]
	h := sha256.New()
	state := make([]Tx, 0, min(n, 1024))
	for i := uint32(0); i < n; i++ {
		var k, v []byte
		if k, rest, err = readField(rest, maxKeyLen); err != nil {
			return nil, fmt.Errorf("summary entry %d: %w", i, err)
		}
		if v, rest, err = readField(rest, maxValueLen); err != nil {
			return nil, fmt.Errorf("summary entry %d: %w", i, err)
		}
		tx := Tx{Key: string(k), Value: string(v)}
		state = append(state, tx)
		h.Write(appendTx(nil, tx))
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%d trailing bytes in summary", len(rest))
	}
	if ids.ID(h.Sum(nil)) != hash {
		return nil, errors.New("summary state does not match its state hash")
	}
	return &summary{Height: height, Block: blk, StateHash: hash, State: state, Bytes: append([]byte(nil), b...), ID: sha256.Sum256(b)}, nil
}

func (v *vm) StateSyncEnabled(context.Context, *emptypb.Empty) (*vmpb.StateSyncEnabledResponse, error) {
	return &vmpb.StateSyncEnabledResponse{Enabled: v.cfg.StateSync}, nil
}

// syncChain returns the chain when state sync is on, or errOff.
func (v *vm) syncChain() (*chain, vmpb.Error, error) {
	c, err := v.ready()
	if err != nil {
		return nil, 0, err
	}
	if !v.cfg.StateSync {
		return nil, vmpb.Error_ERROR_STATE_SYNC_NOT_IMPLEMENTED, nil
	}
	return c, 0, nil
}

// lastSummary is the summary of the last accepted block.
func (v *vm) lastSummary(c *chain) (*summary, error) {
	hash, state, err := c.stateHash()
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "refvm: state summary: %v", err)
	}
	return newSummary(c.lastAccepted, hash, state), nil
}

func (v *vm) GetOngoingSyncStateSummary(context.Context, *emptypb.Empty) (*vmpb.GetOngoingSyncStateSummaryResponse, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, e, err := v.syncChain(); err != nil || e != 0 {
		return &vmpb.GetOngoingSyncStateSummaryResponse{Err: e}, err
	}
	// Syncing is static, so no sync is ever left half done.
	return &vmpb.GetOngoingSyncStateSummaryResponse{Err: vmpb.Error_ERROR_NOT_FOUND}, nil
}

func (v *vm) GetLastStateSummary(context.Context, *emptypb.Empty) (*vmpb.GetLastStateSummaryResponse, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c, e, err := v.syncChain()
	if err != nil || e != 0 {
		return &vmpb.GetLastStateSummaryResponse{Err: e}, err
	}
	s, err := v.lastSummary(c)
	if err != nil {
		return nil, err
	}
	return &vmpb.GetLastStateSummaryResponse{Id: s.ID[:], Height: s.Height, Bytes: s.Bytes}, nil
}

func (v *vm) ParseStateSummary(_ context.Context, req *vmpb.ParseStateSummaryRequest) (*vmpb.ParseStateSummaryResponse, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, e, err := v.syncChain(); err != nil || e != 0 {
		return &vmpb.ParseStateSummaryResponse{Err: e}, err
	}
	s, err := parseSummary(req.Bytes)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "refvm: ParseStateSummary: %v", err)
	}
	return &vmpb.ParseStateSummaryResponse{Id: s.ID[:], Height: s.Height}, nil
}

// GetStateSummary serves the summary at the last accepted height only (refvm
// keeps no historical state); other heights are ERROR_NOT_FOUND.
func (v *vm) GetStateSummary(_ context.Context, req *vmpb.GetStateSummaryRequest) (*vmpb.GetStateSummaryResponse, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c, e, err := v.syncChain()
	if err != nil || e != 0 {
		return &vmpb.GetStateSummaryResponse{Err: e}, err
	}
	if req.Height != c.lastAccepted.Height {
		return &vmpb.GetStateSummaryResponse{Err: vmpb.Error_ERROR_NOT_FOUND}, nil
	}
	s, err := v.lastSummary(c)
	if err != nil {
		return nil, err
	}
	return &vmpb.GetStateSummaryResponse{Id: s.ID[:], Bytes: s.Bytes}, nil
}

// StateSummaryAccept skips summaries at or below the local height and
// otherwise replaces the state and last accepted block with the summary's.
func (v *vm) StateSummaryAccept(_ context.Context, req *vmpb.StateSummaryAcceptRequest) (*vmpb.StateSummaryAcceptResponse, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c, e, err := v.syncChain()
	if err != nil || e != 0 {
		return &vmpb.StateSummaryAcceptResponse{Err: e}, err
	}
	s, err := parseSummary(req.Bytes)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "refvm: StateSummaryAccept: %v", err)
	}
	if s.Height <= c.lastAccepted.Height {
		return &vmpb.StateSummaryAcceptResponse{Mode: vmpb.StateSummaryAcceptResponse_MODE_SKIPPED}, nil
	}
	if err := c.applySummary(s); err != nil {
		return nil, status.Errorf(codes.Unavailable, "refvm: StateSummaryAccept: %v", err)
	}
	return &vmpb.StateSummaryAcceptResponse{Mode: vmpb.StateSummaryAcceptResponse_MODE_STATIC}, nil
}

// applySummary replaces the state and makes the summary's block last accepted.
func (c *chain) applySummary(s *summary) error {
	_, old, err := c.stateHash()
	if err != nil {
		return err
	}
	b := c.db.NewBatch()
	for _, tx := range old {
		if err := b.Delete(stateKey(tx.Key)); err != nil {
			return err
		}
	}
	for _, tx := range s.State {
		if err := b.Put(stateKey(tx.Key), []byte(tx.Value)); err != nil {
			return err
		}
	}
	blk := s.Block
	for _, kv := range [][2][]byte{{blockKey(blk.ID), blk.Bytes}, {heightKey(blk.Height), blk.ID[:]}, {keyLastAccepted, blk.ID[:]}} {
		if err := b.Put(kv[0], kv[1]); err != nil {
			return err
		}
	}
	if err := b.Write(); err != nil {
		return fmt.Errorf("write summary at height %d: %w", s.Height, err)
	}
	c.processing = map[ids.ID]*entry{}
	c.lastAccepted, c.reported, c.preferred = blk, blk, blk.ID
	return nil
}
