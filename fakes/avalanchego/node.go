package avalanchego

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/ava-labs/avalanchego/chains/atomic"
	"github.com/ava-labs/avalanchego/chains/atomic/gsharedmemory"
	"github.com/ava-labs/avalanchego/database"
	"github.com/ava-labs/avalanchego/database/leveldb"
	"github.com/ava-labs/avalanchego/database/memdb"
	"github.com/ava-labs/avalanchego/database/rpcdb"
	"github.com/ava-labs/avalanchego/ids"
	"github.com/ava-labs/avalanchego/ids/galiasreader"
	"github.com/ava-labs/avalanchego/snow/validators/gvalidators"
	"github.com/ava-labs/avalanchego/utils/constants"
	"github.com/ava-labs/avalanchego/utils/crypto/bls"
	"github.com/ava-labs/avalanchego/utils/crypto/bls/signer/localsigner"
	"github.com/ava-labs/avalanchego/utils/logging"
	"github.com/ava-labs/avalanchego/vms/platformvm/warp"
	"github.com/ava-labs/avalanchego/vms/platformvm/warp/gwarp"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	aliasreaderpb "github.com/ava-labs/avalanchego/proto/pb/aliasreader"
	appsenderpb "github.com/ava-labs/avalanchego/proto/pb/appsender"
	rpcdbpb "github.com/ava-labs/avalanchego/proto/pb/rpcdb"
	sharedmemorypb "github.com/ava-labs/avalanchego/proto/pb/sharedmemory"
	validatorstatepb "github.com/ava-labs/avalanchego/proto/pb/validatorstate"
	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	warppb "github.com/ava-labs/avalanchego/proto/pb/warp"

	messengerpb "github.com/vmtestbed/vmtestbed/proto/messenger"
	"github.com/vmtestbed/vmtestbed/transport"
)

// DefaultNetworkID is AvalancheGo's local network id (constants.LocalID,
// 12345), used when NodeConfig.NetworkID is 0.
const DefaultNetworkID = constants.LocalID

// ChainAlias is the chain's human alias served by the AliasReader (besides
// its id string).
const ChainAlias = "vmtestbed"

// DefaultWeight is the node's own weight when NodeConfig.Validators is nil.
const DefaultWeight uint64 = 100

// NodeConfig configures a fake node.
type NodeConfig struct {
	Transport transport.Transport // where node-side services listen (TCP{} for a subprocess plugin, the same *Bufnet in-process)
	Seed      int64               // deterministic ids, node id and BLS key
	NetworkID uint32              // 0 = DefaultNetworkID (12345, local)
	DBDir     string              // "" = avalanchego memdb; else an avalanchego leveldb in this directory
	// Database, when set, is served instead of a fresh one (DBDir is then
	// ignored) and Close leaves it open: a plugin relaunched on it sees
	// its earlier state, as after a node restart.
	Database   database.Database
	Validators []Validator // nil = just this node, weight 100
	Genesis    []byte
	Upgrade    []byte // upgrade_bytes of InitializeRequest (the chain's upgrade file)
	Config     []byte // config_bytes (the chain config file)
	// SubnetConfig is the subnet's config file (AvalancheGo's
	// subnet-config JSON). It never reaches the plugin; it is checked to
	// be valid JSON and kept for the parts of the node that read it.
	SubnetConfig []byte
	// NodeVersion is what the node announces to the VM in Connected, e.g.
	// "avalanchego/1.14.2"; "" = the release of the emulated protocol.
	NodeVersion string
	// AppRequestTimeout is how long the node waits for a peer to answer an
	// AppRequest the plugin sent before it calls VM.AppRequestFailed
	// (AvalancheGo's network-initial-timeout); 0 = DefaultAppRequestTimeout.
	AppRequestTimeout time.Duration
	// PeerApp answers AppRequests the plugin sends to a peer; nil = peers
	// never answer, so every request to a peer fails at the timeout.
	PeerApp PeerAppHandler
	// AppNetwork, when set, carries everything the plugin sends through
	// the AppSender (requests, answers, gossip) to other nodes instead of
	// the node's own router; RouteApp and PeerApp are then unused.
	AppNetwork AppNetwork
	Trace      *Trace

	// Identity overrides; the zero value keeps the id derived from Seed.
	// Replay uses them to announce the ids of a recorded node.
	NodeID                                             ids.NodeID
	SubnetID, ChainID, XChainID, CChainID, AvaxAssetID ids.ID
	NetworkUpgrades                                    *vmpb.NetworkUpgrades // nil = upgrade.Default
}

// Node is the fake AvalancheGo node for one chain: the services a plugin
// dials back, and the identity it announces in InitializeRequest.
type Node struct {
	cfg NodeConfig

	nodeID                                           ids.NodeID
	subnetID, chainID, xChainID, cChainID, avaxAsset ids.ID
	signer                                           *localsigner.LocalSigner
	dataDir                                          string

	db          database.Database
	ownDB       bool // the node opened db and closes it
	atomicDB    database.Database
	memory      *atomic.Memory
	appSender   *AppSenderRecorder
	apps        *appRouter
	messenger   *messenger
	dbServer    *grpc.Server
	dbAddr      string
	nodeServer  *grpc.Server
	serverAddr  string
	serving     sync.WaitGroup
	stopOnce    sync.Once
	closeOnce   sync.Once
	closeErr    error
	httpMu      sync.Mutex
	httpClients map[*HTTPClient]struct{}
}

// NewNode starts the rpcdb server (db_server_addr) and the node services
// (server_addr) on cfg.Transport.
func NewNode(_ context.Context, cfg NodeConfig) (*Node, error) {
	if cfg.Transport == nil {
		return nil, errors.New("new node: NodeConfig.Transport is required")
	}
	if cfg.NetworkID == 0 {
		cfg.NetworkID = DefaultNetworkID
	}
	if len(cfg.SubnetConfig) > 0 && !json.Valid(cfg.SubnetConfig) {
		return nil, errors.New("new node: the subnet config is not valid JSON")
	}
	signer, err := deriveSigner(cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("new node: %w", err)
	}
	n := &Node{
		cfg:         cfg,
		nodeID:      deriveNodeID(cfg.Seed, "node-id"),
		subnetID:    deriveID(cfg.Seed, "subnet-id"),
		chainID:     deriveID(cfg.Seed, "chain-id"),
		xChainID:    deriveID(cfg.Seed, "x-chain-id"),
		cChainID:    deriveID(cfg.Seed, "c-chain-id"),
		avaxAsset:   deriveID(cfg.Seed, "avax-asset-id"),
		signer:      signer,
		appSender:   NewAppSenderRecorder(),
		apps:        newAppRouter(cfg.AppRequestTimeout, cfg.PeerApp),
		atomicDB:    memdb.New(),
		httpClients: map[*HTTPClient]struct{}{},
	}
	n.overrideIdentity()
	if n.cfg.Validators == nil {
		n.cfg.Validators = []Validator{{NodeID: n.nodeID, PublicKey: signer.PublicKey(), Weight: DefaultWeight}}
	}
	if err := n.start(); err != nil {
		_ = n.Close()
		return nil, fmt.Errorf("new node: %w", err)
	}
	return n, nil
}

// overrideIdentity applies the NodeConfig identity fields that are set.
func (n *Node) overrideIdentity() {
	if n.cfg.NodeID != ids.EmptyNodeID {
		n.nodeID = n.cfg.NodeID
	}
	for _, o := range []struct{ dst, v *ids.ID }{
		{&n.subnetID, &n.cfg.SubnetID}, {&n.chainID, &n.cfg.ChainID}, {&n.xChainID, &n.cfg.XChainID},
		{&n.cChainID, &n.cfg.CChainID}, {&n.avaxAsset, &n.cfg.AvaxAssetID},
	} {
		if *o.v != ids.Empty {
			*o.dst = *o.v
		}
	}
}

func (n *Node) start() error {
	dir, err := os.MkdirTemp("", "vmtestbed-chaindata-")
	if err != nil {
		return fmt.Errorf("chain data dir: %w", err)
	}
	n.dataDir = dir
	n.ownDB = n.cfg.Database == nil
	switch {
	case n.cfg.Database != nil:
		n.db = n.cfg.Database
	case n.cfg.DBDir == "":
		n.db = memdb.New()
	default:
		n.db, err = leveldb.New(n.cfg.DBDir, nil, logging.NoLog{}, prometheus.NewRegistry())
		if err != nil {
			return fmt.Errorf("open leveldb at %s: %w", n.cfg.DBDir, err)
		}
	}

	n.dbServer = newServer(n.cfg.Trace)
	rpcdbpb.RegisterDatabaseServer(n.dbServer, rpcdb.NewServer(n.db))
	registerHealth(n.dbServer)
	if n.dbAddr, err = n.serve(n.dbServer, "rpcdb"); err != nil {
		return err
	}

	n.nodeServer = newServer(n.cfg.Trace)
	n.registerNodeServices(n.nodeServer)
	registerHealth(n.nodeServer)
	if n.serverAddr, err = n.serve(n.nodeServer, "node"); err != nil {
		return err
	}
	return nil
}

func (n *Node) registerNodeServices(s *grpc.Server) {
	mem := atomic.NewMemory(n.atomicDB)
	n.memory = mem
	sharedmemorypb.RegisterSharedMemoryServer(s, gsharedmemory.NewServer(mem.NewSharedMemory(n.chainID), n.db))

	aliaser := ids.NewAliaser()
	for _, a := range []struct {
		id    ids.ID
		alias string
	}{{n.chainID, n.chainID.String()}, {n.chainID, ChainAlias}, {n.xChainID, "X"}, {n.cChainID, "C"}} {
		// The ids and aliases are distinct by construction; Alias cannot fail here.
		_ = aliaser.Alias(a.id, a.alias)
	}
	aliasreaderpb.RegisterAliasReaderServer(s, galiasreader.NewServer(aliaser))

	n.appSender.net = n.cfg.AppNetwork
	if n.appSender.net == nil {
		n.appSender.net = n.apps // the node's own router
	}
	appsenderpb.RegisterAppSenderServer(s, n.appSender)
	n.messenger = newMessenger()
	messengerpb.RegisterMessengerServer(s, n.messenger)

	state := &validatorState{
		subnetID: n.subnetID,
		chains: map[ids.ID]ids.ID{
			n.chainID:  n.subnetID,
			n.xChainID: constants.PrimaryNetworkID,
			n.cChainID: constants.PrimaryNetworkID,
		},
		vals: n.cfg.Validators,
	}
	validatorstatepb.RegisterValidatorStateServer(s, gvalidators.NewServer(state))

	warppb.RegisterSignerServer(s, gwarp.NewServer(warp.NewSigner(n.signer, n.cfg.NetworkID, n.chainID)))
}

func registerHealth(s *grpc.Server) {
	h := health.NewServer()
	h.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, h)
}

// serve listens on the node's transport and serves s in a tracked goroutine.
func (n *Node) serve(s *grpc.Server, name string) (string, error) {
	l, addr, err := n.cfg.Transport.Listen(name)
	if err != nil {
		return "", fmt.Errorf("listen for %s: %w", name, err)
	}
	n.serving.Add(1)
	go func() {
		defer n.serving.Done()
		// Serve returns after Stop; nothing to report then.
		_ = s.Serve(l)
	}()
	return addr, nil
}

// NodeID is this node's id (deterministic from Seed).
func (n *Node) NodeID() ids.NodeID { return n.nodeID }

// ChainID is the chain's id (deterministic from Seed).
func (n *Node) ChainID() ids.ID { return n.chainID }

// SubnetID is the chain's subnet id (deterministic from Seed).
func (n *Node) SubnetID() ids.ID { return n.subnetID }

// NetworkID is the network id the node announces.
func (n *Node) NetworkID() uint32 { return n.cfg.NetworkID }

// PublicKey is the node's BLS public key; warp signatures verify with it.
func (n *Node) PublicKey() *bls.PublicKey { return n.signer.PublicKey() }

// DBServerAddr is where the rpcdb server listens.
func (n *Node) DBServerAddr() string { return n.dbAddr }

// ServerAddr is where the node services listen.
func (n *Node) ServerAddr() string { return n.serverAddr }

// ChainDataDir is the temp dir the node owns and removes on Close.
func (n *Node) ChainDataDir() string { return n.dataDir }

// Database is the chain's database behind the rpcdb server.
func (n *Node) Database() database.Database { return n.db }

// PeerSharedMemory is the shared memory of another chain on this node:
// what it puts for ChainID() the plugin reads through SharedMemory.Get.
func (n *Node) PeerSharedMemory(chainID ids.ID) atomic.SharedMemory {
	return n.memory.NewSharedMemory(chainID)
}

// AppSender records what the plugin sent through the node's AppSender.
func (n *Node) AppSender() *AppSenderRecorder { return n.appSender }

// StopServices stops the rpcdb and node-service servers (as AvalancheGo
// does right after a plugin's Shutdown returns, before SIGTERM): a plugin
// that still calls them gets Unavailable. Safe to call more than once.
func (n *Node) StopServices() {
	n.stopOnce.Do(func() {
		for _, s := range []*grpc.Server{n.dbServer, n.nodeServer} {
			if s != nil {
				s.Stop()
			}
		}
	})
	n.serving.Wait()
}

// StopChain stops a chain's plugin as AvalancheGo's VM client does:
// Shutdown (while any WaitForEvent is still pending; no bound but ctx and
// LaunchConfig.ShutdownTimeout), then the node's services for it stop,
// then SIGTERM, grace, SIGKILL. The node stays usable for Close.
func StopChain(ctx context.Context, p *Plugin, n *Node) error {
	err := p.Shutdown(ctx)
	n.StopServices()
	return errors.Join(err, p.Terminate(ctx))
}

// Close stops the servers, closes open HTTP clients and databases, and
// removes the chain data dir. Safe to call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { n.closeErr = n.close() })
	return n.closeErr
}

func (n *Node) close() error {
	var errs []error
	n.httpMu.Lock()
	clients := make([]*HTTPClient, 0, len(n.httpClients))
	for c := range n.httpClients {
		clients = append(clients, c)
	}
	n.httpMu.Unlock()
	for _, c := range clients {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	n.StopServices()
	n.apps.close()
	if n.messenger != nil {
		n.messenger.close()
	}
	dbs := []database.Database{n.atomicDB}
	if n.ownDB {
		dbs = append(dbs, n.db)
	}
	for _, db := range dbs {
		// The plugin may already have closed the chain db through rpcdb.
		if db != nil {
			if err := db.Close(); err != nil && !errors.Is(err, database.ErrClosed) {
				errs = append(errs, fmt.Errorf("close database: %w", err))
			}
		}
	}
	if n.dataDir != "" {
		if err := os.RemoveAll(n.dataDir); err != nil {
			errs = append(errs, fmt.Errorf("remove chain data dir: %w", err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("close node: %w", errors.Join(errs...))
	}
	return nil
}
