package virtio

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultTimeout bounds one Request unless the Builder sets another.
const DefaultTimeout = 5 * time.Second

// Client does request/response exchanges over one channel with one handler. Exchanges on a
// client are serialised; many clients on many channels run in parallel.
type Client struct {
	ch      Channel
	h       ProtocolHandler
	timeout time.Duration
	policy  ReconnectPolicy
	sem     chan struct{} // holds one token per exchange in flight (at most one)
	nextID  uint64        // guarded by sem
	owed    int           // replies still owed to timed-out requests on this connection; guarded by sem
}

// redialer is implemented by channels that open a fresh connection on every Connect (unix
// sockets): bytes the far end sends to a connection that was dropped never reach the next one.
type redialer interface{ Redials() bool }

// NewClient returns a client over ch; Builder is the usual way to get one.
func NewClient(ch Channel, h ProtocolHandler, timeout time.Duration, policy ReconnectPolicy) *Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Client{ch: ch, h: h, timeout: timeout, policy: policy, sem: make(chan struct{}, 1)}
}

// Channel returns the client's channel.
func (c *Client) Channel() Channel { return c.ch }

// Handler returns the client's protocol handler.
func (c *Client) Handler() ProtocolHandler { return c.h }

// Connect opens the channel, retrying by the reconnect policy.
func (c *Client) Connect(ctx context.Context) error {
	return c.policy.connect(ctx, c.ch)
}

// Close closes the channel.
func (c *Client) Close() error { return c.ch.Close() }

// Request encodes payload, sends it, reads one framed reply and decodes it, all within the
// client's timeout (or ctx, if earlier). A disconnected channel (or one whose far end went away)
// is reconnected first.
//
// A late reply to a request that timed out is never returned to a later request. With a
// Correlator handler (JSON: ids on by default) replies carrying another id are skipped. Besides,
// after a timeout a channel that re-dials (a unix socket) is dropped, so the late reply goes to
// the dead connection; on one that cannot (a pty) the next Request first reads and drops the
// owed reply, waiting for it at most the client's timeout (so that Request may take up to twice
// its timeout).
func (c *Client) Request(ctx context.Context, payload []byte) ([]byte, error) {
	wctx, wcancel := context.WithTimeout(ctx, c.timeout)
	defer wcancel()
	select {
	case c.sem <- struct{}{}:
	case <-wctx.Done():
		return nil, fmt.Errorf("request on %s: waiting for the channel: %w", c.ch.Name(), wctx.Err())
	}
	defer func() { <-c.sem }()
	if err := c.dropOwed(ctx); err != nil {
		return nil, fmt.Errorf("request on %s via %s: %w", c.ch.Name(), c.h.Name(), err)
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	out, err := c.exchange(rctx, payload)
	if err != nil {
		return nil, fmt.Errorf("request on %s via %s: %w", c.ch.Name(), c.h.Name(), err)
	}
	return out, nil
}

// isTimeout reports whether err is a deadline (the reply may still come).
func isTimeout(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout)
}

// dropOwed reads and drops the replies owed to timed-out requests, within the client's timeout.
func (c *Client) dropOwed(ctx context.Context) error {
	if c.owed == 0 {
		return nil
	}
	if !c.ch.Connected() {
		c.owed = 0
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	for c.owed > 0 {
		if _, err := c.h.ReadReply(dctx, c.ch); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("dropping the late reply to an earlier request: %w", ctx.Err())
			}
			// Nothing within the timeout (the agent dropped those requests), or the channel
			// failed and the next exchange reconnects: either way nothing is owed any more.
			c.owed = 0
			return nil
		}
		c.owed--
	}
	return nil
}

// late records that the request just sent timed out: its reply may still come.
func (c *Client) late() {
	if r, ok := c.ch.(redialer); ok && r.Redials() {
		_ = c.ch.Disconnect()
		c.owed = 0
		return
	}
	c.owed++
}

func (c *Client) exchange(ctx context.Context, payload []byte) ([]byte, error) {
	c.nextID++
	id := c.nextID
	corr, correlated := c.h.(Correlator)
	var req []byte
	var err error
	if correlated {
		req, err = corr.EncodeWithID(payload, id)
	} else {
		req, err = c.h.Encode(payload)
	}
	if err != nil {
		return nil, err
	}
	if !c.ch.Connected() {
		if err := c.policy.connect(ctx, c.ch); err != nil {
			return nil, err
		}
	}
	if err := c.ch.Send(ctx, req); err != nil {
		if !errors.Is(err, ErrPeerGone) {
			return nil, err
		}
		// The request never left: reconnect and send it once more.
		if err := c.policy.connect(ctx, c.ch); err != nil {
			return nil, err
		}
		if err := c.ch.Send(ctx, req); err != nil {
			return nil, err
		}
	}
	var skipped int
	var lastOther uint64
	for {
		resp, err := c.h.ReadReply(ctx, c.ch)
		if err != nil {
			if isTimeout(err) {
				c.late()
				if skipped > 0 {
					return nil, fmt.Errorf("no reply with id %d: %w (skipped %d replies carrying other ids, the last id %d: late replies, or the agent does not echo ids)", id, err, skipped, lastOther)
				}
			}
			return nil, err
		}
		if correlated {
			if got, ok := corr.ReplyID(resp); ok && got != id {
				skipped++
				lastOther = got
				continue // a late reply to an earlier request
			}
		}
		return c.h.Decode(resp)
	}
}
