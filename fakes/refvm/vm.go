package refvm

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ava-labs/avalanchego/database"
	"github.com/ava-labs/avalanchego/database/memdb"
	"github.com/ava-labs/avalanchego/database/rpcdb"
	"github.com/ava-labs/avalanchego/ids"
	appsenderpb "github.com/ava-labs/avalanchego/proto/pb/appsender"
	rpcdbpb "github.com/ava-labs/avalanchego/proto/pb/rpcdb"
	validatorstatepb "github.com/ava-labs/avalanchego/proto/pb/validatorstate"
	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	warppb "github.com/ava-labs/avalanchego/proto/pb/warp"

	messengerpb "github.com/vmtestbed/vmtestbed/proto/messenger"
	"github.com/vmtestbed/vmtestbed/transport"
)

var _ vmpb.VMServer = (*vm)(nil)

// vm implements vmpb.VMServer. One mutex serializes all chain state.
type vm struct {
	vmpb.UnsafeVMServer

	cfg    Config
	ctx    context.Context // Serve's ctx: hang-shutdown waits for it
	stderr io.Writer
	clock  func() time.Time

	mu          sync.Mutex
	initialized bool
	closed      bool
	state       vmpb.State
	networkID   uint32
	chainID     ids.ID
	nodeID      ids.NodeID
	bootLA      *Block // bootstrap-stale-state: what SetState(Bootstrapping) reported
	dbConn      *grpc.ClientConn
	nodeConn    *grpc.ClientConn
	db          *rpcdb.DatabaseClient
	appSender   appsenderpb.AppSenderClient
	messenger   messengerpb.MessengerClient // protocol < 42 only
	validators  validatorstatepb.ValidatorStateClient
	warpSigner  warppb.SignerClient
	chain       *chain
	mempool     *mempool
	peers       map[ids.NodeID]string
	pending     map[uint32]ids.NodeID // app requests refvm sent, awaiting an answer
	nextReq     uint32
	httpServers []*httpServer
	metrics     metrics

	parses    uint64              // nondeterministic-parse counter
	built     map[ids.ID]struct{} // blocks this instance built (verify-own-blocks-only)
	waiting   int                 // WaitForEvent calls in flight (shutdown-awaits-events), under mu
	idle      chan struct{}       // closed when waiting drops to 0
	arrived   chan struct{}       // closed when waiting rises from 0 (nil: none since the last drop)
	shutOnce  sync.Once
	shutdown  chan struct{} // closed once Shutdown was served
	crashOnce sync.Once
	crashed   chan struct{} // closed by the crash variants
	crashMsg  string        // what the crash variant printed
}

func newVM(ctx context.Context, cfg Config) *vm {
	v := &vm{
		cfg:      cfg,
		ctx:      ctx,
		stderr:   cfg.Stderr,
		clock:    time.Now,
		mempool:  newMempool(),
		peers:    map[ids.NodeID]string{},
		pending:  map[uint32]ids.NodeID{},
		built:    map[ids.ID]struct{}{},
		shutdown: make(chan struct{}),
		crashed:  make(chan struct{}),
	}
	if v.stderr == nil {
		v.stderr = os.Stderr
	}
	if cfg.Clock != nil {
		v.clock = cfg.Clock.Now
	}
	return v
}

func (v *vm) logf(format string, args ...any) {
	fmt.Fprintf(v.stderr, format+"\n", args...)
}

func (v *vm) protocol() uint {
	if v.cfg.Variant == VariantWrongProtocol {
		return WrongProtocol
	}
	if v.cfg.Protocol == 0 {
		return DefaultProtocol
	}
	return v.cfg.Protocol
}

// ready returns the chain or a FailedPrecondition error. Callers hold v.mu.
func (v *vm) ready() (*chain, error) {
	if v.closed {
		return nil, status.Error(codes.Unavailable, "refvm: VM is shut down")
	}
	if !v.initialized {
		return nil, status.Error(codes.FailedPrecondition, "refvm: VM is not initialized")
	}
	return v.chain, nil
}

// crash is what the crash variants do: print why to stderr, exit with code
// (in-process: Config.Exit, then Serve returns an error).
func (v *vm) crash(msg string, code int) {
	v.logf("%s", msg)
	v.exit(code)
	v.crashOnce.Do(func() {
		v.crashMsg = fmt.Sprintf("%s (exit status %d)", msg, code)
		close(v.crashed)
	})
}

// teardown stops HTTP servers and closes the connections to the node. Idempotent.
// The db-after-shutdown variant keeps its database connection for lateWrite.
func (v *vm) teardown() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return
	}
	v.closed = true
	for _, h := range v.httpServers {
		h.stop()
	}
	v.httpServers = nil
	if v.dbConn != nil && v.cfg.Variant != VariantDBAfterShutdown {
		v.dbConn.Close()
	}
	if v.nodeConn != nil {
		v.nodeConn.Close()
	}
	v.mempool.wake()
}

func (v *vm) Initialize(ctx context.Context, req *vmpb.InitializeRequest) (*vmpb.InitializeResponse, error) {
	if v.cfg.Variant == VariantCrashInitialize {
		v.crash(InitCrashMessage, 3)
		return nil, status.Error(codes.Unavailable, "refvm: plugin crashed")
	}
	if err := validateInitialize(req); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "refvm: initialize: %v", err)
	}
	g, err := parseGenesis(req.GenesisBytes)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "refvm: initialize: %v", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil, status.Error(codes.Unavailable, "refvm: VM is shut down")
	}
	if v.initialized {
		return nil, status.Error(codes.FailedPrecondition, "refvm: initialize: already initialized")
	}
	dbConn, err := transport.Dial(v.cfg.Transport, req.DbServerAddr, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30)))
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "refvm: initialize: dial database %s: %v", req.DbServerAddr, err)
	}
	nodeConn, err := transport.Dial(v.cfg.Transport, req.ServerAddr)
	if err != nil {
		dbConn.Close()
		return nil, status.Errorf(codes.Unavailable, "refvm: initialize: dial node services %s: %v", req.ServerAddr, err)
	}
	db := rpcdb.NewClient(rpcdbpb.NewDatabaseClient(dbConn))
	var chainDB database.Database = db
	if v.cfg.Variant == VariantMemDBState {
		chainDB = memdb.New() // the bug: the chain never reaches the node's database
	}
	var salt []byte
	if v.cfg.Variant == VariantLocalBlockID {
		salt = append([]byte(nil), req.NodeId...)
	}
	c, err := openChain(chainDB, g.block(), v.cfg.Variant, salt)
	if err != nil {
		dbConn.Close()
		nodeConn.Close()
		return nil, status.Errorf(codes.Unavailable, "refvm: initialize: %v", err)
	}
	v.dbConn, v.nodeConn, v.db, v.chain = dbConn, nodeConn, db, c
	v.appSender = appsenderpb.NewAppSenderClient(nodeConn)
	if v.usesMessenger() {
		v.messenger = messengerpb.NewMessengerClient(nodeConn)
	}
	v.validators = validatorstatepb.NewValidatorStateClient(nodeConn)
	v.warpSigner = warppb.NewSignerClient(nodeConn)
	v.networkID = req.NetworkId
	v.chainID = ids.ID(req.ChainId)
	v.nodeID = ids.NodeID(req.NodeId)
	v.initialized = true
	la := c.lastAccepted
	id := la.ID
	if v.cfg.Variant == VariantWrongGenesisID {
		id[0] ^= 0xff
	}
	return &vmpb.InitializeResponse{
		LastAcceptedId:       id[:],
		LastAcceptedParentId: la.Parent[:],
		Height:               la.Height,
		Bytes:                la.Bytes,
		Timestamp:            timestamppb.New(la.Timestamp),
	}, nil
}

func (v *vm) SetState(_ context.Context, req *vmpb.SetStateRequest) (*vmpb.SetStateResponse, error) {
	switch req.State {
	case vmpb.State_STATE_STATE_SYNCING, vmpb.State_STATE_BOOTSTRAPPING, vmpb.State_STATE_NORMAL_OP:
	default:
		return nil, status.Errorf(codes.InvalidArgument, "refvm: SetState: invalid state %v", req.State)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	c, err := v.ready()
	if err != nil {
		return nil, err
	}
	la := c.reported
	if v.cfg.Variant == VariantBootstrapStale {
		// The bug: the answer after bootstrapping is the one from its start.
		if req.State == vmpb.State_STATE_BOOTSTRAPPING && la.Height > 0 {
			v.bootLA = la // only on a restarted chain: a fresh one is right
		} else if req.State == vmpb.State_STATE_NORMAL_OP && v.state == vmpb.State_STATE_BOOTSTRAPPING && v.bootLA != nil {
			la = v.bootLA
		}
	}
	v.state = req.State
	return &vmpb.SetStateResponse{
		LastAcceptedId:       la.ID[:],
		LastAcceptedParentId: la.Parent[:],
		Height:               la.Height,
		Bytes:                la.Bytes,
		Timestamp:            timestamppb.New(la.Timestamp),
	}, nil
}

// Shutdown stops the HTTP servers, closes the node connections and makes
// Serve return. The hang-shutdown variant blocks until Serve's ctx is done.
func (v *vm) Shutdown(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	if v.cfg.Variant == VariantHangShutdown {
		<-v.ctx.Done()
		return nil, status.Error(codes.Unavailable, "refvm: hang-shutdown variant released by its context")
	}
	if v.cfg.Variant == VariantShutdownAwaitsEvents {
		v.awaitEvents() // the bug: a pending WaitForEvent only ends when the node cancels it
	}
	v.teardown()
	v.shutOnce.Do(func() { close(v.shutdown) })
	return &emptypb.Empty{}, nil
}

func (v *vm) Version(context.Context, *emptypb.Empty) (*vmpb.VersionResponse, error) {
	ver := Version
	if v.cfg.Variant != "" {
		ver += "+" + v.cfg.Variant
	}
	return &vmpb.VersionResponse{Version: ver}, nil
}

// Connected records the peer and, for a peer other than this node, pings
// it with an AppRequest (as a p2p handshake would): the node answers with
// AppResponse, or AppRequestFailed when the peer stays silent.
func (v *vm) Connected(ctx context.Context, req *vmpb.ConnectedRequest) (*emptypb.Empty, error) {
	id, err := ids.ToNodeID(req.NodeId)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "refvm: Connected: node id: %v", err)
	}
	v.mu.Lock()
	v.peers[id] = fmt.Sprintf("%s/%d.%d.%d", req.Name, req.Major, req.Minor, req.Patch)
	ping := v.initialized && !v.closed && id != v.nodeID
	v.mu.Unlock()
	if ping {
		if err := v.ping(ctx, id); err != nil {
			return nil, status.Errorf(codes.Unavailable, "refvm: Connected: %v", err)
		}
	}
	return &emptypb.Empty{}, nil
}

func (v *vm) Disconnected(_ context.Context, req *vmpb.DisconnectedRequest) (*emptypb.Empty, error) {
	id, err := ids.ToNodeID(req.NodeId)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "refvm: Disconnected: node id: %v", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.peers, id)
	return &emptypb.Empty{}, nil
}

// lateWrite is the db-after-shutdown variant's bug: when the plugin is told
// to terminate, well after Shutdown returned, it records a clean-shutdown
// marker in the node's database, which AvalancheGo has stopped serving.
func (v *vm) lateWrite() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.db == nil {
		return
	}
	if err := v.db.Put([]byte("refvm/clean-shutdown"), []byte{1}); err != nil {
		v.logf("refvm: write the clean-shutdown marker: %v", err)
	}
	v.dbConn.Close()
}

// eventStarted and eventDone count WaitForEvent calls in flight for the
// shutdown-awaits-events variant; awaitEvents waits until none is.
func (v *vm) eventStarted() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.waiting == 0 {
		v.idle = make(chan struct{})
		if v.arrived != nil {
			close(v.arrived)
			v.arrived = nil
		}
	}
	v.waiting++
}

func (v *vm) eventDone() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.waiting--
	if v.waiting == 0 {
		close(v.idle)
	}
}

// awaitEvents is the shutdown-awaits-events bug: Shutdown waits for the
// WaitForEvent calls in flight. After Initialize AvalancheGo always has one
// pending; one that is still on its way (sent, not yet dispatched here) is
// waited for too, for up to a second, so the bug shows whatever the timing.
func (v *vm) awaitEvents() {
	v.mu.Lock()
	if v.waiting == 0 && v.initialized {
		if v.arrived == nil {
			v.arrived = make(chan struct{})
		}
		arrived := v.arrived
		v.mu.Unlock()
		t := time.NewTimer(time.Second)
		select {
		case <-arrived:
		case <-t.C:
		}
		t.Stop()
		v.mu.Lock()
	}
	idle := v.idle
	busy := v.waiting > 0
	v.mu.Unlock()
	if busy {
		<-idle
	}
}
