package avalanche

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/ava-labs/avalanchego/ids"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/sim"
)

// Network is what the multi-node specs ([AVA-NET-…]) drive: Nodes fake
// AvalancheGo nodes in one sim.World, each running its own instance of the
// plugin under check, sharing one validator set, with gossip, app requests,
// a Snowman-like decider and bootstrapping between them. It is driven from
// one goroutine; Run* let virtual time pass.
//
// harness.Network implements it. The suite does not import harness
// (conformance and harness are siblings in DESIGN.md's dependency rule,
// cmd -> conformance/harness -> fakes/sim): the caller passes a constructor
// in Config.NewNetwork, as the CLI does.
type Network interface {
	NodeNames() []string // "n1", "n2", ... in index order
	// Issue submits a transaction through node's plugin API (the refvm
	// API: refvm.issueTx key=value); the suite uses it without a Workload.
	Issue(node, key, value string) error
	// HTTP is the client of node's first chain HTTP handler, where a
	// Workload issues its transactions.
	HTTP(node string) (*avalanchego.HTTPClient, bool)
	// Build makes node propose a block (WaitForEvent, BuildBlock, ...).
	Build(node string) error
	Run(d time.Duration) error
	RunUntil(cond func() bool, limit time.Duration) error
	// RunUntilHeight runs until every running node accepted height h; an
	// invariant the network checks (agreement, accepted path, nothing
	// accepted and rejected) that breaks on the way is the error.
	RunUntilHeight(h uint64, limit time.Duration) error
	// LastAccepted is node's last accepted block as its engine sees it;
	// false when it is down.
	LastAccepted(node string) (avalanchego.BlockInfo, bool)
	AcceptedAt(node string, h uint64) (avalanchego.BlockInfo, bool)
	// PluginLastAccepted is the last accepted block node's plugin reported
	// in its latest SetState answer.
	PluginLastAccepted(node string) ids.ID
	NodeState(node string) string // "down", "bootstrapping" or "normal"
	StopNode(node string) error   // a crash: no Shutdown; the database is kept
	StartNode(node string) error  // start again on its database and bootstrap
	Heights() string              // e.g. "n1=3 n2=3 n3=down", for messages
	Trace() *sim.Trace
	Close() error
}

// NetworkOptions is what the suite asks of Config.NewNetwork.
type NetworkOptions struct {
	Nodes int
	Seed  int64
	// Plugin is Config.Plugin: the binary every node launches. Empty: the
	// constructor runs its in-process VM (the one Config.InProcess is an
	// instance of).
	Plugin           string
	HandshakeTimeout time.Duration
	// Protocol and SameWire are the suite's (Config.Protocol, SameWire).
	Protocol uint
	SameWire bool
	// Genesis is Config.Genesis, or the Workload's.
	Genesis []byte
	Log     io.Writer
}

// NewNetworkFunc builds a started network (every node in normal operation).
type NewNetworkFunc func(ctx context.Context, o NetworkOptions) (Network, error)

var errNoNetwork = errors.New("Config.Nodes of 2 or more needs Config.NewNetwork (the CLI binds harness.NewNetwork)")
