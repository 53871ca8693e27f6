package guestagent

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/vmtestbed/vmtestbed/virtio"
	"github.com/vmtestbed/vmtestbed/virtio/qga"
)

// conn is one channel opened for a spec. Every exchange is bounded by
// timeout and a failure says what the agent did.
type conn struct {
	s       *suite
	ch      virtio.Channel
	timeout time.Duration
}

// open dials a channel for the current spec, drains what an earlier spec left
// on it and runs the profile's readiness handshake, and closes it when the
// spec ends.
func (s *suite) open(ctx context.Context) *conn {
	GinkgoHelper()
	c := s.dial(ctx)
	if err := c.ready(ctx); err != nil {
		fail("the agent was not ready for the spec: " + err.Error())
	}
	return c
}

// dial dials a channel for the current spec without the handshake.
func (s *suite) dial(ctx context.Context) *conn {
	GinkgoHelper()
	dctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	ch, err := s.cfg.Dial(dctx)
	if err != nil {
		fail(fmt.Sprintf("could not open a channel to the agent within %s: %v", s.cfg.CallTimeout, err))
	}
	DeferCleanup(ch.Close)
	return &conn{s: s, ch: ch, timeout: s.cfg.CallTimeout}
}

// quiet is how long the channel must stay silent for a drain to end.
const quiet = 20 * time.Millisecond

// drain reads and drops whatever is waiting on the channel (replies an
// earlier spec left in the kernel on a pty) until it has been quiet for a
// moment, within the timeout. It returns how many bytes it dropped.
func (c *conn) drain(ctx context.Context) int {
	dctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	n := 0
	for dctx.Err() == nil {
		qctx, qcancel := context.WithTimeout(dctx, quiet)
		b, err := c.ch.Receive(qctx, 64<<10)
		qcancel()
		n += len(b)
		if err != nil {
			break
		}
	}
	return n
}

// ready drains the channel and makes sure the agent answers before the spec
// starts. QGA: guest-sync-delimited after a 0xFF, resent until answered
// (qemu-ga flushes a tty's input when it opens it). JSON and line: a newline
// ends any torn request an earlier spec left, then ping is sent until a pong
// comes, 100 ms, 200 ms, ... apart, within the timeout.
func (c *conn) ready(ctx context.Context) error {
	c.drain(ctx)
	if c.s.cfg.Protocol == ProtocolQGA {
		return qga.New(c.ch, qga.WithTimeout(c.timeout)).Sync(ctx)
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.ch.SendString(rctx, "\n"); err != nil {
		return c.describe(rctx, "send a newline", err)
	}
	wait := 100 * time.Millisecond
	var last []byte // the last line that was not the answer
	for attempt := 1; ; attempt++ {
		req, ok := "ping", func(line []byte) bool { return string(line) == "pong" }
		if c.s.cfg.Protocol == ProtocolJSON {
			id := c.s.newID("ready")
			req = fmt.Sprintf(`{"command":"ping","id":%q}`, id)
			ok = func(line []byte) bool {
				var m map[string]any
				if json.Unmarshal(line, &m) != nil || m["result"] != "pong" {
					return false
				}
				rid, has := m["id"]
				return !has || rid == id // an agent that does not echo ids fails GA-HELLO-002, not every spec
			}
		}
		if err := c.ch.SendString(rctx, req+"\n"); err != nil {
			return c.describe(rctx, "send "+clip(req), err)
		}
		actx, acancel := context.WithTimeout(rctx, wait)
		var err error
		for {
			var line string
			if line, err = c.ch.ReceiveLine(actx); err != nil {
				break
			}
			if ok([]byte(line)) {
				acancel()
				return nil
			}
			last = []byte(line)
		}
		acancel()
		if !isTimeout(err) {
			return c.describe(rctx, "reply to "+clip(req), err)
		}
		if rctx.Err() != nil || pastDeadline(rctx) {
			e := c.describe(rctx, fmt.Sprintf("%s (sent %d times)", clip(req), attempt), err)
			if last != nil {
				what := "was not the answer"
				if c.s.cfg.Protocol == ProtocolJSON && !json.Valid(last) {
					what = "was not a JSON object"
				}
				e = fmt.Errorf("%w; the last line received %s: %s", e, what, hexq(last))
			}
			return e
		}
		wait = min(2*wait, time.Second)
	}
}

func pastDeadline(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

func isTimeout(err error) bool {
	return errors.Is(err, virtio.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded)
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
		fail(err.Error())
	}
	return got
}

// call sends req (adding an id unique in the suite) and returns the reply
// object with the same id; replies carrying another id are late answers to
// earlier requests and are skipped. A reply without an id is taken (GA-HELLO-002
// checks the echo).
func (c *conn) call(ctx context.Context, req map[string]any) (map[string]any, error) {
	id := c.s.newID("ga")
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
	var skipped []any
	for {
		got, err := c.ch.ReceiveLine(rctx)
		if err != nil {
			err = c.describe(rctx, "reply to "+clip(string(b)), err)
			if len(skipped) > 0 {
				err = fmt.Errorf("%w; skipped %d replies carrying other ids (the last with id %v): the agent does not echo the request's id", err, len(skipped), skipped[len(skipped)-1])
			}
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(got), &m); err != nil || m == nil {
			return nil, fmt.Errorf("reply to %s was not a JSON object: %s", clip(string(b)), hexq([]byte(got)))
		}
		if rid, ok := m["id"]; ok && !reflect.DeepEqual(rid, any(id)) {
			skipped = append(skipped, rid)
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
		fail(err.Error())
	}
	return m
}

// describe turns an exchange error into what the agent did.
func (c *conn) describe(rctx context.Context, what string, err error) error {
	var tooLong *virtio.LineTooLongError
	switch {
	case errors.As(err, &tooLong):
		return fmt.Errorf("reply to %s was longer than %d bytes without a newline", what, tooLong.Max)
	case rctx.Err() != nil || isTimeout(err):
		msg := fmt.Sprintf("no reply within %s: %s", c.timeout, what)
		if p := c.pending(); len(p) > 0 {
			msg += fmt.Sprintf(" (got %d bytes without a newline: %s)", len(p), hexq(p))
		}
		return errors.New(msg)
	case errors.Is(err, virtio.ErrPeerGone):
		return fmt.Errorf("the agent hung up (the channel's far end closed) on %s: %w", what, err)
	}
	return fmt.Errorf("channel failed on %s: %w", what, err)
}

// pending returns bytes already received but not yet part of a line.
func (c *conn) pending() []byte {
	ctx, cancel := context.WithTimeout(context.Background(), quiet)
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
