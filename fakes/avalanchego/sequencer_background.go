package avalanchego

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"
)

// healthState is what the Health loop saw last.
type healthState struct {
	checks  int
	details []byte
	err     error
}

// HealthChecks reports how many periodic health checks ran and the last
// one's details or error.
func (s *Sequencer) HealthChecks() (n int, details []byte, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.health.checks, s.health.details, s.health.err
}

// startBackground starts the Health loop (and the Gather loop when
// GatherPeriod is set); Stop ends them.
func (s *Sequencer) startBackground() {
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.bgCancel = cancel
	s.mu.Unlock()
	period := s.HealthPeriod
	if period == 0 {
		period = DefaultHealthPeriod
	}
	if period > 0 {
		s.every(ctx, period, func(ctx context.Context) {
			details, err := s.Health(ctx)
			s.mu.Lock()
			s.health = healthState{checks: s.health.checks + 1, details: details, err: err}
			s.mu.Unlock()
		})
	}
	if s.GatherPeriod > 0 {
		s.every(ctx, s.GatherPeriod, func(ctx context.Context) {
			// A failed scrape is the metrics reader's problem, not the chain's.
			_, _ = s.Plugin.VM.Gather(ctx, &emptypb.Empty{})
		})
	}
}

// every runs f each period until ctx ends.
func (s *Sequencer) every(ctx context.Context, period time.Duration, f func(context.Context)) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				f(ctx)
			case <-ctx.Done():
				return
			}
		}
	}()
}

func (s *Sequencer) stopBackground() {
	s.mu.Lock()
	cancel := s.bgCancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.bg.Wait()
}
