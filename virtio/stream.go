package virtio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// stream is an open endpoint: a net.Conn for a unix socket, an *os.File for a pty master.
type stream interface {
	io.ReadWriter
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

// endpoint is what differs between a socket and a pty: opening, giving up and closing.
type endpoint interface {
	// open returns a stream ready for use.
	open(ctx context.Context) (stream, error)
	// release stops using s (Disconnect); it must make pending reads and writes return.
	release(s stream) error
	// shutdown releases everything for good (Close); s may be nil.
	shutdown(s stream) error
	// dropOnPeerGone says whether the channel disconnects itself when the far end goes away.
	dropOnPeerGone() bool
	// String names the endpoint in errors.
	String() string
}

// ErrPeerGone marks errors caused by the far end going away (EOF, EPIPE, ECONNRESET, EIO on a pty).
// A unix channel disconnects itself when it sees one; Connect opens it again.
var ErrPeerGone = errors.New("far end went away")

// channel implements Channel over any endpoint.
type channel struct {
	name string
	ep   endpoint
	opts options

	connMu sync.Mutex // serialises Connect

	mu       sync.Mutex // guards the fields below
	s        stream
	gen      uint64 // changes on every Connect, Disconnect and Close
	closed   bool
	deadline time.Time
	readOp   uint64
	writeOp  uint64

	readMu   sync.Mutex // one reader at a time; guards buf, bufGen, skipping, scratch
	buf      []byte
	bufGen   uint64
	skipping bool
	scratch  []byte

	writeMu sync.Mutex // one writer at a time
}

var _ Channel = (*channel)(nil)

func newChannel(name string, ep endpoint, opts []Option) *channel {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	return &channel{name: name, ep: ep, opts: o}
}

func (c *channel) Name() string { return c.name }

func (c *channel) String() string { return fmt.Sprintf("%s (%s)", c.name, c.ep) }

func (c *channel) wrap(op string, err error) error { return chanError(c.name, c.ep.String(), op, err) }

func (c *channel) Connect(ctx context.Context) error {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	c.mu.Lock()
	closed, open := c.closed, c.s != nil
	c.mu.Unlock()
	if closed {
		return c.wrap("connect", ErrClosed)
	}
	if open {
		return nil
	}
	s, err := c.ep.open(ctx)
	if err != nil {
		return c.wrap("connect", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		_ = c.ep.release(s)
		return c.wrap("connect", ErrClosed)
	}
	c.s = s
	c.gen++
	return nil
}

func (c *channel) Disconnect() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropLocked()
}

func (c *channel) dropLocked() error {
	if c.s == nil {
		return nil
	}
	s := c.s
	c.s = nil
	c.gen++
	if err := c.ep.release(s); err != nil {
		return c.wrap("disconnect", err)
	}
	return nil
}

func (c *channel) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s != nil
}

func (c *channel) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.wrap("set deadline", ErrClosed)
	}
	c.deadline = t
	return nil
}

func (c *channel) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	s := c.s
	c.s = nil
	c.gen++
	if err := c.ep.shutdown(s); err != nil {
		return c.wrap("close", err)
	}
	return nil
}

// interrupted is a deadline in the past: it makes a pending read or write return at once.
var interrupted = time.Unix(1, 0)

// begin checks the state, sets the stream deadline for one read or write and arranges for ctx
// cancellation to interrupt it. The returned stop must be called when the operation ends.
func (c *channel) begin(ctx context.Context, write bool) (stream, uint64, func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, 0, nil, ErrClosed
	}
	if c.s == nil {
		return nil, 0, nil, ErrNotConnected
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, nil, err
	}
	dl := c.deadline
	if d, ok := ctx.Deadline(); ok && (dl.IsZero() || d.Before(dl)) {
		dl = d
	}
	s, gen := c.s, c.gen
	var op uint64
	if write {
		c.writeOp++
		op = c.writeOp
		_ = s.SetWriteDeadline(dl)
	} else {
		c.readOp++
		op = c.readOp
		_ = s.SetReadDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.gen != gen {
			return
		}
		if write && c.writeOp == op {
			_ = s.SetWriteDeadline(interrupted)
		}
		if !write && c.readOp == op {
			_ = s.SetReadDeadline(interrupted)
		}
	})
	return s, gen, func() { stop() }, nil
}

// fail turns an I/O error into the error the caller sees, and drops a unix stream whose peer left.
func (c *channel) fail(ctx context.Context, gen uint64, op string, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return c.wrap(op, fmt.Errorf("%w: %w", ErrClosed, err))
	case c.gen != gen:
		return c.wrap(op, fmt.Errorf("%w: %w", ErrDisconnected, err))
	case ctx.Err() != nil:
		return c.wrap(op, context.Cause(ctx))
	case isDeadline(err) && ctxDeadlineFirst(ctx, c.deadline):
		// The stream deadline came from ctx and fired before ctx's own timer.
		return c.wrap(op, fmt.Errorf("%w: %w", context.DeadlineExceeded, err))
	case isDeadline(err):
		return c.wrap(op, fmt.Errorf("%w: %w", ErrTimeout, err))
	case peerGone(err):
		if c.ep.dropOnPeerGone() {
			_ = c.dropLocked()
		}
		return c.wrap(op, fmt.Errorf("%w: %w", ErrPeerGone, err))
	}
	return c.wrap(op, err)
}

func (c *channel) Send(ctx context.Context, b []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	s, gen, stop, err := c.begin(ctx, true)
	if err != nil {
		return c.wrap("send", err)
	}
	defer stop()
	if _, err := s.Write(b); err != nil {
		return c.fail(ctx, gen, "send", err)
	}
	return nil
}

func (c *channel) SendString(ctx context.Context, s string) error {
	return c.Send(ctx, []byte(s))
}

// ctxDeadlineFirst reports whether ctx's deadline is the one begin gave the stream.
func ctxDeadlineFirst(ctx context.Context, chanDeadline time.Time) bool {
	d, ok := ctx.Deadline()
	return ok && (chanDeadline.IsZero() || !chanDeadline.Before(d))
}

// Redials reports whether Connect opens a fresh connection (a unix socket) rather than reusing
// one endpoint (a pty master), so bytes sent to a dropped connection never reach the next.
func (c *channel) Redials() bool { return c.ep.dropOnPeerGone() }
