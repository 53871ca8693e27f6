package refvm

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/ava-labs/avalanchego/database"
	"github.com/ava-labs/avalanchego/ids"
)

// Database keys. Accepted blocks, the height index, the last accepted id and
// the state all live in the node's database; processing blocks only in memory.
var (
	keyLastAccepted = []byte("l")
	prefixBlock     = []byte("b/")
	prefixHeight    = []byte("h/")
	prefixState     = []byte("s/")
)

func blockKey(id ids.ID) []byte { return append(append([]byte(nil), prefixBlock...), id[:]...) }
func heightKey(h uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), prefixHeight...), h)
}
func stateKey(k string) []byte { return append(append([]byte(nil), prefixState...), k...) }

type blockStatus int

const (
	statusProcessing blockStatus = iota // built or parsed, not yet verified
	statusVerified
	statusAccepted
)

func (s blockStatus) String() string {
	return [...]string{"Processing", "Verified", "Accepted"}[s]
}

type entry struct {
	blk    *Block
	status blockStatus
}

// chain holds the accepted chain (in db) and processing blocks (in memory).
// It is not safe for concurrent use; the vm serializes access.
type chain struct {
	db           database.Database
	processing   map[ids.ID]*entry
	lastAccepted *Block
	reported     *Block // what SetState/GetBlockIDAtHeight report (stale-last-accepted freezes it)
	preferred    ids.ID
	variant      string            // the broken variant, "" = correct
	salt         []byte            // local-block-id: mixed into every block id above genesis
	heights      map[uint64]ids.ID // volatile-height-index: the index above genesis, in memory only
	tip          *Block            // build-on-cached-tip: what BuildBlock builds on
}

var errUnknownBlock = errors.New("unknown block")

// openChain loads the chain from db, or writes genesis when db is empty.
// variant is the broken variant ("" = the correct VM).
// salt is the local-block-id variant's node id (nil otherwise).
func openChain(db database.Database, genesis *Block, variant string, salt []byte) (*chain, error) {
	c := &chain{db: db, processing: map[ids.ID]*entry{}, variant: variant, heights: map[uint64]ids.ID{}, salt: salt}
	idBytes, err := db.Get(keyLastAccepted)
	switch {
	case errors.Is(err, database.ErrNotFound):
		if err := c.writeAccepted(genesis, true); err != nil {
			return nil, fmt.Errorf("write genesis: %w", err)
		}
		c.lastAccepted = genesis
	case err != nil:
		return nil, fmt.Errorf("read last accepted: %w", err)
	default:
		stored, err := c.accepted(ids.ID(idBytes))
		if err != nil {
			return nil, fmt.Errorf("load last accepted %x: %w", idBytes, err)
		}
		gid, err := db.Get(heightKey(0))
		if err != nil {
			return nil, fmt.Errorf("read genesis id: %w", err)
		}
		if ids.ID(gid) != genesis.ID {
			return nil, fmt.Errorf("database holds genesis %s, genesis bytes give %s", ids.ID(gid), genesis.ID)
		}
		c.lastAccepted = stored
	}
	c.reported = c.lastAccepted
	c.preferred = c.lastAccepted.ID
	// build-on-cached-tip keeps its building tip in memory, starting from
	// genesis: right until the VM restarts on a chain that has grown.
	c.tip = genesis
	return c, nil
}

// stale: the stale-last-accepted variant never moves what it reports.
func (c *chain) stale() bool { return c.variant == VariantStaleLastAccepted }

// writeAccepted applies blk's txs and records it as last accepted in one batch.
func (c *chain) writeAccepted(blk *Block, index bool) error {
	b := c.db.NewBatch()
	for _, tx := range blk.Txs {
		if err := b.Put(stateKey(tx.Key), []byte(tx.Value)); err != nil {
			return err
		}
	}
	if err := b.Put(blockKey(blk.ID), blk.Bytes); err != nil {
		return err
	}
	switch {
	case index && c.variant == VariantVolatileHeightIndex && blk.Height > 0:
		c.heights[blk.Height] = blk.ID
	case index:
		if err := b.Put(heightKey(blk.Height), blk.ID[:]); err != nil {
			return err
		}
	}
	if err := b.Put(keyLastAccepted, blk.ID[:]); err != nil {
		return err
	}
	return b.Write()
}

// accepted reads an accepted block from the database.
func (c *chain) accepted(id ids.ID) (*Block, error) {
	b, err := c.db.Get(blockKey(id))
	if errors.Is(err, database.ErrNotFound) {
		return nil, errUnknownBlock
	}
	if err != nil {
		return nil, fmt.Errorf("read block %s: %w", id, err)
	}
	blk, err := parseBlock(b)
	if err != nil {
		return nil, err
	}
	return localize(blk, c.salt), nil
}

// localize is the local-block-id variant's bug: with a salt (the node's
// id), a block above genesis gets the id sha256(bytes || salt), so every
// node names the same bytes differently. A nil salt leaves blk alone.
func localize(blk *Block, salt []byte) *Block {
	if salt != nil && blk.Height > 0 {
		blk.ID = sha256.Sum256(append(append([]byte(nil), blk.Bytes...), salt...))
	}
	return blk
}

// get finds a processing or accepted block.
func (c *chain) get(id ids.ID) (*Block, blockStatus, error) {
	if e, ok := c.processing[id]; ok {
		return e.blk, e.status, nil
	}
	blk, err := c.accepted(id)
	if err != nil {
		return nil, 0, err
	}
	return blk, statusAccepted, nil
}

// idAtHeight reads the height index (accepted blocks only).
func (c *chain) idAtHeight(h uint64) (ids.ID, error) {
	if c.variant == VariantVolatileHeightIndex && h > 0 {
		id, ok := c.heights[h]
		if !ok {
			return ids.Empty, errUnknownBlock
		}
		return id, nil
	}
	b, err := c.db.Get(heightKey(h))
	if errors.Is(err, database.ErrNotFound) {
		return ids.Empty, errUnknownBlock
	}
	if err != nil {
		return ids.Empty, fmt.Errorf("read height %d: %w", h, err)
	}
	return ids.ID(b), nil
}

// verify checks blk against its parent; checkParent=false is the
// verify-accepts-invalid variant.
func (c *chain) verify(blk *Block, now time.Time, checkParent bool) error {
	if e, ok := c.processing[blk.ID]; ok && e.status == statusVerified {
		if c.variant == VariantVerifyOnce {
			return fmt.Errorf("block %s is already verified", blk.ID)
		}
		return nil
	}
	if blk.ID == c.lastAccepted.ID {
		if c.variant == VariantVerifyRewindsAccepted {
			return c.rewind(blk)
		}
		return nil
	}
	if checkParent {
		parent, status, err := c.get(blk.Parent)
		if err != nil {
			return fmt.Errorf("parent %s: %w", blk.Parent, err)
		}
		if status == statusProcessing {
			return fmt.Errorf("parent %s is not verified", blk.Parent)
		}
		if status == statusAccepted && parent.ID != c.lastAccepted.ID {
			return fmt.Errorf("parent %s at height %d is accepted but not the last accepted block (height %d)", parent.ID, parent.Height, c.lastAccepted.Height)
		}
		if blk.Height != parent.Height+1 {
			return fmt.Errorf("height %d, parent height %d: want %d", blk.Height, parent.Height, parent.Height+1)
		}
		if blk.Timestamp.Before(parent.Timestamp) {
			return fmt.Errorf("timestamp %s before parent's %s", blk.Timestamp, parent.Timestamp)
		}
	}
	if limit := now.Add(time.Hour); blk.Timestamp.After(limit) {
		return fmt.Errorf("timestamp %s more than an hour ahead of local time %s", blk.Timestamp, now.UTC())
	}
	if len(blk.Txs) == 0 {
		return errors.New("block has no transactions")
	}
	c.processing[blk.ID] = &entry{blk: blk, status: statusVerified}
	if c.variant == VariantHeightIndexAtVerify {
		if err := c.db.Put(heightKey(blk.Height), blk.ID[:]); err != nil {
			return fmt.Errorf("index height %d: %w", blk.Height, err)
		}
	}
	return nil
}

// rewind is the verify-rewinds-accepted variant's BlockVerify of the last
// accepted block: it re-executes the block on top of its parent, so the
// parent becomes last accepted again and the block merely verified, gone
// from the height index.
func (c *chain) rewind(blk *Block) error {
	parent, err := c.accepted(blk.Parent)
	if err != nil {
		return fmt.Errorf("parent %s: %w", blk.Parent, err)
	}
	if err := c.db.Delete(heightKey(blk.Height)); err != nil {
		return fmt.Errorf("unindex height %d: %w", blk.Height, err)
	}
	c.processing[blk.ID] = &entry{blk: blk, status: statusVerified}
	c.lastAccepted, c.reported, c.preferred = parent, parent, parent.ID
	return nil
}

// accept makes a verified block the last accepted one.
func (c *chain) accept(id ids.ID) (*Block, error) {
	if id == c.lastAccepted.ID {
		return c.lastAccepted, nil
	}
	e, ok := c.processing[id]
	if !ok {
		if _, err := c.accepted(id); err == nil {
			return nil, fmt.Errorf("block %s is accepted but is not the last accepted block", id)
		}
		return nil, fmt.Errorf("block %s: %w", id, errUnknownBlock)
	}
	if e.status != statusVerified {
		return nil, fmt.Errorf("block %s is not verified", id)
	}
	if e.blk.Parent != c.lastAccepted.ID {
		return nil, fmt.Errorf("block %s: parent %s is not the last accepted block %s", id, e.blk.Parent, c.lastAccepted.ID)
	}
	if err := c.writeAccepted(e.blk, !c.stale()); err != nil {
		return nil, fmt.Errorf("accept block %s: %w", id, err)
	}
	delete(c.processing, id)
	c.lastAccepted, c.tip = e.blk, e.blk
	if !c.stale() {
		c.reported = e.blk
	}
	return e.blk, nil
}

// reject drops a processing block and returns it (its txs go back to the mempool).
func (c *chain) reject(id ids.ID) (*Block, error) {
	e, ok := c.processing[id]
	if !ok {
		if _, err := c.accepted(id); err == nil {
			return nil, fmt.Errorf("block %s is accepted and cannot be rejected", id)
		}
		return nil, fmt.Errorf("block %s: %w", id, errUnknownBlock)
	}
	delete(c.processing, id)
	if c.preferred == id {
		c.preferred = c.lastAccepted.ID
	}
	if c.variant == VariantAcceptOnReject {
		if parent, err := c.accepted(e.blk.Parent); err == nil && parent.Height+1 == e.blk.Height {
			// The bug: the rejected block becomes this VM's block at its height.
			if err := c.writeAccepted(e.blk, true); err != nil {
				return nil, fmt.Errorf("reject block %s: %w", id, err)
			}
			c.lastAccepted, c.reported, c.tip = e.blk, e.blk, e.blk
		}
	}
	return e.blk, nil
}

// stateHash is sha256 over the accepted state in key order.
func (c *chain) stateHash() (ids.ID, []Tx, error) {
	it := c.db.NewIteratorWithPrefix(prefixState)
	defer it.Release()
	h := sha256.New()
	var entries []Tx
	for it.Next() {
		tx := Tx{Key: string(it.Key()[len(prefixState):]), Value: string(it.Value())}
		entries = append(entries, tx)
		h.Write(appendTx(nil, tx))
	}
	if err := it.Error(); err != nil {
		return ids.Empty, nil, fmt.Errorf("iterate state: %w", err)
	}
	return ids.ID(h.Sum(nil)), entries, nil
}
