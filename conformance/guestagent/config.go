package guestagent

import (
	"context"
	"fmt"
	"time"

	"github.com/vmtestbed/vmtestbed/virtio"
)

// Profiles the suite checks.
const (
	ProtocolJSON = "json"
	ProtocolLine = "line"
	ProtocolQGA  = "qga"
)

// Config says how to reach the agent under test and how strictly to wait.
type Config struct {
	// Dial returns a connected channel to the agent. The suite closes it when
	// the spec ends. For a target with one channel (a pty), use Shared.
	Dial func(ctx context.Context) (virtio.Channel, error)
	// Protocol is ProtocolJSON (default), ProtocolLine or ProtocolQGA.
	Protocol string
	// CallTimeout bounds every request/reply exchange (default 5s).
	CallTimeout time.Duration
	// Timeout bounds the whole run (default 30m; RunSuite only).
	Timeout time.Duration
	// Repeat is how often repeatable checks run (default 3).
	Repeat int
	// MaxChannels is how many channels Dial can have open at once (default
	// 1); the concurrent-channel spec is skipped below 2.
	MaxChannels int
	// GuestTempDir is a writable directory on the guest for qga file specs
	// (default /tmp).
	GuestTempDir string
}

const (
	defaultCallTimeout  = 5 * time.Second
	defaultTimeout      = 30 * time.Minute
	defaultRepeat       = 3
	defaultMaxChannels  = 1
	defaultGuestTempDir = "/tmp"
)

// DefaultConfig is a Config with every knob at its default, the one the CLI
// binds its flags onto. Set Dial before use.
func DefaultConfig() Config {
	return Config{
		Protocol:     ProtocolJSON,
		CallTimeout:  defaultCallTimeout,
		Timeout:      defaultTimeout,
		Repeat:       defaultRepeat,
		MaxChannels:  defaultMaxChannels,
		GuestTempDir: defaultGuestTempDir,
	}
}

func (c Config) withDefaults() (Config, error) {
	if c.Dial == nil {
		return c, fmt.Errorf("guest agent suite: Config.Dial is nil")
	}
	switch c.Protocol {
	case "":
		c.Protocol = ProtocolJSON
	case ProtocolJSON, ProtocolLine, ProtocolQGA:
	default:
		return c, fmt.Errorf("guest agent suite: unknown protocol %q (want json, line or qga)", c.Protocol)
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = defaultCallTimeout
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	if c.Repeat <= 0 {
		c.Repeat = defaultRepeat
	}
	if c.MaxChannels <= 0 {
		c.MaxChannels = defaultMaxChannels
	}
	if c.GuestTempDir == "" {
		c.GuestTempDir = defaultGuestTempDir
	}
	return c, nil
}

// specTimeout bounds one spec: enough for its longest sequence of requests.
func (c Config) specTimeout() time.Duration { return 40*c.CallTimeout + 10*time.Second }
