// Package hypervisor is an in-memory fake of the hypervisor.v1 control plane:
// Cluster, Compute, Agent, Network and Storage services behind real gRPC.
//
// One Server holds all state. Time comes from an injected Clock (leases,
// provisioning, timestamps), ids from a seeded generator, and every instance
// has a console that is a real pty pair with a tiny fake guest on the slave
// side. See cluster.go, compute.go and agent.go for the behaviour of each
// service; docs on each handler say which gRPC codes it returns.
package hypervisor

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/grpc"

	hypervisorv1 "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// Options configure a Server. Zero values pick the defaults below.
type Options struct {
	// Clock drives leases, provisioning and timestamps. Default RealClock.
	Clock Clock
	// Seed makes ids deterministic (same seed and call order -> same ids).
	Seed int64
	// LeaseTTL is how long a node stays READY without a heartbeat. Default 30s.
	LeaseTTL time.Duration
	// HeartbeatInterval is what nodes are told to use. Default 10s.
	HeartbeatInterval time.Duration
	// NodeGracePeriod is how long a NOT_READY (lease lapsed) node is kept
	// before it is removed. Default 60s.
	NodeGracePeriod time.Duration
	// ProvisionDelay is the time from PENDING to STOPPED for a new instance
	// (CREATING is entered half way). 0 means provisioning completes inside
	// CreateInstance, which then returns the instance already STOPPED.
	ProvisionDelay time.Duration
	// ClusterName is reported by GetClusterInfo. Default "vmtestbed".
	ClusterName string
	// AgentNodeID is the node the AgentService speaks for: agent-created
	// instances are placed (and accounted) on it and agent ListInstances
	// lists only its instances. "" means the agent sees every instance and
	// creates unplaced ones.
	AgentNodeID string
	// WatchBuffer is each watcher's event buffer. A watcher that falls this
	// far behind is ended with ResourceExhausted. Default 256.
	WatchBuffer int
	// ConsoleHistory is how many bytes of console output are kept for late
	// attachers. Default 64 KiB.
	ConsoleHistory int
}

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = RealClock{}
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 30 * time.Second
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 10 * time.Second
	}
	if o.NodeGracePeriod <= 0 {
		o.NodeGracePeriod = 60 * time.Second
	}
	if o.ClusterName == "" {
		o.ClusterName = "vmtestbed"
	}
	if o.WatchBuffer <= 0 {
		o.WatchBuffer = 256
	}
	if o.ConsoleHistory <= 0 {
		o.ConsoleHistory = 64 << 10
	}
	return o
}

// Server is the fake control plane. Create it with New, serve it with
// Register, and Close it to end streams, stop timers and close consoles.
type Server struct {
	opts  Options
	clock Clock

	idMu sync.Mutex
	rng  *rand.Rand

	// mu guards all cluster and compute state below.
	mu        sync.Mutex
	closed    bool
	seq       uint64 // creation sequence for stable list order
	clusterID string
	nodes     map[string]*node
	instances map[string]*instance
	bySeq     []*instance // live instances in creation order (lists need no sort)
	images    map[string]*image
	nodeHub   *hub[*hypervisorv1.NodeEvent]

	done chan struct{}  // closed by Close: ends every stream
	wg   sync.WaitGroup // console and guest goroutines

	cluster *clusterService
	compute *computeService
	agent   *agentService
	network *networkService
	storage *storageService
}

// New returns a Server with no nodes, no instances and the built-in images.
func New(opts Options) *Server {
	opts = opts.withDefaults()
	s := &Server{
		opts:      opts,
		clock:     opts.Clock,
		rng:       rand.New(rand.NewPCG(uint64(opts.Seed), 0x68797076)),
		nodes:     map[string]*node{},
		instances: map[string]*instance{},
		images:    map[string]*image{},
		done:      make(chan struct{}),
	}
	s.nodeHub = newHub[*hypervisorv1.NodeEvent](opts.WatchBuffer)
	s.clusterID = s.newID("cluster")
	s.loadCatalogue()
	s.cluster = &clusterService{s: s}
	s.compute = &computeService{s: s}
	s.agent = &agentService{s: s}
	s.network = newNetworkService(s)
	s.storage = newStorageService(s)
	return s
}

// Register adds all five hypervisor.v1 services to g.
func (s *Server) Register(g *grpc.Server) {
	hypervisorv1.RegisterClusterServiceServer(g, s.cluster)
	hypervisorv1.RegisterComputeServiceServer(g, s.compute)
	hypervisorv1.RegisterAgentServiceServer(g, s.agent)
	hypervisorv1.RegisterNetworkServiceServer(g, s.network)
	hypervisorv1.RegisterStorageServiceServer(g, s.storage)
}

// Close ends every watch and console stream, stops lease and provisioning
// timers and closes every pty. It is safe to call more than once.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.done)
	for _, n := range s.nodes {
		n.stopTimers()
	}
	var consoles []*console
	for _, in := range s.instances {
		in.stopTimer()
		consoles = append(consoles, in.console)
	}
	s.nodeHub.closeAll()
	s.mu.Unlock()
	for _, c := range consoles {
		c.close()
	}
	s.wg.Wait()
}

// now is the current time from the injected clock.
func (s *Server) now() time.Time { return s.clock.Now() }

// newID returns prefix-<12 hex digits>, deterministic from Options.Seed and
// the order of calls. Safe to call with s.mu held.
func (s *Server) newID(prefix string) string {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	return fmt.Sprintf("%s-%012x", prefix, s.rng.Uint64()&(1<<48-1))
}

// nextSeq returns the next creation sequence number. Call with s.mu held.
func (s *Server) nextSeq() uint64 {
	s.seq++
	return s.seq
}

// lookupInstance reports an instance's node and state (for Network/Storage).
func (s *Server) lookupInstance(id string) (nodeID string, state hypervisorv1.InstanceState, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.instances[id]
	if !ok {
		return "", hypervisorv1.InstanceState_INSTANCE_STATE_UNSPECIFIED, false
	}
	return in.nodeID, in.state, true
}

// lookupNode reports whether a node is registered (for Network/Storage).
func (s *Server) lookupNode(id string) (ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok = s.nodes[id]
	return ok
}
