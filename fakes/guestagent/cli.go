package guestagent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// ErrUsage marks CLI errors caused by bad flags.
var ErrUsage = errors.New("usage")

// CLI holds the flags of the standalone agent command (`vmtestbed agent`,
// `vmagent`), so both binaries parse them the same way.
type CLI struct {
	Port     string
	Listen   string
	Protocol string
	Fault    string
	Allow    string
	Root     string
	Delay    time.Duration
	MaxLine  int
	Single   bool
}

// Bind registers the flags on fs.
func (c *CLI) Bind(fs *pflag.FlagSet) {
	fs.StringVar(&c.Port, "port", "", "guest end of the channel: a virtio port (/dev/virtio-ports/NAME) or a pty slave path")
	fs.StringVar(&c.Listen, "listen", "", "instead of --port, serve every connection to a unix socket at this path (like qemu-ga -m unix-listen)")
	fs.StringVar(&c.Protocol, "protocol", ProtocolJSON, "protocol: json or line")
	fs.StringVar(&c.Fault, "fault", "", "misbehave on purpose: "+strings.Join(faultNames(), ", "))
	fs.StringVar(&c.Allow, "allow", strings.Join(DefaultAllow, ","), "comma-separated exec allow-list of bare command names (empty: none)")
	fs.StringVar(&c.Root, "root", "", "directory file transfer is confined to (empty: file commands refused)")
	fs.DurationVar(&c.Delay, "delay", 0, "reply delay for --fault delay, pause per byte for --fault slow-reader")
	fs.IntVar(&c.MaxLine, "max-line", DefaultMaxLine, "longest accepted request line in bytes")
	fs.BoolVar(&c.Single, "single-client", false, "with --listen, serve one connection at a time, as a QEMU chardev does")
}

// Options turns the flags other than where to serve (--port, --listen; see
// Run) into agent Options; errors wrap ErrUsage.
func (c *CLI) Options() (Options, error) {
	allow := []string{}
	for a := range strings.SplitSeq(c.Allow, ",") {
		if a = strings.TrimSpace(a); a != "" {
			allow = append(allow, a)
		}
	}
	o := Options{Protocol: c.Protocol, Fault: Fault(c.Fault), Allow: allow, Root: c.Root, Delay: c.Delay, MaxLine: c.MaxLine, SingleClient: c.Single}
	if _, err := o.withDefaults(); err != nil {
		return Options{}, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	return o, nil
}

// Run builds the agent and serves --port or --listen until the host side
// goes away or ctx ends. Flag errors and a port that cannot be opened wrap
// ErrUsage.
func (c *CLI) Run(ctx context.Context) error {
	if (c.Port == "") == (c.Listen == "") {
		return fmt.Errorf("%w: give exactly one of --port or --listen", ErrUsage)
	}
	o, err := c.Options()
	if err != nil {
		return err
	}
	a, err := New(o)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if c.Listen != "" {
		err = a.ListenUnix(ctx, c.Listen)
	} else {
		err = a.ServePort(ctx, c.Port)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return nil
	case errors.Is(err, ErrOpenPort):
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	return err
}
