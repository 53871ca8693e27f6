package sim

import (
	"context"
	"fmt"
	"time"
)

// Clock is the one clock interface of the module: every component that needs
// time takes one. RealClock is the wall clock; a World's Clock is virtual.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f once d has passed: in its own goroutine (RealClock)
	// or inside the world's Run (virtual), and returns a handle to cancel it.
	AfterFunc(d time.Duration, f func()) Timer
	// Sleep waits until d has passed on this clock or ctx ends (then it
	// returns ctx's error). It replaces time.Sleep. On a virtual clock it
	// must not be called from a world callback.
	Sleep(ctx context.Context, d time.Duration) error
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop cancels the call; it reports whether the call was still pending.
	Stop() bool
}

// RealClock is wall-clock time.
type RealClock struct{}

var _ Clock = RealClock{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (RealClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Sleep waits d of wall time or until ctx ends.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sleep %s: %w", d, ctx.Err())
	}
}

// NowFunc is a clock that reads its time from a function (a test's stepping
// or fixed clock); its timers and Sleep run on the wall clock.
type NowFunc func() time.Time

var _ Clock = NowFunc(nil)

// Now calls f.
func (f NowFunc) Now() time.Time { return f() }

// AfterFunc is RealClock's.
func (NowFunc) AfterFunc(d time.Duration, fn func()) Timer { return RealClock{}.AfterFunc(d, fn) }

// Sleep is RealClock's.
func (NowFunc) Sleep(ctx context.Context, d time.Duration) error { return RealClock{}.Sleep(ctx, d) }

// SleepOn is Sleep on any clock that only offers AfterFunc: it waits for the
// timer's call or ctx.
func SleepOn(ctx context.Context, c interface {
	AfterFunc(time.Duration, func()) Timer
}, d time.Duration) error {
	done := make(chan struct{})
	t := c.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		t.Stop()
		return fmt.Errorf("sleep %s: %w", d, ctx.Err())
	}
}

// virtualClock is a World's clock: time is the world's, timers are items in
// its queue.
type virtualClock struct{ w *World }

var _ Clock = virtualClock{}

func (c virtualClock) Now() time.Time { return c.w.Now() }

func (c virtualClock) AfterFunc(d time.Duration, f func()) Timer {
	return c.w.After(d, f)
}

func (c virtualClock) Sleep(ctx context.Context, d time.Duration) error { return SleepOn(ctx, c, d) }
