package hypervisor

import (
	"io"
	"time"

	"google.golang.org/grpc"
)

// Config says where the implementation under test is and how to run.
type Config struct {
	// Addr is dialed (insecure, passthrough resolver) when Conn is nil.
	Addr string
	// DialOptions are extra options for dialing Addr, e.g. a bufconn dialer.
	DialOptions []grpc.DialOption
	// Conn, when set, is used instead of dialing Addr; the suite never closes it.
	Conn grpc.ClientConnInterface
	// Timeout bounds each spec, and its cleanup separately. Default 30s.
	Timeout time.Duration
	// Focus is a regular expression on spec text (Run and RunSuite only).
	Focus string
	// Skip is a regular expression on spec text of specs not to run (Run and
	// RunSuite only), e.g. known gaps of an implementation.
	Skip string
	// Progress, when set, gets one line per finished spec (Run and RunSuite).
	Progress io.Writer
	// Prefix starts the names of everything the suite creates. Default
	// "conform-" plus a random tag, so runs against a shared server do not collide.
	Prefix string
}

const defaultTimeout = 30 * time.Second

func (c *Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return defaultTimeout
	}
	return c.Timeout
}
