package virtio

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// Builder assembles a Client: a channel name, one endpoint (socket path, domain XML or pty
// master), a handler (raw unless told), a timeout and a reconnect policy.
type Builder struct {
	name       string
	socketPath string
	domainXML  []byte
	master     *os.File
	channel    Channel
	handler    ProtocolHandler
	timeout    time.Duration
	policy     ReconnectPolicy
	opts       []Option
}

// NewBuilder starts a Builder for the channel with target name channelName.
func NewBuilder(channelName string) *Builder {
	return &Builder{name: channelName, policy: DefaultReconnect, timeout: DefaultTimeout}
}

// WithSocketPath uses the unix socket at path.
func (b *Builder) WithSocketPath(path string) *Builder { b.socketPath = path; return b }

// WithDomainXML finds the socket in a libvirt domain description: a channel in mode 'bind' is
// dialled, one in mode 'connect' is listened on (QEMU dials it).
func (b *Builder) WithDomainXML(domain []byte) *Builder { b.domainXML = domain; return b }

// WithPTY uses a pty master (from OpenPTYPair); the client's Close closes it.
func (b *Builder) WithPTY(master *os.File) *Builder { b.master = master; return b }

// WithChannel uses a channel built elsewhere.
func (b *Builder) WithChannel(ch Channel) *Builder { b.channel = ch; return b }

// WithChannelOptions passes options to the channel the builder creates.
func (b *Builder) WithChannelOptions(opts ...Option) *Builder {
	b.opts = append(b.opts, opts...)
	return b
}

// WithRawHandler sends bytes unchanged and takes one read as the reply.
func (b *Builder) WithRawHandler() *Builder { b.handler = NewRawHandler(); return b }

// WithJSONHandler wraps requests as {"data":…} and reads "data" from the reply line.
func (b *Builder) WithJSONHandler() *Builder { b.handler = NewJSONHandler(); return b }

// WithCustomJSONHandler is WithJSONHandler with other field names, e.g. ("command", "response").
func (b *Builder) WithCustomJSONHandler(requestField, replyField string) *Builder {
	b.handler = NewCustomJSONHandler(requestField, replyField)
	return b
}

// WithHandler uses h.
func (b *Builder) WithHandler(h ProtocolHandler) *Builder { b.handler = h; return b }

// WithTimeout bounds each Request.
func (b *Builder) WithTimeout(d time.Duration) *Builder { b.timeout = d; return b }

// WithReconnect sets how the client reopens the channel.
func (b *Builder) WithReconnect(p ReconnectPolicy) *Builder { b.policy = p; return b }

// ErrBadBuilder is wrapped by Build errors about the builder's own settings.
var ErrBadBuilder = errors.New("invalid builder settings")

// Build checks the settings and returns a client; it does not connect (the first Request or
// Client.Connect does).
func (b *Builder) Build() (*Client, error) {
	fail := func(format string, args ...any) (*Client, error) {
		return nil, fmt.Errorf("build client for %s: %w: %s", b.name, ErrBadBuilder, fmt.Sprintf(format, args...))
	}
	if b.name == "" {
		return fail("empty channel name")
	}
	set := 0
	for _, ok := range []bool{b.socketPath != "", b.domainXML != nil, b.master != nil, b.channel != nil} {
		if ok {
			set++
		}
	}
	if set != 1 {
		return fail("need exactly one of socket path, domain XML, pty master, channel; got %d", set)
	}
	if b.timeout <= 0 {
		return fail("timeout must be positive, got %s", b.timeout)
	}
	h := b.handler
	if h == nil {
		h = NewRawHandler()
	}
	ch := b.channel
	switch {
	case b.master != nil:
		ch = NewPTYChannel(b.name, b.master, b.opts...)
	case b.domainXML != nil:
		src, err := FindChannel(b.domainXML, b.name)
		if err != nil {
			return nil, fmt.Errorf("build client: %w", err)
		}
		if src.Mode == ModeConnect {
			ch = NewUnixListenChannel(b.name, src.Path, b.opts...)
		} else {
			ch = NewUnixChannel(b.name, src.Path, b.opts...)
		}
	case b.socketPath != "":
		ch = NewUnixChannel(b.name, b.socketPath, b.opts...)
	}
	return NewClient(ch, h, b.timeout, b.policy), nil
}
