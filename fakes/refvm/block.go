package refvm

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/ava-labs/avalanchego/ids"
)

const (
	blockVersion = 0x01
	maxKeyLen    = 256
	maxValueLen  = 4096
	maxBlockTxs  = 1024
	headerLen    = 1 + 32 + 8 + 8 + 4
)

// Tx sets Key to Value in the chain state.
type Tx struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// validate checks the size limits of a transaction.
func (tx Tx) validate() error {
	if len(tx.Key) == 0 || len(tx.Key) > maxKeyLen {
		return fmt.Errorf("tx key length %d not in 1..%d", len(tx.Key), maxKeyLen)
	}
	if len(tx.Value) > maxValueLen {
		return fmt.Errorf("tx value length %d exceeds %d", len(tx.Value), maxValueLen)
	}
	return nil
}

// ID is sha256 of the transaction's encoding.
func (tx Tx) ID() ids.ID {
	return ids.ID(sha256.Sum256(appendTx(nil, tx)))
}

func appendTx(b []byte, tx Tx) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(tx.Key)))
	b = append(b, tx.Key...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(tx.Value)))
	return append(b, tx.Value...)
}

// Block is a decoded refvm block. Bytes and ID are filled by newBlock and parseBlock.
type Block struct {
	Parent    ids.ID
	Height    uint64
	Timestamp time.Time // whole seconds
	Txs       []Tx
	Bytes     []byte
	ID        ids.ID
}

// newBlock encodes a block and computes its ID.
func newBlock(parent ids.ID, height uint64, ts time.Time, txs []Tx) *Block {
	b := make([]byte, 0, headerLen)
	b = append(b, blockVersion)
	b = append(b, parent[:]...)
	b = binary.BigEndian.AppendUint64(b, height)
	b = binary.BigEndian.AppendUint64(b, uint64(ts.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(len(txs)))
	for _, tx := range txs {
		b = appendTx(b, tx)
	}
	return &Block{Parent: parent, Height: height, Timestamp: time.Unix(ts.Unix(), 0).UTC(), Txs: txs, Bytes: b, ID: sha256.Sum256(b)}
}

var errTruncated = errors.New("truncated block")

// parseBlock decodes and validates the encoding of b. It does not look at the
// chain: an unknown parent is fine here.
func parseBlock(b []byte) (*Block, error) {
	if len(b) < headerLen {
		return nil, fmt.Errorf("block of %d bytes is shorter than the %d-byte header: %w", len(b), headerLen, errTruncated)
	}
	if b[0] != blockVersion {
		return nil, fmt.Errorf("unknown block version %d", b[0])
	}
	blk := &Block{Bytes: append([]byte(nil), b...), ID: sha256.Sum256(b)}
	copy(blk.Parent[:], b[1:33])
	blk.Height = binary.BigEndian.Uint64(b[33:41])
	secs := binary.BigEndian.Uint64(b[41:49])
	if secs > 1<<62 {
		return nil, fmt.Errorf("block timestamp %d out of range", secs)
	}
	blk.Timestamp = time.Unix(int64(secs), 0).UTC()
	n := binary.BigEndian.Uint32(b[49:53])
	if n > maxBlockTxs {
		return nil, fmt.Errorf("block has %d txs, limit %d", n, maxBlockTxs)
	}
	rest := b[headerLen:]
	for i := uint32(0); i < n; i++ {
		var key, value []byte
		var err error
		if key, rest, err = readField(rest, maxKeyLen); err != nil {
			return nil, fmt.Errorf("tx %d key: %w", i, err)
		}
		if value, rest, err = readField(rest, maxValueLen); err != nil {
			return nil, fmt.Errorf("tx %d value: %w", i, err)
		}
		tx := Tx{Key: string(key), Value: string(value)}
		if err := tx.validate(); err != nil {
			return nil, fmt.Errorf("tx %d: %w", i, err)
		}
		blk.Txs = append(blk.Txs, tx)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%d trailing bytes after the last tx", len(rest))
	}
	return blk, nil
}

func readField(b []byte, limit int) (field, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, errTruncated
	}
	n := binary.BigEndian.Uint32(b)
	if n > uint32(limit) {
		return nil, nil, fmt.Errorf("length %d exceeds %d", n, limit)
	}
	if uint32(len(b)-4) < n {
		return nil, nil, errTruncated
	}
	return b[4 : 4+n], b[4+n:], nil
}

// parseTxs decodes a gossip message: ntx (4 bytes) followed by encoded txs.
func parseTxs(b []byte) ([]Tx, error) {
	if len(b) < 4 {
		return nil, errTruncated
	}
	n := binary.BigEndian.Uint32(b)
	if n > maxBlockTxs {
		return nil, fmt.Errorf("gossip has %d txs, limit %d", n, maxBlockTxs)
	}
	rest := b[4:]
	txs := make([]Tx, 0, n)
	for i := uint32(0); i < n; i++ {
		var key, value []byte
		var err error
		if key, rest, err = readField(rest, maxKeyLen); err != nil {
			return nil, fmt.Errorf("tx %d key: %w", i, err)
		}
		if value, rest, err = readField(rest, maxValueLen); err != nil {
			return nil, fmt.Errorf("tx %d value: %w", i, err)
		}
		tx := Tx{Key: string(key), Value: string(value)}
		if err := tx.validate(); err != nil {
			return nil, fmt.Errorf("tx %d: %w", i, err)
		}
		txs = append(txs, tx)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%d trailing bytes after the last tx", len(rest))
	}
	return txs, nil
}

// encodeTxs is the gossip encoding parsed by parseTxs.
func encodeTxs(txs []Tx) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(txs)))
	for _, tx := range txs {
		b = appendTx(b, tx)
	}
	return b
}
