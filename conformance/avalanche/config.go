package avalanche

import (
	"context"
	"io"
	"time"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/internal/transport"
)

// Config says which plugin to check and how.
type Config struct {
	// Plugin is the path to a plugin binary, launched as AvalancheGo does.
	Plugin string
	// InProcess is an in-process plugin (e.g. refvm.Serve bound to Bufnet),
	// used when Plugin is empty. It must listen on Bufnet.
	InProcess func(ctx context.Context, engineAddr string) error
	// Bufnet is the address book InProcess listens on; the fake node's
	// services listen there too. Required with InProcess.
	Bufnet *transport.Bufnet

	// Protocol is the rpcchainvm protocol the fake node speaks; 0 = newest.
	Protocol uint
	// HandshakeTimeout bounds the Runtime/Initialize handshake (0 = 5s).
	HandshakeTimeout time.Duration
	// CallTimeout bounds every single VM call and every wait for an event
	// (0 = 5s).
	CallTimeout time.Duration
	// ShutdownTimeout is the SIGTERM -> SIGKILL grace period (0 = 5s).
	ShutdownTimeout time.Duration

	// Genesis and ChainConfig go into the InitializeRequest. An empty
	// Genesis is taken from the Workload.
	Genesis, ChainConfig []byte
	// Workload makes the VM want a block. nil = auto-detect (the refvm API),
	// else the block-building specs are skipped with a reason.
	Workload Workload
	// Repeat is how often idempotency specs repeat a call (0 = 3).
	Repeat int
	// DBDir, when set, backs the node's rpcdb with an on-disk avalanchego
	// leveldb: each plugin launch gets its own subdirectory launch-N, kept
	// after the run for inspection. Empty = in-memory memdb.
	DBDir string
	// Seed makes the fake node's ids and keys deterministic.
	Seed int64

	// Trace, when set, records every RPC in both directions.
	Trace *avalanchego.Trace
	// Log receives the plugin's stdout/stderr, and launcher notices when
	// Notices is nil.
	Log io.Writer
	// Notices receives launcher notices, e.g. that the plugin speaks an
	// older protocol with the same wire. Every launch repeats them.
	Notices io.Writer
}

// Workload makes a VM want a block, through the VM's own HTTP API.
type Workload interface {
	Name() string
	// Genesis is used when Config.Genesis is empty.
	Genesis() ([]byte, error)
	// IssueTx submits n transactions through the VM's HTTP API.
	IssueTx(ctx context.Context, http *avalanchego.HTTPClient, n int) error
}

const (
	defaultHandshakeTimeout = 5 * time.Second
	defaultCallTimeout      = 5 * time.Second
	defaultShutdownTimeout  = 5 * time.Second
	defaultRepeat           = 3
)

// withDefaults returns a copy of c with zero values replaced by defaults.
func (c Config) withDefaults() Config {
	if c.Protocol == 0 {
		c.Protocol = avalanchego.NewestProtocol
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = defaultHandshakeTimeout
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = defaultCallTimeout
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = defaultShutdownTimeout
	}
	if c.Repeat <= 0 {
		c.Repeat = defaultRepeat
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

// validate reports a configuration that cannot launch anything.
func (c Config) validate() error {
	switch {
	case c.Plugin == "" && c.InProcess == nil:
		return errNoTarget
	case c.Plugin != "" && c.InProcess != nil:
		return errTwoTargets
	case c.InProcess != nil && c.Bufnet == nil:
		return errNoBufnet
	}
	return nil
}

// notices is where launcher notices go.
func (c Config) notices() io.Writer {
	if c.Notices != nil {
		return c.Notices
	}
	return c.Log
}
