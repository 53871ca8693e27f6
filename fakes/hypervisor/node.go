package hypervisor

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vmtestbed/vmtestbed/fakes/hypervisor/page"
	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// node is a registered host node and its lease.
//
// Lease life cycle: RegisterNode and every Heartbeat (re)arm a LeaseTTL
// timer. When it fires the node goes NOT_READY (event MODIFIED) and a
// NodeGracePeriod timer starts; a Heartbeat before that brings it back to
// READY, otherwise the node is removed (event DELETED) and its instances go
// FAILED. All timers come from the injected Clock.
type node struct {
	seq        uint64
	pb         *hv.Node
	leaseGen   uint64 // invalidates timers that fired after being replaced
	leaseTimer Timer
	graceTimer Timer
	// keepAlive nodes are renewed by the fake itself (Options.Workers):
	// leaseTimer is then the next renewal, and the lease never lapses.
	keepAlive bool
	// commands wait for the node's next Heartbeat (EnqueueNodeCommand).
	commands []*hv.NodeCommand
}

func (n *node) key() page.Key { return page.Key{Seq: n.seq, ID: n.pb.Id} }

func (n *node) stopTimers() {
	if n.leaseTimer != nil {
		n.leaseTimer.Stop()
		n.leaseTimer = nil
	}
	if n.graceTimer != nil {
		n.graceTimer.Stop()
		n.graceTimer = nil
	}
}

func (n *node) snapshot() *hv.Node { return proto.Clone(n.pb).(*hv.Node) }

// armLease restarts n's lease. Call with s.mu held.
func (s *Server) armLease(n *node) {
	n.stopTimers()
	n.leaseGen++
	id, gen := n.pb.Id, n.leaseGen
	if n.keepAlive {
		n.leaseTimer = s.clock.AfterFunc(s.opts.HeartbeatInterval, func() { s.keepAliveBeat(id, gen) })
		return
	}
	n.leaseTimer = s.clock.AfterFunc(s.opts.LeaseTTL, func() { s.leaseExpired(id, gen) })
}

// keepAliveBeat is the heartbeat the fake sends for a kept-alive node: it
// stamps last_seen and renews the lease, and leaves status, conditions and
// allocation as they are (a MAINTENANCE node stays in MAINTENANCE).
func (s *Server) keepAliveBeat(id string, gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[id]
	if s.closed || !ok || n.leaseGen != gen {
		return
	}
	n.leaseTimer = nil
	n.pb.LastSeen = timestamppb.New(s.now())
	s.armLease(n)
	s.publishNode(hv.EventType_EVENT_TYPE_MODIFIED, n)
}

func (s *Server) leaseExpired(id string, gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[id]
	if s.closed || !ok || n.leaseGen != gen {
		return
	}
	n.leaseTimer = nil
	n.pb.Status = hv.NodeStatus_NODE_STATUS_NOT_READY
	n.pb.Conditions = setCondition(n.pb.Conditions, &hv.NodeCondition{
		Type: "Ready", Status: "False", Reason: "LeaseExpired",
		Message:            fmt.Sprintf("no heartbeat for %s", s.opts.LeaseTTL),
		LastTransitionTime: timestamppb.New(s.now()),
	})
	s.publishNode(hv.EventType_EVENT_TYPE_MODIFIED, n)
	n.graceTimer = s.clock.AfterFunc(s.opts.NodeGracePeriod, func() { s.graceExpired(id, gen) })
}

func (s *Server) graceExpired(id string, gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[id]
	if s.closed || !ok || n.leaseGen != gen {
		return
	}
	n.graceTimer = nil
	s.removeNode(n, fmt.Sprintf("node %s removed after its lease lapsed", id))
}

// removeNode deletes n, fails its instances and publishes DELETED. Call with s.mu held.
func (s *Server) removeNode(n *node, reason string) {
	n.stopTimers()
	delete(s.nodes, n.pb.Id)
	for _, in := range s.instances {
		if in.nodeID == n.pb.Id && in.state != hv.InstanceState_INSTANCE_STATE_DELETING {
			s.failInstance(in, reason)
		}
	}
	s.publishNode(hv.EventType_EVENT_TYPE_DELETED, n)
}

func (s *Server) publishNode(t hv.EventType, n *node) {
	s.nodeHub.publish(&hv.NodeEvent{Type: t, Node: n.snapshot()})
}

// setCondition replaces the condition of the same type or appends c.
func setCondition(conds []*hv.NodeCondition, c *hv.NodeCondition) []*hv.NodeCondition {
	for i, old := range conds {
		if old.Type == c.Type {
			conds[i] = c
			return conds
		}
	}
	return append(conds, c)
}

// freeResources is allocatable minus allocated.
func freeResources(n *hv.Node) (cpu int32, mem int64) {
	return n.GetAllocatable().GetCpuCores() - n.GetAllocated().GetCpuCores(),
		n.GetAllocatable().GetMemoryBytes() - n.GetAllocated().GetMemoryBytes()
}

// addAllocated adds (or with sign -1 removes) an instance's request to a
// node's allocated resources, never going below zero.
func addAllocated(n *hv.Node, spec *hv.InstanceSpec, sign int) {
	if n.Allocated == nil {
		n.Allocated = &hv.Resources{}
	}
	addSpec(n.Allocated, spec, sign)
}

// addSpec adds (or with sign -1 removes) spec's cores, memory and disks to
// a, never going below zero.
func addSpec(a *hv.Resources, spec *hv.InstanceSpec, sign int) {
	a.CpuCores = max(0, a.CpuCores+int32(sign)*spec.GetCpuCores())
	a.MemoryBytes = max(0, a.MemoryBytes+int64(sign)*spec.GetMemoryBytes())
	a.DiskBytes = max(0, a.DiskBytes+int64(sign)*diskBytes(spec))
}
