package guestagent

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vmtestbed/vmtestbed/virtio/qga"
)

// ping does the profile's liveness exchange on c.
func (s *suite) ping(ctx context.Context, c *conn) error {
	switch s.cfg.Protocol {
	case ProtocolLine:
		got, err := c.line(ctx, "ping")
		if err == nil && got != "pong" {
			err = fmt.Errorf("ping answered %q, want pong", got)
		}
		return err
	case ProtocolQGA:
		return qga.New(c.ch, qga.WithTimeout(s.cfg.CallTimeout)).Ping(ctx)
	}
	r, err := c.call(ctx, map[string]any{"command": "ping"})
	if err == nil && r["result"] != "pong" {
		err = fmt.Errorf("ping answered %v, want result pong", r)
	}
	return err
}

// tornRequest is the first half of the profile's ping request, without its newline.
func (s *suite) tornRequest() string {
	switch s.cfg.Protocol {
	case ProtocolLine:
		return "pi"
	case ProtocolQGA:
		return `{"execute":"guest-pi`
	}
	return `{"command":"pi`
}

func (s *suite) channelSpecs() {
	s.it("[GA-CHAN-001] concurrent channels MUST each get their own replies", func(ctx SpecContext) {
		if s.cfg.MaxChannels < 2 {
			skip(fmt.Sprintf("target offers %d channel at a time (Config.MaxChannels; QEMU serves one client per chardev)", s.cfg.MaxChannels))
		}
		conns := make([]*conn, s.cfg.MaxChannels)
		for i := range conns {
			conns[i] = s.dial(ctx)
		}
		errs := make([]error, len(conns))
		var wg sync.WaitGroup
		for i, c := range conns {
			wg.Go(func() {
				if errs[i] = c.ready(ctx); errs[i] != nil {
					return
				}
				for range s.cfg.Repeat {
					if errs[i] = s.ping(ctx, c); errs[i] != nil {
						return
					}
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil && i > 0 && errs[0] == nil {
				fail(fmt.Sprintf("channel %d of %d open at once got no service while channel 1 did: %v (an agent that serves one client at a time, as QEMU's chardevs do, is checked with MaxChannels 1 / --channels 1)", i+1, len(conns), err))
			}
			must(err, "channel %d of %d", i+1, len(conns))
		}
	})

	s.it("[GA-CHAN-002] the agent MUST answer again after the host side disconnects in the middle of a request and reconnects", func(ctx SpecContext) {
		c := s.open(ctx)
		if err := s.ping(ctx, c); err != nil {
			fail("before disconnecting: " + err.Error())
		}
		for i := range s.cfg.Repeat {
			// Leave a torn request behind and, the second time on a channel that keeps its
			// endpoint (a pty), an unread reply in the kernel too. (On a unix socket the
			// unread reply would go to the dropped connection; qemu-ga 7.2 listening on its
			// own socket sometimes exits when that happens, which a guest behind QEMU never
			// sees.)
			torn := s.tornRequest()
			if r, ok := c.ch.(interface{ Redials() bool }); i%2 == 1 && (!ok || !r.Redials()) {
				torn = s.pingLine() + "\n" + torn
			}
			if err := c.ch.SendString(ctx, torn); err != nil {
				fail(fmt.Sprintf("send a torn request before disconnect %d: %v", i+1, err))
			}
			if err := c.ch.Disconnect(); err != nil {
				fail(fmt.Sprintf("disconnect %d: %v", i+1, err))
			}
			cctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
			err := c.ch.Connect(cctx)
			cancel()
			if err != nil {
				fail(fmt.Sprintf("reconnect %d: %v", i+1, err))
			}
			if err := c.ready(ctx); err != nil {
				fail(fmt.Sprintf("after reconnect %d (a torn request was left behind): %v", i+1, err))
			}
			if err := s.ping(ctx, c); err != nil {
				fail(fmt.Sprintf("after reconnect %d: %v", i+1, err))
			}
		}
	})

	s.it("[GA-TIME-001] pipelined requests MUST each be answered, in order, within the configured timeout", func(ctx SpecContext) {
		c := s.open(ctx)
		n := 4 * s.cfg.Repeat
		reqs, check := s.pipeline(n)
		start := time.Now()
		rctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
		defer cancel()
		if err := c.ch.SendString(rctx, strings.Join(reqs, "\n")+"\n"); err != nil {
			fail(c.describe(rctx, fmt.Sprintf("send %d pipelined requests", n), err).Error())
		}
		for i := range n {
			line, err := c.ch.ReceiveLine(rctx)
			if err != nil {
				fail(fmt.Sprintf("%d of %d pipelined requests answered in %s: %v", i, n, time.Since(start).Round(time.Millisecond), c.describe(rctx, "reply to "+clip(reqs[i]), err)))
			}
			if msg := check(i, line); msg != "" {
				fail(fmt.Sprintf("reply %d of %d pipelined requests: %s", i+1, n, msg))
			}
		}
		took := time.Since(start)
		AddReportEntry("pipelined requests", fmt.Sprintf("%d in %s", n, took))
		Expect(took).To(BeNumerically("<", s.cfg.CallTimeout), "%d pipelined requests took %s", n, took)
	})
}

// pingLine is the profile's ping request line without a newline.
func (s *suite) pingLine() string {
	switch s.cfg.Protocol {
	case ProtocolLine:
		return "ping"
	case ProtocolQGA:
		return `{"execute":"guest-ping"}`
	}
	return `{"command":"ping"}`
}

// pipeline returns n ping requests and a check of the i-th reply ("" when right).
func (s *suite) pipeline(n int) ([]string, func(i int, line string) string) {
	reqs := make([]string, n)
	ids := make([]string, n)
	for i := range reqs {
		ids[i] = s.newID("pipe")
		switch s.cfg.Protocol {
		case ProtocolLine:
			reqs[i] = "ping"
		case ProtocolQGA:
			reqs[i] = fmt.Sprintf(`{"execute":"guest-ping","id":%q}`, ids[i])
		default:
			reqs[i] = fmt.Sprintf(`{"command":"ping","id":%q}`, ids[i])
		}
	}
	return reqs, func(i int, line string) string {
		if s.cfg.Protocol == ProtocolLine {
			if line != "pong" {
				return fmt.Sprintf("got %s, want pong", hexq([]byte(line)))
			}
			return ""
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return fmt.Sprintf("not a JSON object: %s", hexq([]byte(line)))
		}
		if m["id"] != ids[i] {
			return fmt.Sprintf("carries id %v, want %q (replies out of order, or ids not echoed): %s", m["id"], ids[i], hexq([]byte(line)))
		}
		if s.cfg.Protocol == ProtocolQGA {
			if ret, ok := m["return"].(map[string]any); !ok || len(ret) != 0 {
				return fmt.Sprintf("want {\"return\":{}}: %s", hexq([]byte(line)))
			}
			return ""
		}
		if m["result"] != "pong" {
			return fmt.Sprintf("want result pong: %s", hexq([]byte(line)))
		}
		return ""
	}
}
