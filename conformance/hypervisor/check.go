package hypervisor

import (
	"context"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// expectCode fails unless err carries the status code the contract requires.
// what describes the call, e.g. "CreateInstance with a duplicate name".
func expectCode(err error, want codes.Code, what string, args ...any) {
	GinkgoHelper()
	desc := fmt.Sprintf(what, args...)
	Expect(status.Code(err)).To(Equal(want),
		"%s: the server returned %s (%v); the contract says %s", desc, status.Code(err), err, want)
}

// expectOK fails when a call that the contract says succeeds returned an error.
func expectOK(err error, what string, args ...any) {
	GinkgoHelper()
	Expect(err).NotTo(HaveOccurred(), "%s: the contract says it succeeds", fmt.Sprintf(what, args...))
}

// waitBound is how long a wait may take: WaitTimeout, and always ending
// before ctx does (with a margin), so a wait that times out fails with what
// it waited for rather than with the spec's bare timeout.
func (e *env) waitBound(ctx context.Context) time.Duration {
	bound := e.cfg.waitTimeout()
	if dl, ok := ctx.Deadline(); ok {
		margin := min(2*time.Second, e.cfg.specTimeout()/10)
		bound = min(bound, time.Until(dl)-margin)
	}
	return max(bound, 10*time.Millisecond)
}

// eventually polls f until it passes, within waitBound; what names what is
// awaited, for the failure message. Its calls are polling calls: a failure is
// blamed on the call that started the change (see recorder.poll).
func (e *env) eventually(ctx context.Context, what string, f func(g Gomega)) {
	GinkgoHelper()
	bound := e.waitBound(ctx)
	e.rec.poll(func() {
		Eventually(ctx, f).WithTimeout(bound).WithPolling(5*time.Millisecond).
			Should(Succeed(), "waited %s for %s", bound, what)
	})
}

// caseFailure carries a failed case's message out of its Gomega.
type caseFailure string

// cases runs named checks in their declared order and reports every one that
// failed, not only the first; a case whose method the server does not
// implement is skipped and named.
type cases struct {
	e        *env
	what     string
	failures []string
	blamed   []string
	skipped  []string
	ran      int
}

// cases starts a list of cases; what names them in the failure message.
func (e *env) cases(what string) *cases { return &cases{e: e, what: what} }

// check runs case name, whose subject is method (a full method name), with
// its own Gomega; a failure is collected.
func (c *cases) check(name, method string, f func(g Gomega)) {
	if r, ok := c.e.rec.probe.Result(method); ok && r.Class != Implemented {
		c.skipped = append(c.skipped, fmt.Sprintf("%s (%s is %s)", name, short(method), r.Class))
		return
	}
	c.ran++
	msg := func() (msg string) {
		defer func() {
			if p := recover(); p != nil {
				f, ok := p.(caseFailure)
				if !ok {
					panic(p)
				}
				msg = string(f)
			}
		}()
		g := NewGomega(func(message string, _ ...int) { panic(caseFailure(message)) })
		f(g)
		return ""
	}()
	if msg != "" {
		c.failures = append(c.failures, fmt.Sprintf("%s: %s", name, msg))
		c.blamed = append(c.blamed, method)
	}
}

// done fails the spec with every failed case, or skips it when no case could
// run; skipped cases are named in the spec's report.
func (c *cases) done() {
	GinkgoHelper()
	if len(c.skipped) > 0 {
		AddReportEntry("skipped cases", strings.Join(c.skipped, "; "))
	}
	if len(c.failures) > 0 {
		c.e.rec.blameAll(c.blamed)
		Fail(fmt.Sprintf("%d of %d %s failed:\n  %s", len(c.failures), c.ran, c.what, strings.Join(c.failures, "\n  ")))
	}
	if c.ran == 0 && len(c.skipped) > 0 {
		Skip("precondition not met: every case needs a method the server does not offer: " + strings.Join(c.skipped, "; "))
	}
}

// codeIs is expectCode for a case's Gomega.
func codeIs(g Gomega, err error, want codes.Code, what string, args ...any) {
	g.Expect(status.Code(err)).To(Equal(want), "%s: the server returned %s (%v); the contract says %s",
		fmt.Sprintf(what, args...), status.Code(err), err, want)
}
