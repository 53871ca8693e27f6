package refvm

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/ava-labs/avalanchego/ids"
	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
)

// maxMempool bounds the number of pending transactions.
const maxMempool = 4096

// mempool is an ordered set of pending txs. notify is closed and replaced
// whenever txs arrive, waking every WaitForEvent waiter. The vm's mutex guards it.
type mempool struct {
	txs    []Tx
	ids    map[ids.ID]bool
	notify chan struct{}
}

func newMempool() *mempool {
	return &mempool{ids: map[ids.ID]bool{}, notify: make(chan struct{})}
}

// add queues tx; it reports false when tx is already pending and an error when full.
func (m *mempool) add(tx Tx) (bool, error) {
	id := tx.ID()
	if m.ids[id] {
		return false, nil
	}
	if len(m.txs) >= maxMempool {
		return false, status.Errorf(codes.ResourceExhausted, "mempool full (%d txs)", maxMempool)
	}
	m.ids[id] = true
	m.txs = append(m.txs, tx)
	m.wake()
	return true, nil
}

// take removes up to n txs from the front.
func (m *mempool) take(n int) []Tx {
	n = min(n, len(m.txs))
	out := append([]Tx(nil), m.txs[:n]...)
	m.txs = append([]Tx(nil), m.txs[n:]...)
	for _, tx := range out {
		delete(m.ids, tx.ID())
	}
	return out
}

// remove drops txs that a block accepted (gossip may have put them here).
func (m *mempool) remove(txs []Tx) {
	gone := map[ids.ID]bool{}
	for _, tx := range txs {
		if id := tx.ID(); m.ids[id] {
			gone[id] = true
			delete(m.ids, id)
		}
	}
	if len(gone) == 0 {
		return
	}
	kept := m.txs[:0:0]
	for _, tx := range m.txs {
		if !gone[tx.ID()] {
			kept = append(kept, tx)
		}
	}
	m.txs = kept
}

func (m *mempool) wake() {
	close(m.notify)
	m.notify = make(chan struct{})
}

// WaitForEvent blocks until the mempool is non-empty (BUILD_BLOCK), the call
// is cancelled (its ctx error as a gRPC status) or the VM shuts down.
// Any number of waiters may be pending at once.
func (v *vm) WaitForEvent(ctx context.Context, _ *emptypb.Empty) (*vmpb.WaitForEventResponse, error) {
	shutdown := v.shutdown
	if v.cfg.Variant == VariantShutdownAwaitsEvents {
		v.eventStarted()
		defer v.eventDone()
		shutdown = nil // the bug: Shutdown does not end a pending WaitForEvent
	}
	for {
		v.mu.Lock()
		if _, err := v.ready(); err != nil {
			v.mu.Unlock()
			return nil, err
		}
		if len(v.mempool.txs) > 0 {
			v.mu.Unlock()
			return &vmpb.WaitForEventResponse{Message: vmpb.Message_MESSAGE_BUILD_BLOCK}, nil
		}
		notify := v.mempool.notify
		v.mu.Unlock()
		select {
		case <-notify:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-shutdown:
			return nil, status.Error(codes.Unavailable, "refvm: VM is shut down")
		}
	}
}
