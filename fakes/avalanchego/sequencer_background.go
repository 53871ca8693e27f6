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
	quit := make(chan struct{})
	s.mu.Lock()
	select {
	case <-s.stopping: // a Stop that raced the start has begun: no loops
		s.mu.Unlock()
		cancel()
		return
	default:
	}
	s.bgQuit, s.bgCancel = quit, cancel
	s.mu.Unlock()
	period := s.HealthPeriod
	if period == 0 {
		period = DefaultHealthPeriod
	}
	if period > 0 {
		s.every(ctx, quit, period, func(ctx context.Context) {
			details, err := s.Health(ctx)
			s.mu.Lock()
			s.health = healthState{checks: s.health.checks + 1, details: details, err: err}
			s.mu.Unlock()
		})
	}
	if s.GatherPeriod > 0 {
		s.every(ctx, quit, s.GatherPeriod, func(ctx context.Context) {
			// A failed scrape is the metrics reader's problem, not the chain's.
			_, _ = s.Plugin.VM.Gather(ctx, &emptypb.Empty{})
		})
	}
}

// every runs f(ctx) each period until quit is closed.
func (s *Sequencer) every(ctx context.Context, quit <-chan struct{}, period time.Duration, f func(context.Context)) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				select {
				case <-quit: // both were ready: the stop wins
					return
				default:
				}
				f(ctx)
			case <-quit:
				return
			}
		}
	}()
}

// bgStopGrace bounds how long Stop lets a Health or Gather call in flight
// finish before it cancels it.
const bgStopGrace = 5 * time.Second

// stopBackground ends the loops before Shutdown: no new call starts, and a
// call in flight finishes first (a cancelled one could still reach the
// plugin after Shutdown), or is cancelled after bgStopGrace (a hung one).
func (s *Sequencer) stopBackground() {
	s.mu.Lock()
	quit, cancel := s.bgQuit, s.bgCancel
	s.bgQuit = nil
	s.mu.Unlock()
	if quit == nil {
		s.bg.Wait()
		return
	}
	close(quit)
	done := make(chan struct{})
	go func() { s.bg.Wait(); close(done) }()
	grace := time.NewTimer(bgStopGrace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		cancel() // a hung call: cut it
		<-done
	}
	cancel()
}
