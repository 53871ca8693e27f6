package guestagent

import (
	"encoding/json"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func (s *suite) lineSpecs() {
	s.it("[GA-LINE-001] the line \"ping\" MUST be answered with the line \"pong\", every time", func(ctx SpecContext) {
		c := s.open(ctx)
		for range s.cfg.Repeat {
			Expect(c.mustLine(ctx, "ping")).To(Equal("pong"))
		}
	})

	s.it("[GA-LINE-002] the line \"status\" MUST be answered with {\"status\":\"running\",\"uptime\":N}", func(ctx SpecContext) {
		c := s.open(ctx)
		got := c.mustLine(ctx, "status")
		var st map[string]any
		must(json.Unmarshal([]byte(got), &st), "status reply is not JSON: %s", hexq([]byte(got)))
		Expect(st).To(HaveKeyWithValue("status", "running"))
		Expect(st).To(HaveKeyWithValue("uptime", BeNumerically(">=", 0)))
	})

	s.it("[GA-LINE-003] the line \"version\" MUST be answered with a line that carries a version number", func(ctx SpecContext) {
		c := s.open(ctx)
		got := c.mustLine(ctx, "version")
		Expect(got).NotTo(BeElementOf("", "unknown", "pong", "version"), "version reply %s", hexq([]byte(got)))
		Expect(got).To(MatchRegexp(`\d+(\.\d+)*`), "version reply %s has no version number", hexq([]byte(got)))
		Expect(c.mustLine(ctx, "version")).To(Equal(got), "a second version reply differs")
	})

	s.it("[GA-LINE-004] any other line MUST be answered with \"unknown\", and the agent MUST keep answering", func(ctx SpecContext) {
		c := s.open(ctx)
		for _, l := range []string{"frobnicate", "", `{"command":"ping"}`, "PING"} {
			Expect(c.mustLine(ctx, l)).To(Equal("unknown"), "reply to %q", l)
		}
		Expect(c.mustLine(ctx, "ping")).To(Equal("pong"), "ping after unknown lines")
	})
}
