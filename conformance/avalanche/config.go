package avalanche

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/transport"
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

	// Release is the AvalancheGo release the node emulates, e.g. "v1.14.2":
	// its protocol, and the node version Connected and the node announce.
	// "" = the release of Protocol (the newest release speaking it).
	Release string
	// Protocol is the rpcchainvm protocol the fake node speaks; 0 = the
	// Release's, or the newest.
	Protocol uint
	// SameWire accepts a plugin announcing another protocol with an
	// identical wire (the old leniency). AvalancheGo requires an exact match,
	// and so does the suite by default ([AVA-HSK-001]).
	SameWire bool
	// HandshakeTimeout bounds the Runtime/Initialize handshake (0 = 5s).
	HandshakeTimeout time.Duration
	// CallTimeout bounds every VM call but Initialize and Shutdown, and
	// every wait for an event (0 = 5s).
	CallTimeout time.Duration
	// InitializeTimeout and ShutdownTimeout bound the Initialize and
	// Shutdown calls; 0 = no limit but Timeout, as AvalancheGo sets none.
	InitializeTimeout, ShutdownTimeout time.Duration
	// GracePeriod is the SIGTERM -> SIGKILL wait after Shutdown (0 = 5s).
	GracePeriod time.Duration
	// Timeout bounds the whole run (0 = 30m). When it runs out, the suite
	// stops and names the calls that were still running.
	Timeout time.Duration

	// NetworkID, Genesis, Upgrade, ChainConfig and SubnetConfig go into the
	// node and its InitializeRequest. NetworkID 0 = local (12345); an empty
	// Genesis is taken from the Workload.
	NetworkID                                   uint32
	Genesis, Upgrade, ChainConfig, SubnetConfig []byte
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

	// Nodes is how many instances of the plugin run together (0 = 1). With
	// 2 or more the multi-node specs ([AVA-NET-…]) run too, on a network
	// NewNetwork builds; with 1 they are not registered.
	Nodes int
	// NewNetwork builds the network of Nodes nodes for the multi-node
	// specs; required when Nodes >= 2. See Network.
	NewNetwork NewNetworkFunc

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
	defaultGracePeriod      = 5 * time.Second
	defaultTimeout          = 30 * time.Minute
	defaultRepeat           = 3
)

// DefaultConfig is a Config with every knob at its default, the one the CLI
// binds its flags onto. Set Plugin (or InProcess and Bufnet) before use.
// Release and Protocol stay zero: the newest release and its protocol.
func DefaultConfig() Config {
	return Config{
		HandshakeTimeout: defaultHandshakeTimeout,
		CallTimeout:      defaultCallTimeout,
		GracePeriod:      defaultGracePeriod,
		Timeout:          defaultTimeout,
		Repeat:           defaultRepeat,
		Nodes:            1,
	}
}

// withDefaults returns a copy of c with zero values replaced by defaults.
// An unknown Release is left for validate to report.
func (c Config) withDefaults() Config {
	if c.Protocol == 0 && c.Release != "" {
		c.Protocol, _ = avalanchego.ProtocolForRelease(c.Release)
	}
	if c.Protocol == 0 {
		c.Protocol = avalanchego.NewestProtocol
	}
	if c.Release == "" {
		c.Release = avalanchego.ReleaseForProtocol(c.Protocol)
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = defaultHandshakeTimeout
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = defaultCallTimeout
	}
	if c.GracePeriod <= 0 {
		c.GracePeriod = defaultGracePeriod
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	if c.Repeat <= 0 {
		c.Repeat = defaultRepeat
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	if c.Nodes <= 0 {
		c.Nodes = 1
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
	case c.Nodes >= 2 && c.NewNetwork == nil:
		return errNoNetwork
	case len(c.SubnetConfig) > 0 && !json.Valid(c.SubnetConfig):
		return errors.New("Config.SubnetConfig: the subnet config is not JSON")
	case c.Release != "":
		p, err := avalanchego.ProtocolForRelease(c.Release)
		if err != nil {
			return fmt.Errorf("Config.Release: %w", err)
		}
		if c.Protocol != 0 && c.Protocol != p {
			return fmt.Errorf("Config.Release %s speaks protocol %d, Config.Protocol says %d", c.Release, p, c.Protocol)
		}
	}
	return nil
}

// nodeVersion is what the node announces: "avalanchego/1.14.2".
func (c Config) nodeVersion() string {
	return "avalanchego/" + strings.TrimPrefix(c.Release, "v")
}

// notices is where launcher notices go.
func (c Config) notices() io.Writer {
	if c.Notices != nil {
		return c.Notices
	}
	return c.Log
}
