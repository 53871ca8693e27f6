package sim

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// DefaultEpoch is virtual time zero when Config.Epoch is unset.
var DefaultEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Config configures a World.
type Config struct {
	Seed  int64
	Epoch time.Time // virtual time zero; zero value = DefaultEpoch
}

// World is one seeded, single-threaded simulation: its queue, clock,
// random source, trace, network, faults and invariants.
type World struct {
	seed  int64
	epoch time.Time
	rng   *rand.Rand

	mu    sync.Mutex // guards queue, now, seq (timers may be set from other goroutines)
	now   time.Duration
	seq   uint64
	queue itemHeap

	trace      *Trace
	net        *Net
	faults     *Faults
	invariants *Invariants
	stopErr    error
}

// New builds a world.
func New(cfg Config) *World {
	if cfg.Epoch.IsZero() {
		cfg.Epoch = DefaultEpoch
	}
	w := &World{seed: cfg.Seed, epoch: cfg.Epoch, rng: NewRand(cfg.Seed)}
	w.trace = newTrace(w.Elapsed)
	w.faults = newFaults(w)
	w.net = newNet(w)
	w.invariants = newInvariants(w)
	return w
}

// Seed is the world's seed.
func (w *World) Seed() int64 { return w.seed }

// Rand is the world's seeded source. Use it only from world callbacks or
// the goroutine that drives Run, so draws happen in a fixed order.
func (w *World) Rand() *rand.Rand { return w.rng }

// Clock is the world's virtual clock.
func (w *World) Clock() Clock { return virtualClock{w} }

// Trace is the world's event trace.
func (w *World) Trace() *Trace { return w.trace }

// Net is the world's network of named endpoints.
func (w *World) Net() *Net { return w.net }

// Faults is the world's fault points.
func (w *World) Faults() *Faults { return w.faults }

// Invariants is the world's invariant checker.
func (w *World) Invariants() *Invariants { return w.invariants }

// Elapsed is the virtual time since the epoch.
func (w *World) Elapsed() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

// Now is the virtual wall time: Epoch + Elapsed.
func (w *World) Now() time.Time { return w.epoch.Add(w.Elapsed()) }

// Item is one scheduled piece of work.
type Item struct {
	w     *World
	at    time.Duration
	seq   uint64
	f     func()
	index int // in the heap; -1 once run or stopped
}

// Stop removes the item from the queue; it reports whether it was pending.
func (it *Item) Stop() bool {
	it.w.mu.Lock()
	defer it.w.mu.Unlock()
	if it.index < 0 {
		return false
	}
	heap.Remove(&it.w.queue, it.index)
	it.index = -1
	return true
}

// At schedules f at virtual time t (since the epoch); a time in the past
// means now. Items at the same time run in the order they were scheduled.
func (w *World) At(t time.Duration, f func()) *Item {
	w.mu.Lock()
	defer w.mu.Unlock()
	if t < w.now {
		t = w.now
	}
	w.seq++
	it := &Item{w: w, at: t, seq: w.seq, f: f}
	heap.Push(&w.queue, it)
	return it
}

// After schedules f d after now.
func (w *World) After(d time.Duration, f func()) *Item {
	return w.At(w.Elapsed()+d, f)
}

// Pending is the number of queued items.
func (w *World) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue)
}

// ErrStopped is returned by Run after Stop(nil).
var ErrStopped = errors.New("world stopped")

// Stop ends the current Run after the running item; err (nil = ErrStopped)
// is what Run returns. The first stop wins.
func (w *World) Stop(err error) {
	if err == nil {
		err = ErrStopped
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopErr == nil {
		w.stopErr = err
	}
}

// Err is why the world stopped, or nil.
func (w *World) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stopErr
}

// step runs the next item due at or before limit; false when there is none.
func (w *World) step(limit time.Duration) bool {
	w.mu.Lock()
	if len(w.queue) == 0 || w.queue[0].at > limit || w.stopErr != nil {
		w.mu.Unlock()
		return false
	}
	it := heap.Pop(&w.queue).(*Item)
	it.index = -1
	w.now = it.at
	w.mu.Unlock()
	it.f()
	w.invariants.checkAll()
	return true
}

// RunUntil runs every item due up to virtual time t, then sets the clock
// to t. It stops early, returning the error, when a callback or an
// invariant stops the world.
func (w *World) RunUntil(t time.Duration) error {
	for w.step(t) {
	}
	if err := w.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	if t > w.now {
		w.now = t
	}
	w.mu.Unlock()
	return nil
}

// RunFor runs for d of virtual time.
func (w *World) RunFor(d time.Duration) error { return w.RunUntil(w.Elapsed() + d) }

// RunUntilIdle runs until the queue is empty, or until virtual time limit
// (since the epoch) is reached with work left, which is an error.
func (w *World) RunUntilIdle(limit time.Duration) error {
	for w.step(limit) {
	}
	if err := w.Err(); err != nil {
		return err
	}
	if n := w.Pending(); n > 0 {
		return fmt.Errorf("world not idle at %s: %d items queued", limit, n)
	}
	return nil
}

// RunWhile runs items (up to virtual time limit) while cond() holds; it
// reports an error when the limit is reached or the queue empties first.
func (w *World) RunWhile(limit time.Duration, cond func() bool) error {
	for cond() {
		if !w.step(limit) {
			if err := w.Err(); err != nil {
				return err
			}
			return fmt.Errorf("condition still holds at virtual time %s (%d items queued)", w.Elapsed(), w.Pending())
		}
	}
	return w.Err()
}

type itemHeap []*Item

func (h itemHeap) Len() int { return len(h) }
func (h itemHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h itemHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *itemHeap) Push(x any) {
	it := x.(*Item)
	it.index = len(*h)
	*h = append(*h, it)
}
func (h *itemHeap) Pop() any {
	old := *h
	n := len(old)
	it := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return it
}
