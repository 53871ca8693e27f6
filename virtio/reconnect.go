package virtio

import (
	"context"
	"fmt"
	"time"

	"github.com/vmtestbed/vmtestbed/sim"
)

// ReconnectPolicy says how a Client reopens a channel whose far end went away: up to MaxAttempts
// Connect calls, waiting Initial, Initial*Multiplier, ... (at most Max) between them.
type ReconnectPolicy struct {
	MaxAttempts int
	Initial     time.Duration
	Max         time.Duration
	Multiplier  float64
	// Clock's Sleep is the wait between attempts; nil is the wall clock.
	// Tests inject one that needs no time.
	Clock sim.Clock
}

// DefaultReconnect tries 5 times, waiting 10 ms, 20 ms, 40 ms, 80 ms.
var DefaultReconnect = ReconnectPolicy{MaxAttempts: 5, Initial: 10 * time.Millisecond, Max: time.Second, Multiplier: 2}

// NoReconnect connects once and never waits.
var NoReconnect = ReconnectPolicy{MaxAttempts: 1}

// Backoff returns the wait before attempt n+1 (n counts from 0).
func (p ReconnectPolicy) Backoff(n int) time.Duration {
	d := p.Initial
	m := p.Multiplier
	if m < 1 {
		m = 1
	}
	for range n {
		d = time.Duration(float64(d) * m)
		if p.Max > 0 && d >= p.Max {
			return p.Max
		}
	}
	if p.Max > 0 && d > p.Max {
		return p.Max
	}
	return d
}

// connect opens ch, retrying by the policy. The error wraps the last Connect error.
func (p ReconnectPolicy) connect(ctx context.Context, ch Channel) error {
	attempts := max(p.MaxAttempts, 1)
	clock := p.Clock
	if clock == nil {
		clock = sim.RealClock{}
	}
	var err error
	for n := range attempts {
		if err = ch.Connect(ctx); err == nil {
			return nil
		}
		if n == attempts-1 {
			break
		}
		if werr := clock.Sleep(ctx, p.Backoff(n)); werr != nil {
			return fmt.Errorf("reconnect %s: %w (last error: %w)", ch.Name(), werr, err)
		}
	}
	return fmt.Errorf("reconnect %s: gave up after %d attempts: %w", ch.Name(), attempts, err)
}
