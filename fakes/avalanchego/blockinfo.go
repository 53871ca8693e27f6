package avalanchego

import (
	"fmt"
	"time"

	"github.com/ava-labs/avalanchego/ids"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// BlockInfo is what the node caches about a block.
type BlockInfo struct {
	ID        ids.ID
	ParentID  ids.ID
	Height    uint64
	Timestamp time.Time
	Bytes     []byte
}

// ParseBlockInfo checks and converts the block fields every block-carrying
// VM reply shares (ids of 32 bytes, a valid timestamp); what names the reply
// in errors.
func ParseBlockInfo(what string, id, parent []byte, height uint64, ts *timestamppb.Timestamp, b []byte) (BlockInfo, error) {
	bid, err := ids.ToID(id)
	if err != nil {
		return BlockInfo{}, fmt.Errorf("%s: block id: %w", what, err)
	}
	pid, err := ids.ToID(parent)
	if err != nil {
		return BlockInfo{}, fmt.Errorf("%s: parent id: %w", what, err)
	}
	if err := ts.CheckValid(); err != nil {
		return BlockInfo{}, fmt.Errorf("%s: timestamp: %w", what, err)
	}
	return BlockInfo{ID: bid, ParentID: pid, Height: height, Timestamp: ts.AsTime(), Bytes: b}, nil
}
