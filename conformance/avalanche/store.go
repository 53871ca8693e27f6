package avalanche

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/ava-labs/avalanchego/database"
	"github.com/ava-labs/avalanchego/database/leveldb"
	"github.com/ava-labs/avalanchego/database/memdb"
	"github.com/ava-labs/avalanchego/utils/logging"
	"github.com/prometheus/client_golang/prometheus"
)

// store is a chain's database as the node keeps it on disk: it outlives
// the plugin and the node serving it, so a relaunched plugin finds its
// chain ([AVA-RST-*]). Every launch serves it through its own watchedDB.
type store struct {
	mu   sync.Mutex
	db   database.Database
	refs int
}

// newStore is an in-memory database, or a leveldb in dir when dir is set.
func newStore(dir string) (*store, error) {
	if dir == "" {
		return &store{db: memdb.New()}, nil
	}
	db, err := leveldb.New(dir, nil, logging.NoLog{}, prometheus.NewRegistry())
	if err != nil {
		return nil, fmt.Errorf("open leveldb at %s: %w", dir, err)
	}
	return &store{db: db}, nil
}

// open is the store as served to one launch.
func (s *store) open() *watchedDB {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs++
	return &watchedDB{Database: s.db}
}

// release ends one launch's use; the last one closes the store.
func (s *store) release() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs--
	if s.refs > 0 {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close the chain database: %w", err)
	}
	return nil
}

// watchedDB is the chain's database as one plugin launch sees it through
// the node's rpcdb server: Close closes only this view (the node's files
// stay for a restart), and once sealed (Shutdown returned) it records
// every call the plugin still makes ([AVA-SHD-003]).
type watchedDB struct {
	database.Database

	mu     sync.Mutex
	closed bool
	sealed bool
	late   []string // calls after the seal
}

// seal marks the moment Shutdown returned.
func (w *watchedDB) seal() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sealed = true
}

// lateCalls are the calls made after the seal.
func (w *watchedDB) lateCalls() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.late)
}

// use records a call and reports whether the view is closed.
func (w *watchedDB) use(op string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sealed {
		w.late = append(w.late, op)
	}
	if w.closed {
		return database.ErrClosed
	}
	return nil
}

func (w *watchedDB) Has(k []byte) (bool, error) {
	if err := w.use("Has"); err != nil {
		return false, err
	}
	return w.Database.Has(k)
}

func (w *watchedDB) Get(k []byte) ([]byte, error) {
	if err := w.use("Get"); err != nil {
		return nil, err
	}
	return w.Database.Get(k)
}

func (w *watchedDB) Put(k, v []byte) error {
	if err := w.use("Put"); err != nil {
		return err
	}
	return w.Database.Put(k, v)
}

func (w *watchedDB) Delete(k []byte) error {
	if err := w.use("Delete"); err != nil {
		return err
	}
	return w.Database.Delete(k)
}

func (w *watchedDB) NewBatch() database.Batch {
	_ = w.use("NewBatch") // a closed view's batch fails on Write
	return &watchedBatch{Batch: w.Database.NewBatch(), w: w}
}

func (w *watchedDB) NewIterator() database.Iterator {
	return w.NewIteratorWithStartAndPrefix(nil, nil)
}

func (w *watchedDB) NewIteratorWithStart(start []byte) database.Iterator {
	return w.NewIteratorWithStartAndPrefix(start, nil)
}

func (w *watchedDB) NewIteratorWithPrefix(prefix []byte) database.Iterator {
	return w.NewIteratorWithStartAndPrefix(nil, prefix)
}

func (w *watchedDB) NewIteratorWithStartAndPrefix(start, prefix []byte) database.Iterator {
	if err := w.use("NewIterator"); err != nil {
		return &database.IteratorError{Err: err}
	}
	return w.Database.NewIteratorWithStartAndPrefix(start, prefix)
}

func (w *watchedDB) Compact(start, limit []byte) error {
	if err := w.use("Compact"); err != nil {
		return err
	}
	return w.Database.Compact(start, limit)
}

func (w *watchedDB) HealthCheck(ctx context.Context) (any, error) {
	if err := w.use("HealthCheck"); err != nil {
		return nil, err
	}
	return w.Database.HealthCheck(ctx)
}

// Close closes this launch's view only.
func (w *watchedDB) Close() error {
	if err := w.use("Close"); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	return nil
}

// watchedBatch writes through its view.
type watchedBatch struct {
	database.Batch
	w *watchedDB
}

func (b *watchedBatch) Write() error {
	if err := b.w.use("WriteBatch"); err != nil {
		return err
	}
	return b.Batch.Write()
}

func (b *watchedBatch) Inner() database.Batch { return b }
