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
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
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
	// GuestShutdownDelay is how long a guest takes to power off after a
	// graceful stop request (a restart does not wait). 0 means at once,
	// and StopInstance returns the instance STOPPED. Otherwise StopInstance returns it still
	// RUNNING (state_reason "stopping") and it goes STOPPED on the Clock
	// when the guest is done or, if the stop deadline comes first, when the
	// deadline forces it off. A negative value is a guest that ignores the
	// request: only the deadline stops it.
	GuestShutdownDelay time.Duration
	// Machines is what instances run on. Default SimMachines (simulated
	// guests with a pty console and a guest agent on each channel) with
	// GuestShutdownDelay; realhv.Machines runs them as libvirt domains.
	Machines Machines
	// Channels are the virtio-serial channels every instance's machine
	// gets. Default: the guest agent's, AgentChannel.
	Channels []string
	// StopTimeout is the deadline of a graceful stop that gives
	// timeout_seconds 0. Default 30s.
	StopTimeout time.Duration
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

	// Workers is how many READY worker nodes (worker-1..worker-N, region
	// "region-1", zones zone-a..c, WorkerCapacity each) the fake registers
	// itself at New and keeps alive: it renews their leases every
	// HeartbeatInterval on the Clock as their node agents would, without
	// touching their status, so a client's MAINTENANCE or DRAINING stays.
	Workers int
	// WorkerCapacity is each of Workers' capacity. Default 16 cores,
	// 64 GiB memory, 1 TiB disk.
	WorkerCapacity *hv.Resources
	// AgentCapacity is the host an AgentService with no AgentNodeID stands
	// for: its instances are accounted against it (ResourceExhausted beyond).
	// Default WorkerCapacity's default.
	AgentCapacity *hv.Resources

	// Limits on what clients may make the fake hold. Zero picks the default.
	Limits Limits
}

// Limits bound what one fake holds, so a hostile or runaway client gets
// ResourceExhausted or InvalidArgument instead of unbounded memory, ptys or
// goroutines. The contract sets none of these; they are documented
// conventions (README, docs/FIDELITY.md).
type Limits struct {
	// MaxWatchers bounds open WatchNodes and WatchInstance streams together.
	// Default 1024.
	MaxWatchers int
	// MaxConsoleStreams bounds attached consoles (ComputeService and
	// AgentService AttachConsole together). Default 256.
	MaxConsoleStreams int
	// MaxPTYs bounds the pty pairs the simulated machines hold open: a
	// console per instance that has been started or attached (until it is
	// deleted), and one per virtio-serial channel of a running guest.
	// Default 512.
	MaxPTYs int
	// MaxVolumeBytes is the largest single volume. Default 64 TiB.
	MaxVolumeBytes int64
	// StorageCapacityBytes is the total size of all volumes. Default 1 PiB.
	StorageCapacityBytes int64
	// MaxVolumes bounds the number of volumes, and separately of
	// snapshots. Default 10,000.
	MaxVolumes int
	// MaxLabels bounds the labels (and separately the annotations) of one
	// object. Default 64.
	MaxLabels int
	// MaxMetadataBytes bounds the keys and values of one object's labels and
	// annotations together. Default 64 KiB.
	MaxMetadataBytes int
	// MaxDescriptionBytes bounds descriptions. Default 1024.
	MaxDescriptionBytes int
	// MaxSpecBytes bounds an instance spec as encoded (env, args, command,
	// kernel_args and the rest). Default 64 KiB.
	MaxSpecBytes int
	// MaxPendingCommands bounds the node commands queued for one node
	// (EnqueueNodeCommand). Default 256.
	MaxPendingCommands int
	// MaxNodes bounds registered nodes. Default 10,000.
	MaxNodes int
	// MaxImages bounds the image catalogue (PullImage adds to it); an image
	// holds at most MaxLabels tags. Default 1,000.
	MaxImages int
	// MaxNetworkObjects bounds each kind of network object (networks,
	// subnets, ports, security groups, routers, floating IPs), the rules of
	// one security group and the routes of one router. Default 10,000.
	MaxNetworkObjects int
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def64 := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxWatchers, 1024)
	def(&l.MaxConsoleStreams, 256)
	def(&l.MaxPTYs, 512)
	def64(&l.MaxVolumeBytes, 64<<40)
	def64(&l.StorageCapacityBytes, 1<<50)
	def(&l.MaxVolumes, 10000)
	def(&l.MaxLabels, 64)
	def(&l.MaxMetadataBytes, 64<<10)
	def(&l.MaxDescriptionBytes, 1024)
	def(&l.MaxSpecBytes, 64<<10)
	def(&l.MaxPendingCommands, 256)
	def(&l.MaxNodes, 10000)
	def(&l.MaxImages, 1000)
	def(&l.MaxNetworkObjects, 10000)
	return l
}

// defaultWorkerCapacity is a 16-core, 64 GiB, 1 TiB host.
func defaultWorkerCapacity() *hv.Resources {
	return &hv.Resources{CpuCores: 16, MemoryBytes: 64 << 30, DiskBytes: 1 << 40}
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
	if o.StopTimeout <= 0 {
		o.StopTimeout = 30 * time.Second
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
	if o.Machines == nil {
		o.Machines = SimMachines{ShutdownDelay: o.GuestShutdownDelay}
	}
	if o.Channels == nil {
		o.Channels = []string{AgentChannel}
	}
	if o.WorkerCapacity == nil {
		o.WorkerCapacity = defaultWorkerCapacity()
	}
	if o.AgentCapacity == nil {
		o.AgentCapacity = defaultWorkerCapacity()
	}
	o.Limits = o.Limits.withDefaults()
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
	nodeHub   *hub[*hv.NodeEvent]

	done     chan struct{} // closed by endStreams (Stop, Close): ends every stream
	doneOnce sync.Once
	wg       sync.WaitGroup // console and guest goroutines
	ptys     atomic.Int64   // open pty pairs (Limits.MaxPTYs); consoles take them without mu

	// Counted resources (see Limits); guarded by mu.
	watchers       int
	consoleStreams int
	// agentAllocated is what agent-created unplaced instances hold of
	// Options.AgentCapacity.
	agentAllocated hv.Resources

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
	s.nodeHub = newHub[*hv.NodeEvent](opts.WatchBuffer)
	s.clusterID = s.newID("cluster")
	s.loadCatalogue()
	s.cluster = &clusterService{s: s}
	s.compute = &computeService{s: s}
	s.agent = &agentService{s: s}
	s.network = newNetworkService(s)
	s.storage = newStorageService(s)
	s.registerWorkers()
	return s
}

// Register adds all five hypervisor.v1 services to g.
func (s *Server) Register(g *grpc.Server) {
	hv.RegisterClusterServiceServer(g, s.cluster)
	hv.RegisterComputeServiceServer(g, s.compute)
	hv.RegisterAgentServiceServer(g, s.agent)
	hv.RegisterNetworkServiceServer(g, s.network)
	hv.RegisterStorageServiceServer(g, s.storage)
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
	s.endStreamsLocked()
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

// endStreams ends every watch and console stream (Unavailable) without
// touching state: the first step of a graceful stop.
func (s *Server) endStreams() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endStreamsLocked()
}

func (s *Server) endStreamsLocked() { s.doneOnce.Do(func() { close(s.done) }) }

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
func (s *Server) lookupInstance(id string) (nodeID string, state hv.InstanceState, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.instances[id]
	if !ok {
		return "", hv.InstanceState_INSTANCE_STATE_UNSPECIFIED, false
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

// takePTY counts a new pty pair against Limits.MaxPTYs.
// releasePTY gives back a pty takePTY counted.
func (s *Server) releasePTY() { s.ptys.Add(-1) }

func (s *Server) takePTY() bool {
	for {
		n := s.ptys.Load()
		if n >= int64(s.opts.Limits.MaxPTYs) {
			return false
		}
		if s.ptys.CompareAndSwap(n, n+1) {
			return true
		}
	}
}
