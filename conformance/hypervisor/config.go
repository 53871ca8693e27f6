package hypervisor

import (
	"context"
	"slices"
	"time"

	"google.golang.org/grpc"
)

// Config says where the implementation under test is and how to run.
type Config struct {
	// Addr is the control plane (Cluster, Compute, Network and Storage
	// services), dialed (insecure, passthrough resolver) when Conn is nil.
	Addr string
	// DialOptions are extra options for dialing Addr and AgentAddr, e.g. a
	// bufconn dialer.
	DialOptions []grpc.DialOption
	// Conn, when set, is used instead of dialing Addr; the suite never closes it.
	Conn grpc.ClientConnInterface

	// AgentAddr is the node agent serving AgentService. Agents run per node
	// (as csi-sanity separates controller and node endpoints); the default is
	// Addr, for a server that serves AgentService next to the control plane.
	AgentAddr string
	// AgentConn, when set, is used for AgentService instead of dialing AgentAddr.
	AgentConn grpc.ClientConnInterface

	// NodeAgentListen is where the suite serves its own node agent, the
	// AgentService every node it registers points at (ip and port), so a
	// control plane that dials its nodes can schedule onto them. Default
	// "127.0.0.1:0".
	NodeAgentListen string
	// NodeAgentAdvertise is the ip registered nodes carry when the control
	// plane must reach the node agent at another address than the listener's.
	NodeAgentAdvertise string
	// InstanceTypes is what registered nodes advertise in
	// supported_instance_types. Default "vm", "container", "microvm".
	InstanceTypes []string

	// SpecTimeout bounds each spec, and its cleanup separately. Default 30s.
	SpecTimeout time.Duration
	// WaitTimeout bounds each wait for a state or an event, so a spec that
	// waits in vain says what it waited for before its own timeout. Default
	// 10s, and at most two thirds of SpecTimeout.
	WaitTimeout time.Duration
	// LeaseWait bounds the real time each lease spec may spend (HV-CLU-006
	// two lease TTLs and HV-CLU-009 one, plus half a TTL) when ServerClock is
	// nil; a server whose lease_ttl_seconds needs more is skipped with that
	// reason. Default 2m (a 30 s lease is checked); those specs' timeouts
	// grow by it.
	LeaseWait time.Duration
	// ServerClock, when set, moves the server's clock forward, so the lease
	// specs check renewal and expiry without waiting in real time.
	ServerClock ServerClock

	// Timeout bounds the whole run (RunSuite only). Default 30m.
	Timeout time.Duration
	// Prefix starts the names of everything the suite creates. Default
	// "conform-" plus a random tag, so runs against a shared server do not collide.
	Prefix string
}

// ServerClock moves the clock of the implementation under test (an
// in-process server built on an injectable clock).
type ServerClock interface {
	// Advance moves the server's time forward by d and returns once the
	// server has acted on every deadline d passes.
	Advance(ctx context.Context, d time.Duration) error
}

const (
	defaultSpecTimeout = 30 * time.Second
	defaultTimeout     = 30 * time.Minute
	defaultWait        = 10 * time.Second
	defaultLeaseWait   = 2 * time.Minute
	defaultListen      = "127.0.0.1:0"
)

// defaultInstanceTypes is Config.InstanceTypes's default (handed out as a
// copy).
var defaultInstanceTypes = []string{"vm", "container", "microvm"}

// DefaultConfig is a Config with every knob at its default, the one the CLI
// binds its flags onto. Set Addr (or Conn) before use.
func DefaultConfig() Config {
	return Config{
		NodeAgentListen: defaultListen,
		InstanceTypes:   slices.Clone(defaultInstanceTypes),
		SpecTimeout:     defaultSpecTimeout,
		WaitTimeout:     defaultWait,
		LeaseWait:       defaultLeaseWait,
		Timeout:         defaultTimeout,
	}
}

func (c *Config) specTimeout() time.Duration {
	if c.SpecTimeout <= 0 {
		return defaultSpecTimeout
	}
	return c.SpecTimeout
}

func (c *Config) runTimeout() time.Duration {
	if c.Timeout <= 0 {
		return defaultTimeout
	}
	return c.Timeout
}

func (c *Config) waitTimeout() time.Duration {
	w := c.WaitTimeout
	if w <= 0 {
		w = defaultWait
	}
	return min(w, c.specTimeout()*2/3)
}

func (c *Config) leaseWait() time.Duration {
	if c.LeaseWait <= 0 {
		return defaultLeaseWait
	}
	return c.LeaseWait
}

func (c *Config) instanceTypes() []string {
	if len(c.InstanceTypes) == 0 {
		return slices.Clone(defaultInstanceTypes)
	}
	return c.InstanceTypes
}

func (c *Config) nodeAgentListen() string {
	if c.NodeAgentListen == "" {
		return defaultListen
	}
	return c.NodeAgentListen
}
