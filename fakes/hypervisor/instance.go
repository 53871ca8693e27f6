package hypervisor

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vmtestbed/vmtestbed/fakes/hypervisor/page"
	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// instance is one compute instance: its API object, the resources it holds
// on its node, its watchers and its console (opened on first use).
//
// State machine (invalid transitions are FailedPrecondition):
//
//	PENDING -> CREATING -> STOPPED   provisioning (Options.ProvisionDelay)
//	STOPPED -> RUNNING               Start (guest boots on the console)
//	RUNNING -> STOPPED               Stop (graceful: guest powers off; force: cut)
//	RUNNING -> RUNNING               Restart (guest reboots)
//	any     -> FAILED                unknown image, node lost or deregistered
//	any     -> DELETING -> (gone)    Delete (events MODIFIED then DELETED)
type instance struct {
	seq    uint64
	pb     *hv.Instance
	nodeID string
	state  hv.InstanceState
	placed bool // holds resources on nodeID
	// agentHeld: holds resources of Options.AgentCapacity (unplaced agent instance).
	agentHeld bool
	hub       *hub[*hv.InstanceEvent]
	timer     Timer // pending provisioning step or graceful stop
	// stopping is set while a graceful stop waits for the guest (see
	// Options.GuestShutdownDelay); stopGen invalidates its timer.
	stopping bool
	stopGen  uint64
	console  *console

	// Stats bookkeeping: running time accumulated before the current run.
	ranBefore time.Duration
}

func (in *instance) key() page.Key { return page.Key{Seq: in.seq, ID: in.pb.Id} }

func (in *instance) snapshot() *hv.Instance {
	out := proto.Clone(in.pb).(*hv.Instance)
	out.State = in.state
	out.NodeId = in.nodeID
	return out
}

func (in *instance) stopTimer() {
	in.stopping = false
	in.stopGen++
	if in.timer != nil {
		in.timer.Stop()
		in.timer = nil
	}
}

// setState moves in to st and tells its watchers. Call with s.mu held.
func (s *Server) setState(in *instance, st hv.InstanceState, reason string) {
	in.state = st
	in.pb.StateReason = reason
	s.publishInstance(hv.EventType_EVENT_TYPE_MODIFIED, in)
}

func (s *Server) publishInstance(t hv.EventType, in *instance) {
	in.hub.publish(&hv.InstanceEvent{Type: t, Instance: in.snapshot()})
}

// failInstance moves in to FAILED, powers its guest off and releases its
// resources. Call with s.mu held.
func (s *Server) failInstance(in *instance, reason string) {
	in.stopTimer()
	if in.state == hv.InstanceState_INSTANCE_STATE_RUNNING {
		s.endRun(in)
		in.console.powerOff()
	}
	s.release(in)
	s.setState(in, hv.InstanceState_INSTANCE_STATE_FAILED, reason)
}

// release returns in's resources to its node. Call with s.mu held.
func (s *Server) release(in *instance) {
	if in.agentHeld {
		in.agentHeld = false
		addSpec(&s.agentAllocated, in.pb.GetSpec(), -1)
	}
	if !in.placed {
		return
	}
	in.placed = false
	if n, ok := s.nodes[in.nodeID]; ok {
		addAllocated(n.pb, in.pb.GetSpec(), -1)
		s.publishNode(hv.EventType_EVENT_TYPE_MODIFIED, n)
	}
}

// endRun folds the current run into ranBefore. Call with s.mu held.
func (s *Server) endRun(in *instance) {
	if st := in.pb.GetStartedAt(); st != nil {
		in.ranBefore += s.now().Sub(st.AsTime())
	}
}

// uptime is how long the current run has lasted (0 unless RUNNING).
func (s *Server) uptime(in *instance) time.Duration {
	if in.state != hv.InstanceState_INSTANCE_STATE_RUNNING || in.pb.GetStartedAt() == nil {
		return 0
	}
	return s.now().Sub(in.pb.GetStartedAt().AsTime())
}

func diskBytes(spec *hv.InstanceSpec) int64 {
	var sum int64
	for _, d := range spec.GetDisks() {
		sum += d.GetSizeBytes()
	}
	return sum
}

func timestamp(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }
