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
}

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
// is reconnected first. With a Correlator handler, replies to other requests are skipped.
func (c *Client) Request(ctx context.Context, payload []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("request on %s: waiting for the channel: %w", c.ch.Name(), ctx.Err())
	}
	defer func() { <-c.sem }()
	out, err := c.exchange(ctx, payload)
	if err != nil {
		return nil, fmt.Errorf("request on %s via %s: %w", c.ch.Name(), c.h.Name(), err)
	}
	return out, nil
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
	for {
		resp, err := c.h.ReadReply(ctx, c.ch)
		if err != nil {
			return nil, err
		}
		if correlated {
			if got, ok := corr.ReplyID(resp); ok && got != id {
				continue // a late reply to an earlier request
			}
		}
		return c.h.Decode(resp)
	}
}
