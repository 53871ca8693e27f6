package guestagent

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/vmtestbed/vmtestbed/virtio"
)

// conn is one channel opened for a spec. Every exchange is bounded by
// timeout and a failure says what the agent did.
type conn struct {
	ch      virtio.Channel
	timeout time.Duration
	nextID  int
}

// open dials a channel for the current spec and closes it when the spec ends.
func open(ctx context.Context, cfg Config) *conn {
	GinkgoHelper()
	dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	ch, err := cfg.Dial(dctx)
	if err != nil {
		Fail(fmt.Sprintf("could not open a channel to the agent within %s: %v", cfg.Timeout, err))
	}
	DeferCleanup(ch.Close)
	return &conn{ch: ch, timeout: cfg.Timeout}
}

// line sends one request line and returns the next reply line, or an error
// that describes what the agent did instead.
func (c *conn) line(ctx context.Context, req string) (string, error) {
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.ch.SendString(rctx, req+"\n"); err != nil {
		return "", c.describe(rctx, "send "+clip(req), err)
	}
	got, err := c.ch.ReceiveLine(rctx)
	if err != nil {
		return "", c.describe(rctx, "reply to "+clip(req), err)
	}
	return got, nil
}

// mustLine is line that fails the spec on error.
func (c *conn) mustLine(ctx context.Context, req string) string {
	GinkgoHelper()
	got, err := c.line(ctx, req)
	if err != nil {
		Fail(err.Error())
	}
	return got
}

// call sends req (adding an id) and returns the reply object with the same
// id; replies carrying another id are stale answers to earlier requests and
// are skipped.
func (c *conn) call(ctx context.Context, req map[string]any) (map[string]any, error) {
	c.nextID++
	id := fmt.Sprintf("ga-%d", c.nextID)
	req["id"] = id
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.ch.SendString(rctx, string(b)+"\n"); err != nil {
		return nil, c.describe(rctx, "send "+clip(string(b)), err)
	}
	for {
		got, err := c.ch.ReceiveLine(rctx)
		if err != nil {
			return nil, c.describe(rctx, "reply to "+clip(string(b)), err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(got), &m); err != nil {
			return nil, fmt.Errorf("reply to %s was not a JSON object: %s", clip(string(b)), hexq([]byte(got)))
		}
		if rid, ok := m["id"]; ok && rid != id {
			continue
		}
		return m, nil
	}
}

// mustCall is call that fails the spec on error.
func (c *conn) mustCall(ctx context.Context, req map[string]any) map[string]any {
	GinkgoHelper()
	m, err := c.call(ctx, req)
	if err != nil {
		Fail(err.Error())
	}
	return m
}

// describe turns an exchange error into what the agent did.
func (c *conn) describe(rctx context.Context, what string, err error) error {
	if rctx.Err() != nil || errors.Is(err, virtio.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		msg := fmt.Sprintf("no reply within %s: %s", c.timeout, what)
		if p := c.pending(); len(p) > 0 {
			msg += fmt.Sprintf(" (got %d bytes without a newline: %s)", len(p), hexq(p))
		}
		return errors.New(msg)
	}
	return fmt.Errorf("channel failed (the agent hung up?) on %s: %w", what, err)
}

// pending returns bytes already received but not yet part of a line.
func (c *conn) pending() []byte {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	b, _ := c.ch.Receive(ctx, 64)
	return b
}

// hexq shows bytes as hex and quoted, clipped.
func hexq(b []byte) string {
	const n = 32
	more := ""
	if len(b) > n {
		b, more = b[:n], "…"
	}
	return fmt.Sprintf("0x%s%s (%q%s)", hex.EncodeToString(b), more, b, more)
}

func clip(s string) string {
	const n = 120
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
