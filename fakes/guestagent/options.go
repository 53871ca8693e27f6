package guestagent

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vmtestbed/vmtestbed/sim"
)

// Protocols an Agent speaks.
const (
	ProtocolJSON = "json" // one JSON object per line
	ProtocolLine = "line" // the seed's shell agent: ping, status, version
)

// ProtocolVersion is the JSON protocol version reported by hello.
const ProtocolVersion = 1

// AgentName is the agent name reported by hello and version.
const AgentName = "vmtestbed"

// Version is the agent's software version.
const Version = "1.0.0"

// DefaultPortName is the virtio-serial port (and libvirt channel) name of
// the project's guest agent.
const DefaultPortName = "com.vmagent.sock"

// Defaults used when an Options field is zero.
const (
	DefaultMaxLine     = 256 << 10 // bytes per request line, newline excluded
	DefaultMaxFileSize = 64 << 20
	DefaultChunkMax    = 48 << 10 // decoded bytes per file chunk or read
	DefaultDelay       = 3 * time.Second
	DefaultSlowByte    = 20 * time.Millisecond
	DefaultExecTimeout = 10 * time.Second
)

// DefaultAllow is the exec allow-list used when Options.Allow is nil.
var DefaultAllow = []string{"echo", "uname", "hostname", "true", "false"}

// DefaultApps are the simulated applications app control knows.
var DefaultApps = []string{"nginx", "redis", "postgres"}

// Options configure an Agent. The zero value is a healthy JSON agent with the
// default allow-list and no file root (file commands are refused).
type Options struct {
	Protocol string // ProtocolJSON (default) or ProtocolLine
	Fault    Fault  // FaultNone (default) or a fault mode
	// Delay is the reply delay for FaultDelay (default DefaultDelay) and the
	// pause between bytes for FaultSlowReader (default DefaultSlowByte).
	Delay       time.Duration
	Allow       []string // exec allow-list of bare command names; nil means DefaultAllow
	Root        string   // directory file transfer is confined to; "" disables file commands
	MaxLine     int      // longest accepted request line; 0 means DefaultMaxLine
	MaxFileSize int64    // largest accepted upload; 0 means DefaultMaxFileSize
	ExecTimeout time.Duration
	Apps        []string  // simulated apps; nil means DefaultApps
	Clock       sim.Clock // uptime and app timestamps; nil means the wall clock
	Seed        uint64    // seed for FaultGarbage bytes
	// SingleClient makes ServeListener serve one connection at a time, as a QEMU chardev
	// socket does: a second client waits until the first hangs up.
	SingleClient bool
	// PowerOff, when set, offers the "poweroff" command: the agent answers,
	// then calls it (RunInit sets it to power the guest off).
	PowerOff func() error
}

func (o Options) withDefaults() (Options, error) {
	if o.Protocol == "" {
		o.Protocol = ProtocolJSON
	}
	if o.Protocol != ProtocolJSON && o.Protocol != ProtocolLine {
		return o, fmt.Errorf("unknown protocol %q (want %s or %s)", o.Protocol, ProtocolJSON, ProtocolLine)
	}
	if !slices.Contains(Faults(), o.Fault) {
		return o, fmt.Errorf("unknown fault mode %q (want one of %s)", o.Fault, strings.Join(faultNames(), ", "))
	}
	if o.Delay <= 0 {
		o.Delay = DefaultDelay
		if o.Fault == FaultSlowReader {
			o.Delay = DefaultSlowByte
		}
	}
	if o.Allow == nil {
		o.Allow = DefaultAllow
	}
	for _, c := range o.Allow {
		if c == "" || strings.ContainsAny(c, "/ \t") {
			return o, fmt.Errorf("allow-list entry %q must be a bare command name", c)
		}
	}
	if o.MaxLine <= 0 {
		o.MaxLine = DefaultMaxLine
	}
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = DefaultMaxFileSize
	}
	if o.ExecTimeout <= 0 {
		o.ExecTimeout = DefaultExecTimeout
	}
	if o.Apps == nil {
		o.Apps = DefaultApps
	}
	if o.Clock == nil {
		o.Clock = sim.RealClock{}
	}
	return o, nil
}
