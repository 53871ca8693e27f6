package hypervisor

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/vmtestbed/vmtestbed/sim"
)

// Clock is the fake's only source of time: lease expiry, provisioning steps
// and timestamps all go through it, so tests drive time with a ManualClock.
// It is the module's one clock interface, sim.Clock: Now, AfterFunc (in its
// own goroutine for RealClock, inside Advance for ManualClock) and Sleep.
type Clock = sim.Clock

// Timer is a pending AfterFunc call (sim.Timer).
type Timer = sim.Timer

// RealClock is wall-clock time (sim.RealClock).
type RealClock = sim.RealClock

var (
	_ Clock = (*ManualClock)(nil)
	_ Clock = (*OffsetClock)(nil)
)

// ManualClock only moves when Advance is called. Due timers run synchronously
// inside Advance, in deadline order, without the clock's lock held (so they
// may call back into the clock).
type ManualClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers []*manualTimer
}

// NewManualClock starts at start.
func NewManualClock(start time.Time) *ManualClock { return &ManualClock{now: start} }

type manualTimer struct {
	c    *ManualClock
	at   time.Time
	seq  uint64
	f    func()
	done bool
}

// Now returns the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f for Now()+d. A d <= 0 timer runs at the next Advance.
func (c *ManualClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &manualTimer{c: c, at: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

// Sleep waits until Advance has moved the clock d ahead, or ctx ends.
func (c *ManualClock) Sleep(ctx context.Context, d time.Duration) error {
	return sim.SleepOn(ctx, c, d)
}

// Stop cancels t.
func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.done {
		return false
	}
	t.done = true
	t.c.timers = slices.DeleteFunc(t.c.timers, func(x *manualTimer) bool { return x == t })
	return true
}

// Pending reports how many timers wait to fire.
func (c *ManualClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Advance moves time forward by d and runs every timer that falls due,
// including timers that due callbacks schedule within the window.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *manualTimer
		for _, t := range c.timers {
			if !t.at.After(target) && (next == nil || t.at.Before(next.at) || (t.at.Equal(next.at) && t.seq < next.seq)) {
				next = t
			}
		}
		if next == nil {
			c.now = target
			c.mu.Unlock()
			return
		}
		next.done = true
		c.timers = slices.DeleteFunc(c.timers, func(x *manualTimer) bool { return x == next })
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.mu.Unlock()
		next.f()
	}
}

// OffsetClock is wall-clock time that can also jump forward: Advance adds to
// an offset and runs, before it returns, every timer that falls due. It lets
// a conformance run check leases of many seconds at once while provisioning
// and everything else keeps real time.
type OffsetClock struct {
	mu     sync.Mutex
	offset time.Duration
	timers []*offsetTimer
}

type offsetTimer struct {
	c    *OffsetClock
	at   time.Time
	real *time.Timer
	f    func()
	once sync.Once
}

// Now returns time.Now() plus every Advance so far.
func (c *OffsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// AfterFunc calls f once d has passed, in real time or through Advance.
func (c *OffsetClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &offsetTimer{c: c, at: time.Now().Add(c.offset + d), f: f}
	t.real = time.AfterFunc(d, t.fire)
	c.timers = append(c.timers, t)
	return t
}

// Sleep waits d, in real time or through Advance, or until ctx ends.
func (c *OffsetClock) Sleep(ctx context.Context, d time.Duration) error {
	return sim.SleepOn(ctx, c, d)
}

func (t *offsetTimer) fire() {
	t.once.Do(func() {
		t.c.remove(t)
		t.f()
	})
}

func (c *OffsetClock) remove(t *offsetTimer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timers = slices.DeleteFunc(c.timers, func(x *offsetTimer) bool { return x == t })
}

// Stop cancels the call; it reports whether the call was still pending.
func (t *offsetTimer) Stop() bool {
	t.real.Stop()
	stopped := false
	t.once.Do(func() { stopped = true })
	if stopped {
		t.c.remove(t)
	}
	return stopped
}

// Advance moves the clock forward by d and runs the timers that fall due, in
// deadline order, before it returns.
func (c *OffsetClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	now := time.Now().Add(c.offset)
	var due []*offsetTimer
	for _, t := range c.timers {
		if !t.at.After(now) {
			due = append(due, t)
		}
	}
	c.mu.Unlock()
	slices.SortFunc(due, func(a, b *offsetTimer) int { return a.at.Compare(b.at) })
	for _, t := range due {
		t.real.Stop()
		t.fire()
	}
}
