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
	var skipped int
	for {
		line, err := c.ch.ReceiveLine(ctx)
		if err != nil {
			if skipped > 0 {
				return fmt.Errorf("%w (skipped %d replies without id %d: late replies to earlier commands, or an agent that does not echo ids)", err, skipped, id)
			}
			return err
		}
		ret, ours, err := decodeReply([]byte(line), id)
		if !ours && err == nil {
			skipped++
			continue // not ours: a late reply, or an error for bytes sent before a sync
		}
		if err != nil {
			var pe *ProtocolError
			if errors.As(err, &pe) {
				pe.Command = command
			}
			var qe *Error
			if errors.As(err, &qe) {
				qe.Command = command
			}
			return err
		}
		if out != nil {
			if err := json.Unmarshal(ret, out); err != nil {
				return &ProtocolError{Command: command, Raw: []byte(line), Err: err}
			}
		}
		return nil
	}
}

// decodeReply decodes one reply line to the command with id. Everything up to the last 0xFF
// (a delimiter left over from a sync) is dropped. ours is false, with a nil error, for a
// well-formed reply carrying no id or another one; an agent error is an *Error and a reply the
// client cannot use a *ProtocolError (their Command is left empty for the caller).
func decodeReply(line []byte, id uint64) (ret json.RawMessage, ours bool, err error) {
	raw := line
	if i := bytes.LastIndexByte(raw, 0xFF); i >= 0 {
		raw = raw[i+1:]
	}
	var r reply
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, false, &ProtocolError{Raw: bytes.Clone(line), Err: err}
	}
	if r.ID == nil || *r.ID != id {
		return nil, false, nil
	}
	if r.Error != nil {
		return nil, true, &Error{Class: r.Error.Class, Desc: r.Error.Desc}
	}
	if r.Return == nil || string(r.Return) == "null" {
		return nil, true, &ProtocolError{Raw: bytes.Clone(line), Err: errors.New(`neither "return" nor "error"`)}
	}
	return r.Return, true, nil
}

// Sync resynchronises with the agent: it sends 0xFF (which makes the agent drop any partial
// request), then guest-sync-delimited with a random id, discards everything up to the agent's
// 0xFF delimiter and checks the id. Use it after connecting and after a timeout.
//
// Until the agent has opened its end (qemu-ga flushes a tty's input when it opens it, so bytes
// written before are lost) a sync gets no answer: Sync sends it again after 50 ms, 100 ms, 200
// ms, ... (each attempt with a fresh id; an answer to any of them will do) until its timeout.
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
	sent := map[uint64]bool{}
	wait := 50 * time.Millisecond
	var seen int
	for attempt := 1; ; attempt++ {
		want := randomID()
		sent[want] = true
		b, err := json.Marshal(request{Execute: "guest-sync-delimited", Arguments: map[string]uint64{"id": want}})
		if err != nil {
			return err
		}
		if err := c.ch.Send(ctx, append([]byte{0xFF}, append(b, '\n')...)); err != nil {
			return err
		}
		actx, cancel := context.WithTimeout(ctx, wait)
		done, n, err := c.awaitSync(actx, sent)
		cancel()
		seen += n
		if done {
			return nil
		}
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, virtio.ErrTimeout) {
			return err // the channel failed or the agent answered wrongly
		}
		if d, ok := ctx.Deadline(); ctx.Err() != nil || (ok && !time.Now().Before(d)) {
			return fmt.Errorf("no answer to guest-sync-delimited within %s (%d attempts, %d lines without a delimiter): %w", c.timeout, attempt, seen, err)
		}
		wait = min(2*wait, time.Second)
	}
}

// awaitSync reads lines until one answers a sync whose id is in sent. n counts lines without
// a delimiter.
func (c *Client) awaitSync(ctx context.Context, sent map[uint64]bool) (done bool, n int, err error) {
	for {
		line, err := c.ch.ReceiveLine(ctx)
		if err != nil {
			return false, n, err
		}
		got, delimited, err := decodeSyncReply([]byte(line))
		if !delimited {
			n++
			continue // output from before the delimiter
		}
		if err != nil {
			return false, n, err
		}
		if sent[got] {
			return true, n, nil
		}
		// An answer to an older sync: keep reading.
	}
}

// decodeSyncReply decodes a line that may answer guest-sync-delimited: delimited is false for a
// line without 0xFF; otherwise the JSON after the last 0xFF must be {"return": id}.
func decodeSyncReply(line []byte) (id uint64, delimited bool, err error) {
	i := bytes.LastIndexByte(line, 0xFF)
	if i < 0 {
		return 0, false, nil
	}
	var r reply
	if err := json.Unmarshal(line[i+1:], &r); err != nil {
		return 0, true, &ProtocolError{Command: "guest-sync-delimited", Raw: bytes.Clone(line), Err: err}
	}
	if r.Error != nil {
		return 0, true, &Error{Command: "guest-sync-delimited", Class: r.Error.Class, Desc: r.Error.Desc}
	}
	if err := json.Unmarshal(r.Return, &id); err != nil {
		return 0, true, &ProtocolError{Command: "guest-sync-delimited", Raw: bytes.Clone(line), Err: err}
	}
	return id, true, nil
}

// GuestSync runs the plain guest-sync (no delimiter): the agent returns id unchanged.
func (c *Client) GuestSync(ctx context.Context, id uint64) (uint64, error) {
	var got uint64
	if err := c.Call(ctx, "guest-sync", map[string]uint64{"id": id}, &got); err != nil {
		return 0, err
	}
	return got, nil
}
