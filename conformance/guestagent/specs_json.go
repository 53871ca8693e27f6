package guestagent

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func (s *suite) jsonSpecs() {
	s.it("[GA-HELLO-001] hello MUST answer with the agent name, a protocol version of at least 1 and its command list", func(ctx SpecContext) {
		c := s.open(ctx)
		caps := s.caps(ctx, c)
		Expect(caps["agent"]).To(BeAssignableToTypeOf(""), "hello result %v has no agent name", caps)
		Expect(caps["protocol"]).To(BeNumerically(">=", 1), "hello result %v: protocol version", caps)
		for _, cmd := range []string{"hello", "ping", "status", "exec", "get_metrics"} {
			Expect(offers(caps, cmd)).To(BeTrue(), "hello commands %v do not list %q", caps["commands"], cmd)
		}
	})

	s.it("[GA-HELLO-002] a reply MUST echo the request's id, whatever JSON value it is", func(ctx SpecContext) {
		c := s.open(ctx)
		for i := range s.cfg.Repeat {
			for _, id := range []any{s.newID("echo"), float64(1000 + i), map[string]any{"n": float64(i)}} {
				idJSON, _ := json.Marshal(id)
				req := fmt.Sprintf(`{ "command" : "ping", "id" : %s }`, idJSON)
				line := c.mustLine(ctx, req)
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					fail(fmt.Sprintf("reply to %s is not a JSON object: %s", req, hexq([]byte(line))))
				}
				Expect(m).To(HaveKey("id"), "reply to a ping with id %s carries no id: %s", idJSON, hexq([]byte(line)))
				Expect(m["id"]).To(Equal(id), "reply to a ping with id %s echoes another id", idJSON)
			}
		}
	})

	s.it("[GA-PING-001] ping MUST answer {\"result\":\"pong\"}, every time", func(ctx SpecContext) {
		c := s.open(ctx)
		for range s.cfg.Repeat {
			Expect(c.mustCall(ctx, map[string]any{"command": "ping"})).To(HaveKeyWithValue("result", "pong"))
		}
	})

	s.it("[GA-PING-002] the seed's form {\"data\":\"ping\"} MUST answer {\"result\":\"pong\"}", func(ctx SpecContext) {
		c := s.open(ctx)
		Expect(c.mustLine(ctx, `{"data":"ping"}`)).To(MatchJSON(`{"result":"pong"}`))
	})

	s.it("[GA-EXEC-001] exec of an allow-listed command MUST return its stdout and exit code 0", func(ctx SpecContext) {
		c := s.open(ctx)
		s.needAllowed(ctx, c, "echo")
		r := c.mustCall(ctx, map[string]any{"command": "exec", "cmd": "echo", "args": []string{"hello", "guest"}})
		Expect(r).NotTo(HaveKey("error"), "exec echo was refused")
		Expect(r).To(HaveKeyWithValue("result", "hello guest\n"), "stdout of echo hello guest")
		Expect(r).To(HaveKeyWithValue("code", BeNumerically("==", 0)), "exit code of echo")
	})

	s.it("[GA-EXEC-002] exec MUST return a failing command's non-zero exit code", func(ctx SpecContext) {
		c := s.open(ctx)
		s.needAllowed(ctx, c, "false")
		r := c.mustCall(ctx, map[string]any{"command": "exec", "cmd": "false"})
		Expect(r).NotTo(HaveKey("error"), "exec false was refused")
		Expect(r).To(HaveKeyWithValue("code", BeNumerically("==", 1)), "exit code of false")
	})

	s.it("[GA-EXEC-003] exec of a command outside the allow-list MUST be refused with an error and MUST NOT run", func(ctx SpecContext) {
		c := s.open(ctx)
		allow := stringList(s.caps(ctx, c), "allow")
		for _, cmd := range []string{"rm", "sh", "/bin/echo", "../echo"} {
			if slices.Contains(allow, cmd) {
				continue
			}
			r := c.mustCall(ctx, map[string]any{"command": "exec", "cmd": cmd, "args": []string{"-c", "true"}})
			Expect(r).To(HaveKeyWithValue("error", ContainSubstring("not allowed")), "exec of %q outside the allow-list %v", cmd, allow)
			Expect(r).NotTo(HaveKey("code"), "exec of %q reported an exit code, so it ran", cmd)
		}
	})

	s.it("[GA-EXEC-004] the seed's form {\"data\":\"exec:<cmd>\"} MUST run allow-listed commands and refuse others", func(ctx SpecContext) {
		c := s.open(ctx)
		s.needAllowed(ctx, c, "echo")
		r := jsonLine(c.mustLine(ctx, `{"data":"exec:echo seed"}`))
		Expect(r).NotTo(HaveKey("error"), "exec:echo seed was refused")
		Expect(r).To(HaveKeyWithValue("result", "seed\n"), "stdout of exec:echo seed")
		Expect(r).To(HaveKeyWithValue("code", BeNumerically("==", 0)), "exit code of exec:echo seed")
		if !slices.Contains(stringList(s.caps(ctx, c), "allow"), "rm") {
			r = jsonLine(c.mustLine(ctx, `{"data":"exec:rm -rf /nonexistent-ga-conformance"}`))
			Expect(r).To(HaveKeyWithValue("error", Not(BeEmpty())), "exec:rm is not on the allow-list and must be refused")
			Expect(r).NotTo(HaveKey("code"), "exec:rm outside the allow-list reported an exit code, so it ran")
		}
	})

	s.it("[GA-STATUS-001] status MUST report \"running\" with an uptime in seconds that advances with time", func(ctx SpecContext) {
		c := s.open(ctx)
		status := func() float64 {
			GinkgoHelper()
			r := c.mustCall(ctx, map[string]any{"command": "status"})
			Expect(r).To(HaveKeyWithValue("status", "running"))
			Expect(r).To(HaveKeyWithValue("uptime", BeNumerically(">=", 0)), "uptime")
			return r["uptime"].(float64)
		}
		first, start := status(), time.Now()
		last := first
		Eventually(ctx, func() float64 {
			up := status()
			Expect(up).To(BeNumerically(">=", last), "uptime went backwards")
			last = up
			return up
		}).WithTimeout(3*time.Second).WithPolling(200*time.Millisecond).Should(BeNumerically(">", first), "uptime did not advance in 3s")
		elapsed := time.Since(start).Seconds()
		Expect(last-first).To(BeNumerically("<=", elapsed+1.5), "uptime advanced %.0fs in %.1fs of wall time", last-first, elapsed)
	})

	s.it("[GA-METRICS-001] get_metrics MUST return plausible load and memory numbers that are measured, not constant", func(ctx SpecContext) {
		c := s.open(ctx)
		metrics := func() map[string]any {
			GinkgoHelper()
			r := c.mustCall(ctx, map[string]any{"command": "get_metrics"})
			Expect(r).To(HaveKey("result"), "get_metrics reply %v", r)
			m, ok := r["result"].(map[string]any)
			Expect(ok).To(BeTrue(), "get_metrics result is not an object: %v", r["result"])
			for _, k := range []string{"load1", "load5", "load15"} {
				Expect(m).To(HaveKeyWithValue(k, And(BeNumerically(">=", 0), BeNumerically("<", 10000))), "metric %s", k)
			}
			Expect(m).To(HaveKeyWithValue("mem_total_kb", BeNumerically(">", 0)))
			Expect(m).To(HaveKeyWithValue("mem_available_kb", BeNumerically("<=", m["mem_total_kb"])), "available memory above total")
			return m
		}
		first := metrics()
		Eventually(ctx, func() map[string]any { return metrics() }).WithTimeout(3*time.Second).WithPolling(200*time.Millisecond).
			ShouldNot(Equal(first), "get_metrics returned the same numbers for 3s: constants, not measurements")
	})

	s.it("[GA-APP-001] app control MUST start, report and stop an app, each state visible in status", func(ctx SpecContext) {
		c := s.open(ctx)
		app := s.needApp(ctx, c)
		stopApp(ctx, c, app)
		Expect(c.mustCall(ctx, map[string]any{"action": "start", "app": app})).NotTo(HaveKey("error"), "start %s", app)
		Expect(appState(ctx, c, app)).To(Equal("running"), "state of %s after start", app)
		Expect(c.mustCall(ctx, map[string]any{"action": "stop", "app": app})).NotTo(HaveKey("error"), "stop %s", app)
		Expect(appState(ctx, c, app)).To(Equal("stopped"), "state of %s after stop", app)
	})

	s.it("[GA-APP-002] app control MUST refuse unknown apps, unknown actions and invalid transitions with an error", func(ctx SpecContext) {
		c := s.open(ctx)
		app := s.needApp(ctx, c)
		Expect(c.mustCall(ctx, map[string]any{"action": "start", "app": "no-such-app-ga"})).To(HaveKey("error"), "start of an unknown app")
		Expect(c.mustCall(ctx, map[string]any{"action": "explode", "app": app})).To(HaveKey("error"), "unknown action")
		stopApp(ctx, c, app)
		Expect(c.mustCall(ctx, map[string]any{"action": "stop", "app": app})).To(HaveKey("error"), "stop of the stopped app %s", app)
		Expect(c.mustCall(ctx, map[string]any{"action": "start", "app": app})).NotTo(HaveKey("error"), "start %s", app)
		Expect(c.mustCall(ctx, map[string]any{"action": "start", "app": app})).To(HaveKey("error"), "second start of the running app %s", app)
		stopApp(ctx, c, app)
	})

	s.it("[GA-ERR-001] malformed JSON MUST be answered with an error, and the agent MUST keep answering", func(ctx SpecContext) {
		c := s.open(ctx)
		for _, bad := range []string{`{"command":`, `not json at all`, `[1,2,3]`, `{"command":42}`, `"ping"`, `{"command":"ping"}}`} {
			line := c.mustLine(ctx, bad)
			r := jsonLine(line)
			Expect(r).To(HaveKeyWithValue("error", And(BeAssignableToTypeOf(""), Not(BeEmpty()))), "reply to malformed %q must carry a non-empty error", bad)
			Expect(r).NotTo(HaveKey("result"), "reply to malformed %q carries a result", bad)
			Expect(c.mustCall(ctx, map[string]any{"command": "ping"})).To(HaveKeyWithValue("result", "pong"), "ping after malformed %q", bad)
		}
	})

	s.it("[GA-ERR-002] an unknown command MUST be answered, not ignored", func(ctx SpecContext) {
		c := s.open(ctx)
		r := c.mustCall(ctx, map[string]any{"command": "frobnicate"})
		Expect(r).To(Or(HaveKey("error"), HaveKeyWithValue("result", "unknown command")), "reply to an unknown command")
		Expect(c.mustLine(ctx, `{"data":"frobnicate"}`)).To(MatchJSON(`{"result":"unknown command"}`), "seed form of an unknown command")
	})

	s.it("[GA-ERR-003] an over-long request line MUST be answered with an error, and the agent MUST keep answering", func(ctx SpecContext) {
		c := s.open(ctx)
		max, ok := s.caps(ctx, c)["max_line"].(float64)
		if !ok || max <= 0 || max > 4<<20 {
			skip(fmt.Sprintf("agent does not advertise a max_line up to 4 MiB in hello (got %v)", s.caps(ctx, c)["max_line"]))
		}
		long := `{"command":"ping","pad":"` + strings.Repeat("x", int(max)) + `"}`
		Expect(c.mustLine(ctx, long)).To(ContainSubstring(`"error"`), "reply to a %d-byte line (max_line %d)", len(long), int(max))
		Expect(c.mustCall(ctx, map[string]any{"command": "ping"})).To(HaveKeyWithValue("result", "pong"), "ping after an over-long line")
	})
}

// jsonLine decodes a reply line that must be a JSON object.
func jsonLine(line string) map[string]any {
	GinkgoHelper()
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil || m == nil {
		fail(fmt.Sprintf("reply was not a JSON object: %s", hexq([]byte(line))))
	}
	return m
}

func (s *suite) needAllowed(ctx SpecContext, c *conn, cmd string) {
	GinkgoHelper()
	if allow := stringList(s.caps(ctx, c), "allow"); !slices.Contains(allow, cmd) {
		skip(fmt.Sprintf("%q is not on the agent's exec allow-list %v", cmd, allow))
	}
}

func (s *suite) needApp(ctx SpecContext, c *conn) string {
	GinkgoHelper()
	apps := stringList(s.caps(ctx, c), "apps")
	if len(apps) == 0 {
		skip("agent lists no apps in hello")
	}
	return apps[0]
}

// appState returns the state status reports for app.
func appState(ctx SpecContext, c *conn, app string) string {
	GinkgoHelper()
	r := c.mustCall(ctx, map[string]any{"action": "status", "app": app})
	Expect(r).NotTo(HaveKey("error"), "status of app %s", app)
	res, _ := r["result"].(map[string]any)
	Expect(res).To(HaveKey("state"), "status of app %s: %v", app, r)
	st, _ := res["state"].(string)
	return st
}

// stopApp leaves app stopped.
func stopApp(ctx SpecContext, c *conn, app string) {
	GinkgoHelper()
	if appState(ctx, c, app) == "running" {
		Expect(c.mustCall(ctx, map[string]any{"action": "stop", "app": app})).NotTo(HaveKey("error"), "stop %s", app)
	}
}
