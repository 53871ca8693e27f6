package hypervisor

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// probeWait bounds each wait for a watch event while a spec checks that its
// watch is live; a probe is repeated, so a short bound costs nothing.
const probeWait = 50 * time.Millisecond

// eventStream pumps a server stream into a channel until it ends. Stop it by
// cancelling the stream's context, then call wait.
type eventStream[T any] struct {
	e      *env
	method string // the stream's full method name: what a wait in vain blames
	events chan T
	err    chan error
	done   chan struct{}
	seen   int // events taken by next, end and poll
	last   T   // the last of them
}

func pump[T any](e *env, method string, recv func() (T, error)) *eventStream[T] {
	s := &eventStream[T]{e: e, method: method, events: make(chan T, 1024), err: make(chan error, 1), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			ev, err := recv()
			if err != nil {
				s.err <- err
				close(s.events)
				return
			}
			s.events <- ev
		}
	}()
	return s
}

// wait blocks until the pump goroutine has ended.
func (s *eventStream[T]) wait() { <-s.done }

// next returns the next event that match accepts, failing the spec with
// what it waited for when the stream ends or the wait's bound passes first.
func (s *eventStream[T]) next(ctx context.Context, what string, match func(T) bool) T {
	GinkgoHelper()
	done := s.e.rec.about(s.method)
	bound := s.e.waitBound(ctx)
	timeout := time.NewTimer(bound)
	defer timeout.Stop()
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				Fail(fmt.Sprintf("%s ended while waiting for %s: %v (%s)", short(s.method), what, <-s.err, s.sofar()))
			}
			s.take(ev)
			if match(ev) {
				done()
				return ev
			}
		case <-timeout.C:
			Fail(fmt.Sprintf("waited %s for %s on %s in vain (%s)", bound, what, short(s.method), s.sofar()))
		case <-ctx.Done():
			Fail(fmt.Sprintf("the spec ended while waiting for %s on %s: %v (%s)", what, short(s.method), ctx.Err(), s.sofar()))
		}
	}
}

func (s *eventStream[T]) take(ev T) { s.seen, s.last = s.seen+1, ev }

// sofar describes what the stream delivered so far.
func (s *eventStream[T]) sofar() string {
	if s.seen == 0 {
		return "it delivered no event"
	}
	return fmt.Sprintf("it delivered %d events, the last %v", s.seen, s.last)
}

// end discards events until the stream ends and returns how it ended.
func (s *eventStream[T]) end(ctx context.Context, what string) error {
	GinkgoHelper()
	done := s.e.rec.about(s.method)
	bound := s.e.waitBound(ctx)
	timeout := time.NewTimer(bound)
	defer timeout.Stop()
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				done()
				return <-s.err
			}
			s.take(ev)
		case <-timeout.C:
			Fail(fmt.Sprintf("waited %s for %s in vain (%s)", bound, what, s.sofar()))
		case <-ctx.Done():
			Fail(fmt.Sprintf("the spec ended while waiting for %s: %v (%s)", what, ctx.Err(), s.sofar()))
		}
	}
}

// poll returns the next event match accepts within probeWait, or false.
func (s *eventStream[T]) poll(match func(T) bool) (T, bool) {
	timeout := time.After(probeWait)
	for {
		select {
		case ev, ok := <-s.events:
			if ok {
				s.take(ev)
			}
			if ok && match(ev) {
				return ev, true
			}
			if !ok {
				var zero T
				return zero, false
			}
		case <-timeout:
			var zero T
			return zero, false
		}
	}
}

// live makes sure the watch is registered on the server: it calls poke until
// an event that match accepts arrives (at most 40 pokes).
func (s *eventStream[T]) live(poke func(), match func(T) bool) {
	GinkgoHelper()
	for range 40 {
		if _, ok := s.poll(match); ok {
			return
		}
		poke()
	}
	s.e.rec.about(s.method) // the failure is the stream's, not the pokes'
	Fail(fmt.Sprintf("%s delivered no event after 40 changes to a watched object (%s)", short(s.method), s.sofar()))
}

// drain discards pending events until none arrives for probeWait.
func (s *eventStream[T]) drain() {
	for {
		if _, ok := s.poll(func(T) bool { return true }); !ok {
			return
		}
	}
}

func expectOrder(got []string, want ...string) {
	GinkgoHelper()
	Expect(got).To(Equal(want), "watch events arrived as %v; the contract says %v, in that order", got, want)
}
