package hypervisor

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// hub fans events out to watchers. Every method must be called with the
// Server's mu held, which also fixes one global event order.
//
// Each watcher has its own buffered channel; publish never blocks. A watcher
// whose buffer is full is dropped: its channel is closed with overflowed set,
// and its stream ends with ResourceExhausted so the client knows to re-list
// and watch again. A slow watcher therefore never delays the others.
type hub[T any] struct {
	buf  int
	subs map[*watcher[T]]struct{}
}

type watcher[T any] struct {
	ch         chan T
	match      func(T) bool
	overflowed bool // set before ch is closed; read after ch is drained
}

func newHub[T any](buf int) *hub[T] {
	return &hub[T]{buf: buf, subs: map[*watcher[T]]struct{}{}}
}

// subscribe adds a watcher that receives events for which match is true
// (every event if match is nil).
func (h *hub[T]) subscribe(match func(T) bool) *watcher[T] {
	w := &watcher[T]{ch: make(chan T, h.buf), match: match}
	h.subs[w] = struct{}{}
	return w
}

// unsubscribe removes w; it is a no-op if w is already gone.
func (h *hub[T]) unsubscribe(w *watcher[T]) {
	if _, ok := h.subs[w]; ok {
		delete(h.subs, w)
		close(w.ch)
	}
}

func (h *hub[T]) publish(ev T) {
	for w := range h.subs {
		if w.match != nil && !w.match(ev) {
			continue
		}
		select {
		case w.ch <- ev:
		default:
			w.overflowed = true
			h.unsubscribe(w)
		}
	}
}

// closeAll ends every watcher normally.
func (h *hub[T]) closeAll() {
	for w := range h.subs {
		h.unsubscribe(w)
	}
}

// pump sends a watcher's events until the client goes away (nil), the
// server closes (Unavailable), the watcher is dropped for falling behind
// (ResourceExhausted) or ends normally (nil).
func pump[T any](ctx context.Context, done <-chan struct{}, w *watcher[T], send func(T) error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			return status.Error(codes.Unavailable, "server is closing")
		case ev, ok := <-w.ch:
			if !ok {
				if w.overflowed {
					return status.Error(codes.ResourceExhausted, "watcher fell too far behind; list again and re-watch")
				}
				return nil
			}
			if err := send(ev); err != nil {
				return err
			}
		}
	}
}
