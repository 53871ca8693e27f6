package avalanchego

import (
	"sync"

	"github.com/ava-labs/avalanchego/ids"
)

// blockCache is the node's block cache, as AvalancheGo's chain.State keeps
// it in front of the VM: blocks by id (from Initialize, SetState,
// BuildBlock and ParseBlock replies) and ids by bytes (ParseBlock replies
// only), so the same bytes are parsed by the VM once.
type blockCache struct {
	mu      sync.Mutex
	byID    map[ids.ID]BlockInfo
	byBytes map[string]ids.ID
}

func (c *blockCache) put(b BlockInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID == nil {
		c.byID = map[ids.ID]BlockInfo{}
	}
	c.byID[b.ID] = b
}

// parsed records what ParseBlock said about b.Bytes.
func (c *blockCache) parsed(b BlockInfo) {
	c.put(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byBytes == nil {
		c.byBytes = map[string]ids.ID{}
	}
	c.byBytes[string(b.Bytes)] = b.ID
}

// lookupBytes answers a ParseBlock of bytes parsed before.
func (c *blockCache) lookupBytes(b []byte) (BlockInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.byBytes[string(b)]
	if !ok {
		return BlockInfo{}, false
	}
	blk, ok := c.byID[id]
	return blk, ok
}
