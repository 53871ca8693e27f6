package guestagent

import (
	"context"
	"fmt"
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
		return qga.New(c.ch, qga.WithTimeout(s.cfg.Timeout)).Ping(ctx)
	}
	r, err := c.call(ctx, map[string]any{"command": "ping"})
	if err == nil && r["result"] != "pong" {
		err = fmt.Errorf("ping answered %v, want result pong", r)
	}
	return err
}

func (s *suite) channelSpecs() {
	s.it("[GA-CHAN-001] concurrent channels MUST each get their own replies", func(ctx SpecContext) {
		if s.cfg.MaxChannels < 2 {
			Skip(fmt.Sprintf("target offers %d channel at a time (Config.MaxChannels)", s.cfg.MaxChannels))
		}
		conns := make([]*conn, s.cfg.MaxChannels)
		for i := range conns {
			conns[i] = open(ctx, s.cfg)
		}
		errs := make([]error, len(conns))
		var wg sync.WaitGroup
		for i, c := range conns {
			wg.Go(func() {
				for range s.cfg.Repeat {
					if errs[i] = s.ping(ctx, c); errs[i] != nil {
						return
					}
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			Expect(err).NotTo(HaveOccurred(), "channel %d of %d", i+1, len(conns))
		}
	})

	s.it("[GA-CHAN-002] the agent MUST answer again after the host side disconnects and reconnects", func(ctx SpecContext) {
		c := open(ctx, s.cfg)
		Expect(s.ping(ctx, c)).To(Succeed(), "before disconnecting")
		for i := range s.cfg.Repeat {
			Expect(c.ch.Disconnect()).To(Succeed(), "disconnect %d", i+1)
			cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
			err := c.ch.Connect(cctx)
			cancel()
			Expect(err).NotTo(HaveOccurred(), "reconnect %d", i+1)
			Expect(s.ping(ctx, c)).To(Succeed(), "after reconnect %d", i+1)
		}
	})

	s.it("[GA-TIME-001] every request MUST be answered within the configured timeout", func(ctx SpecContext) {
		c := open(ctx, s.cfg)
		var slowest time.Duration
		for range 4 * s.cfg.Repeat {
			start := time.Now()
			Expect(s.ping(ctx, c)).To(Succeed())
			slowest = max(slowest, time.Since(start))
		}
		AddReportEntry("slowest ping", slowest.String())
		Expect(slowest).To(BeNumerically("<", s.cfg.Timeout), "slowest of %d pings", 4*s.cfg.Repeat)
	})
}
