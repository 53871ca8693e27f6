package guestagent

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	. "github.com/onsi/ginkgo/v2"
)

// suite is the state of one registered suite: its config and what hello
// told about the agent (asked once, by the first spec that needs it).
type suite struct {
	cfg Config

	mu       sync.Mutex
	hello    map[string]any
	helloErr error

	ids atomic.Uint64 // request ids are unique in the suite, so a late reply from one spec never matches in the next
}

// newID returns a request id unique in the suite.
func (s *suite) newID(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, s.ids.Add(1))
}

// Register adds the suite's specs for cfg.Protocol to the caller's ginkgo
// suite; cfg is read now. Call it at tree-construction time (top level or in
// a container), and register report.SanitizingFail as the fail handler so an
// agent's control characters never reach a report.
func Register(cfg *Config) {
	c, err := cfg.withDefaults()
	s := &suite{cfg: c}
	Describe(fmt.Sprintf("guest agent (%s)", c.Protocol), func() {
		if err != nil {
			It("[GA-CONFIG-001] the suite configuration MUST be valid", func() { fail(err.Error()) })
			return
		}
		switch c.Protocol {
		case ProtocolJSON:
			s.jsonSpecs()
			s.fileSpecs()
		case ProtocolLine:
			s.lineSpecs()
		case ProtocolQGA:
			s.qgaSpecs()
		}
		s.channelSpecs()
	})
}

// it declares a spec bounded by the config's spec timeout.
func (s *suite) it(text string, body func(ctx SpecContext)) {
	It(text, body, SpecTimeout(s.cfg.specTimeout()))
}

// caps returns hello's result for the JSON profile, asking once. A failed
// hello fails every spec that needs it, with hello's reason.
func (s *suite) caps(ctx context.Context, c *conn) map[string]any {
	GinkgoHelper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hello == nil && s.helloErr == nil {
		r, err := c.call(ctx, map[string]any{"command": "hello"})
		switch {
		case err != nil:
			s.helloErr = err
		case r["result"] == nil:
			s.helloErr = fmt.Errorf("hello answered without a result: %v", r)
		default:
			res, ok := r["result"].(map[string]any)
			if !ok {
				s.helloErr = fmt.Errorf("hello result is not an object: %v", r["result"])
			}
			s.hello = res
		}
	}
	if s.helloErr != nil {
		fail("needs the agent's capabilities, but hello failed: " + s.helloErr.Error())
	}
	return s.hello
}

// cachedCaps returns hello's result if an earlier spec got it, else nil.
func (s *suite) cachedCaps() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hello
}

// offers reports whether hello listed command.
func offers(caps map[string]any, command string) bool {
	list, _ := caps["commands"].([]any)
	return slices.Contains(list, any(command))
}

// strings returns hello's list field as strings.
func stringList(caps map[string]any, field string) []string {
	var out []string
	list, _ := caps[field].([]any)
	for _, v := range list {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
