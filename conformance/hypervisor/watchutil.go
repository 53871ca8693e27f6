package hypervisor

import (
	"context"
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
	events chan T
	err    chan error
	done   chan struct{}
}

func pump[T any](recv func() (T, error)) *eventStream[T] {
	s := &eventStream[T]{events: make(chan T, 1024), err: make(chan error, 1), done: make(chan struct{})}
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

// next returns the next event that match accepts, failing the spec when the
// stream ends or ctx expires first.
func (s *eventStream[T]) next(ctx context.Context, what string, match func(T) bool) T {
	GinkgoHelper()
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				Fail("the stream ended while waiting for " + what + ": " + (<-s.err).Error())
			}
			if match(ev) {
				return ev
			}
		case <-ctx.Done():
			Fail("no " + what + " arrived: " + ctx.Err().Error())
		}
	}
}

// end discards events until the stream ends and returns how it ended.
func (s *eventStream[T]) end(ctx context.Context, what string) error {
	GinkgoHelper()
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return <-s.err
			}
		case <-ctx.Done():
			Fail("waited in vain for " + what + ": " + ctx.Err().Error())
		}
	}
}

// poll returns the next event match accepts within probeWait, or false.
func (s *eventStream[T]) poll(match func(T) bool) (T, bool) {
	timeout := time.After(probeWait)
	for {
		select {
		case ev, ok := <-s.events:
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
	Fail("the watch delivered no event after 40 changes to a watched object")
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
