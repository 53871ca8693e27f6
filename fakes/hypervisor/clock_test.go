package hypervisor

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestOffsetClock(t *testing.T) {
	var c OffsetClock
	start := c.Now()
	var fired, stopped atomic.Int32
	c.AfterFunc(time.Hour, func() { fired.Add(1) })
	tm := c.AfterFunc(2*time.Hour, func() { stopped.Add(1) })
	c.Advance(30 * time.Minute)
	if fired.Load() != 0 {
		t.Fatal("a 1h timer fired after 30m")
	}
	c.Advance(31 * time.Minute)
	if fired.Load() != 1 {
		t.Fatalf("the 1h timer fired %d times after 61m, want 1", fired.Load())
	}
	if !tm.Stop() || tm.Stop() {
		t.Fatal("Stop of a pending timer must report true once")
	}
	c.Advance(2 * time.Hour)
	if stopped.Load() != 0 {
		t.Fatal("a stopped timer fired")
	}
	if got := c.Now().Sub(start); got < 3*time.Hour+time.Minute {
		t.Fatalf("Now moved %s, want at least 3h1m", got)
	}
	done := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(done) })
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a 1ms timer did not fire in real time")
	}
}
