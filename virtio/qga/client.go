package qga

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vmtestbed/vmtestbed/virtio"
)

// DefaultTimeout bounds one command unless WithTimeout says otherwise.
const DefaultTimeout = 10 * time.Second

// Client sends guest agent commands over a channel. Commands are serialised; every command
// carries a fresh id and replies with another id (late replies to timed-out commands) are skipped.
// The client does not own the channel: connect it before use and close it after.
type Client struct {
	ch      virtio.Channel
	timeout time.Duration
	sem     chan struct{}
	id      uint64 // guarded by sem
}

// Option configures a Client.
type Option func(*Client)

// WithTimeout bounds each command (and each Sync).
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// New returns a client over ch (usually named org.qemu.guest_agent.0).
func New(ch virtio.Channel, opts ...Option) *Client {
	c := &Client{ch: ch, timeout: DefaultTimeout, sem: make(chan struct{}, 1), id: randomID() >> 1}
	for _, o := range opts {
		o(c)
	}
	return c
}

func randomID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) >> 12 // stays exact in a JSON number
}

type request struct {
	Execute   string `json:"execute"`
	Arguments any    `json:"arguments,omitempty"`
	ID        uint64 `json:"id,omitempty"`
}

type reply struct {
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
	ID *uint64 `json:"id"`
}

// lock takes the client for one exchange within ctx.
func (c *Client) lock(ctx context.Context) (context.Context, func(), error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	select {
	case c.sem <- struct{}{}:
		return ctx, func() { <-c.sem; cancel() }, nil
	case <-ctx.Done():
		cancel()
		return nil, nil, ctx.Err()
	}
}

// Call runs command with args (nil for none) and unmarshals the "return" value into out (nil to
// ignore it). Agent errors come back as *Error.
func (c *Client) Call(ctx context.Context, command string, args, out any) error {
	ctx, unlock, err := c.lock(ctx)
	if err != nil {
		return fmt.Errorf("qga %s on %s: %w", command, c.ch.Name(), err)
	}
	defer unlock()
	if err := c.call(ctx, command, args, out); err != nil {
		return fmt.Errorf("qga %s on %s: %w", command, c.ch.Name(), err)
	}
	return nil
}

func (c *Client) call(ctx context.Context, command string, args, out any) error {
	c.id++
	id := c.id
	b, err := json.Marshal(request{Execute: command, Arguments: args, ID: id})
	if err != nil {
		return fmt.Errorf("encode arguments: %w", err)
	}
	if err := c.ch.Send(ctx, append(b, '\n')); err != nil {
		return err
	}
	for {
		line, err := c.ch.ReceiveLine(ctx)
		if err != nil {
			return err
		}
		raw := []byte(line)
		if i := bytes.LastIndexByte(raw, 0xFF); i >= 0 {
			raw = raw[i+1:] // a delimiter left over from an earlier sync
		}
		var r reply
		if err := json.Unmarshal(raw, &r); err != nil {
			return &ProtocolError{Command: command, Raw: []byte(line), Err: err}
		}
		if r.ID == nil || *r.ID != id {
			continue // not ours: a late reply, or an error for bytes sent before a sync
		}
		if r.Error != nil {
			return &Error{Command: command, Class: r.Error.Class, Desc: r.Error.Desc}
		}
		if r.Return == nil {
			return &ProtocolError{Command: command, Raw: []byte(line), Err: errors.New(`neither "return" nor "error"`)}
		}
		if out != nil {
			if err := json.Unmarshal(r.Return, out); err != nil {
				return &ProtocolError{Command: command, Raw: []byte(line), Err: err}
			}
		}
		return nil
	}
}

// Sync resynchronises with the agent: it sends 0xFF (which makes the agent drop any partial
// request), then guest-sync-delimited with a random id, discards everything up to the agent's
// 0xFF delimiter and checks the id. Use it after connecting and after a timeout.
func (c *Client) Sync(ctx context.Context) error {
	ctx, unlock, err := c.lock(ctx)
	if err != nil {
		return fmt.Errorf("qga sync on %s: %w", c.ch.Name(), err)
	}
	defer unlock()
	if err := c.sync(ctx); err != nil {
		return fmt.Errorf("qga sync on %s: %w", c.ch.Name(), err)
	}
	return nil
}

func (c *Client) sync(ctx context.Context) error {
	want := randomID()
	b, err := json.Marshal(request{Execute: "guest-sync-delimited", Arguments: map[string]uint64{"id": want}})
	if err != nil {
		return err
	}
	if err := c.ch.Send(ctx, append([]byte{0xFF}, append(b, '\n')...)); err != nil {
		return err
	}
	for {
		line, err := c.ch.ReceiveLine(ctx)
		if err != nil {
			return err
		}
		i := bytes.LastIndexByte([]byte(line), 0xFF)
		if i < 0 {
			continue // output from before the delimiter
		}
		var r reply
		if err := json.Unmarshal([]byte(line[i+1:]), &r); err != nil {
			return &ProtocolError{Command: "guest-sync-delimited", Raw: []byte(line), Err: err}
		}
		if r.Error != nil {
			return &Error{Command: "guest-sync-delimited", Class: r.Error.Class, Desc: r.Error.Desc}
		}
		var got uint64
		if err := json.Unmarshal(r.Return, &got); err != nil {
			return &ProtocolError{Command: "guest-sync-delimited", Raw: []byte(line), Err: err}
		}
		if got == want {
			return nil
		}
		// An answer to an older sync: keep reading.
	}
}
