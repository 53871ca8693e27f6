package hypervisor

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// Instance operations shared by ComputeService and AgentService. Each one
// takes s.mu for its whole run, so the state machine is linear.

var instanceIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

type createParams struct {
	id       string // "" -> generated
	name     string
	typ      hv.InstanceType
	spec     *hv.InstanceSpec
	metadata *hv.Metadata
	node     *node // nil -> unplaced (agent without AgentNodeID)
	// agentHeld: an unplaced agent instance held against Options.AgentCapacity.
	agentHeld bool
}

// validateSpec checks an instance spec (InvalidArgument), its size
// included (Limits.MaxSpecBytes).
func (s *Server) validateSpec(spec *hv.InstanceSpec) error {
	if spec == nil {
		return invalid("spec is required")
	}
	if size := proto.Size(spec); size > s.opts.Limits.MaxSpecBytes {
		return invalid("spec is %d bytes, more than %d (Limits.MaxSpecBytes)", size, s.opts.Limits.MaxSpecBytes)
	}
	if spec.GetImage() == "" {
		return invalid("spec.image is required")
	}
	if len(spec.GetImage()) > 255 {
		return invalid("spec.image %q is longer than 255 bytes", spec.GetImage())
	}
	if spec.GetCpuCores() <= 0 {
		return invalid("spec.cpu_cores must be positive, got %d", spec.GetCpuCores())
	}
	if spec.GetMemoryBytes() <= 0 {
		return invalid("spec.memory_bytes must be positive, got %d", spec.GetMemoryBytes())
	}
	var disk int64
	for i, d := range spec.GetDisks() {
		if d.GetSizeBytes() < 0 || d.GetSizeBytes() > s.opts.Limits.MaxVolumeBytes {
			return invalid("spec.disks[%d].size_bytes %d is outside 0..%d (Limits.MaxVolumeBytes)", i, d.GetSizeBytes(), s.opts.Limits.MaxVolumeBytes)
		}
		if disk += d.GetSizeBytes(); disk > s.opts.Limits.StorageCapacityBytes {
			return invalid("spec.disks add up to more than %d bytes (Limits.StorageCapacityBytes)", s.opts.Limits.StorageCapacityBytes)
		}
	}
	return nil
}

// checkImage rejects a known image of another type (InvalidArgument). An
// unknown image is not an error here: provisioning fails with FAILED.
func (s *Server) checkImage(ref string, typ hv.InstanceType) error {
	if im := s.findImage(ref); im != nil && im.pb.Type != typ {
		return invalid("image %q is a %v image, instance type is %v", ref, im.pb.Type, typ)
	}
	return nil
}

// nameTaken reports whether a live instance already has name. Call with s.mu held.
func (s *Server) nameTaken(name string) bool {
	for _, in := range s.instances {
		if in.pb.Name == name {
			return true
		}
	}
	return false
}

// createInstance adds an instance in PENDING, reserves its resources and
// starts provisioning. Call with s.mu held, after validation and placement.
func (s *Server) createInstance(p createParams) *instance {
	id := p.id
	if id == "" {
		id = s.newID("inst")
	}
	seq := s.nextSeq()
	in := &instance{
		seq: seq,
		pb: &hv.Instance{
			Id:        id,
			Name:      p.name,
			Type:      p.typ,
			Spec:      proto.Clone(p.spec).(*hv.InstanceSpec),
			IpAddress: fmt.Sprintf("10.%d.%d.%d", 100+(seq>>16)&0x7f, (seq>>8)&0xff, seq&0xff),
			Metadata:  cloneMetadata(p.metadata),
			CreatedAt: timestamp(s.now()),
		},
		state: hv.InstanceState_INSTANCE_STATE_PENDING,
		hub:   newHub[*hv.InstanceEvent](s.opts.WatchBuffer),
	}
	spec := MachineSpec{
		InstanceID: id, Hostname: p.name, CPUCores: p.spec.GetCpuCores(), MemoryBytes: p.spec.GetMemoryBytes(),
		Channels: slices.Clone(s.opts.Channels),
	}
	if p.node != nil {
		spec.Node = p.node.pb.GetHostname()
	}
	in.console = newConsole(s, spec)
	if p.node != nil {
		in.nodeID = p.node.pb.Id
		in.placed = true
		addAllocated(p.node.pb, p.spec, +1)
		s.publishNode(hv.EventType_EVENT_TYPE_MODIFIED, p.node)
	}
	if p.agentHeld {
		in.agentHeld = true
		addSpec(&s.agentAllocated, p.spec, +1)
	}
	s.instances[id] = in
	s.bySeq = append(s.bySeq, in)
	s.provision(in)
	return in
}

// provision drives PENDING -> CREATING -> STOPPED (or FAILED for an unknown
// image), synchronously when ProvisionDelay is 0, else on the clock.
func (s *Server) provision(in *instance) {
	d := s.opts.ProvisionDelay
	if d <= 0 {
		s.setState(in, hv.InstanceState_INSTANCE_STATE_CREATING, "")
		s.finishProvision(in)
		return
	}
	id := in.pb.Id
	in.timer = s.clock.AfterFunc(d/2, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		in, ok := s.instances[id]
		if s.closed || !ok || in.state != hv.InstanceState_INSTANCE_STATE_PENDING {
			return
		}
		s.setState(in, hv.InstanceState_INSTANCE_STATE_CREATING, "")
		in.timer = s.clock.AfterFunc(d-d/2, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			in, ok := s.instances[id]
			if s.closed || !ok || in.state != hv.InstanceState_INSTANCE_STATE_CREATING {
				return
			}
			in.timer = nil
			s.finishProvision(in)
		})
	})
}

func (s *Server) finishProvision(in *instance) {
	if s.findImage(in.pb.GetSpec().GetImage()) == nil {
		s.failInstance(in, fmt.Sprintf("image %q not found: pull it first (PullImage)", clip(in.pb.GetSpec().GetImage())))
		return
	}
	s.setState(in, hv.InstanceState_INSTANCE_STATE_STOPPED, "provisioned")
}

// getInstance looks an instance up. Call with s.mu held.
func (s *Server) getInstance(id string) (*instance, error) {
	if id == "" {
		return nil, invalid("instance_id is required")
	}
	in, ok := s.instances[id]
	if !ok {
		return nil, errf(codes.NotFound, "instance %q not found", id)
	}
	return in, nil
}

func wrongState(in *instance, op string, want string) error {
	return errf(codes.FailedPrecondition, "cannot %s instance %s: it is %v, must be %s", op, in.pb.Id, in.state, want)
}

// startInstance boots a STOPPED instance. Call with s.mu held.
func (s *Server) startInstance(id string) (*hv.Instance, error) {
	in, err := s.getInstance(id)
	if err != nil {
		return nil, err
	}
	if in.state != hv.InstanceState_INSTANCE_STATE_STOPPED {
		return nil, wrongState(in, "start", "STOPPED")
	}
	if err := in.console.powerOn(); err != nil {
		return nil, errf(codes.ResourceExhausted, "start instance %s: %v", id, err)
	}
	in.pb.StartedAt = timestamp(s.now())
	s.setState(in, hv.InstanceState_INSTANCE_STATE_RUNNING, "started")
	return in.snapshot(), nil
}

// stopInstance stops a RUNNING instance. Force cuts power at once. A
// graceful stop asks the guest to shut down and waits for it at most
// timeout_seconds (Options.StopTimeout when 0; negative is InvalidArgument)
// on the Clock, then forces it off: see Options.GuestShutdownDelay. A
// graceful stop of an instance already stopping is FailedPrecondition; a
// forced one cuts it off at once. Call with s.mu held.
func (s *Server) stopInstance(id string, force bool, timeoutSeconds int32) (*hv.Instance, error) {
	if timeoutSeconds < 0 {
		return nil, invalid("timeout_seconds %d is negative", timeoutSeconds)
	}
	in, err := s.getInstance(id)
	if err != nil {
		return nil, err
	}
	if in.state != hv.InstanceState_INSTANCE_STATE_RUNNING {
		return nil, wrongState(in, "stop", "RUNNING")
	}
	if force {
		s.powerOffNow(in, "force stopped")
		return in.snapshot(), nil
	}
	if in.stopping {
		return nil, errf(codes.FailedPrecondition, "instance %s is already stopping; wait, or stop it with force", id)
	}
	switch off, err := in.console.requestShutdown(); {
	case err != nil:
		s.powerOffNow(in, fmt.Sprintf("force stopped: the shutdown request failed: %v", err))
		return in.snapshot(), nil
	case off:
		s.stoppedNow(in, "stopped")
		return in.snapshot(), nil
	}
	deadline := time.Duration(timeoutSeconds) * time.Second
	if deadline == 0 {
		deadline = s.opts.StopTimeout
	}
	in.stopTimer()
	in.stopping = true
	gen := in.stopGen
	in.timer = s.clock.AfterFunc(deadline, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		in, ok := s.instances[id]
		if s.closed || !ok || !in.stopping || in.stopGen != gen || in.state != hv.InstanceState_INSTANCE_STATE_RUNNING {
			return
		}
		in.timer = nil
		s.powerOffNow(in, fmt.Sprintf("force stopped: the guest did not shut down within %s", deadline))
	})
	s.setState(in, hv.InstanceState_INSTANCE_STATE_RUNNING, fmt.Sprintf("stopping: shutdown requested, forced off after %s", deadline))
	return in.snapshot(), nil
}

// machineOff is a machine telling that its guest powered off by itself:
// after a graceful stop request, or (not graceful) because it died. con
// names the console the machine belongs to, so a machine of an instance
// that was deleted and replaced is ignored.
func (s *Server) machineOff(id string, con *console, graceful bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.instances[id]
	if s.closed || !ok || in.console != con || in.state != hv.InstanceState_INSTANCE_STATE_RUNNING {
		return
	}
	reason := "stopped"
	if !graceful {
		reason = "stopped: the guest powered off"
	}
	s.stoppedNow(in, reason)
}

// powerOffNow cuts the machine's power and moves the instance to STOPPED.
// Call with s.mu held.
func (s *Server) powerOffNow(in *instance, reason string) {
	in.console.powerOff()
	s.stoppedNow(in, reason)
}

// stoppedNow moves a RUNNING instance whose machine is off to STOPPED.
// Call with s.mu held.
func (s *Server) stoppedNow(in *instance, reason string) {
	in.stopTimer()
	s.endRun(in)
	in.pb.StartedAt = nil
	s.setState(in, hv.InstanceState_INSTANCE_STATE_STOPPED, reason)
}

// restartInstance reboots a RUNNING instance (it stays RUNNING, started_at
// moves). A graceful restart asks the guest to shut down first; one that
// does not (in Options.StopTimeout on a Rebooter machine, at once on
// others) has its power cut, and the state reason says so. Call with s.mu
// held.
func (s *Server) restartInstance(id string, force bool) (*hv.Instance, error) {
	in, err := s.getInstance(id)
	if err != nil {
		return nil, err
	}
	if in.state != hv.InstanceState_INSTANCE_STATE_RUNNING {
		return nil, wrongState(in, "restart", "RUNNING")
	}
	if in.stopping {
		return nil, errf(codes.FailedPrecondition, "instance %s is stopping; restart it once it is STOPPED (start it)", id)
	}
	s.endRun(in)
	off, err := in.console.restart(!force, s.opts.StopTimeout)
	if err != nil {
		return nil, errf(codes.ResourceExhausted, "restart instance %s: %v", id, err)
	}
	reason := "restarted"
	if !force && !off {
		reason = "restarted: the guest did not shut down in time, its power was cut"
	}
	in.pb.StartedAt = timestamp(s.now())
	s.setState(in, hv.InstanceState_INSTANCE_STATE_RUNNING, reason)
	return in.snapshot(), nil
}

// removeInstance deletes an instance and then lets go of what it held
// outside compute: its volumes are detached (AVAILABLE again) and its ports
// unbound (DOWN, kept for reuse), as the hypervisor tears down the domain's
// disks and taps with it. The storage and network locks are taken after
// s.mu is released (they take s.mu inside), and an attach or bind that
// raced the delete either finished first, and is undone here, or finds
// the instance gone (NotFound).
func (s *Server) removeInstance(id string, force bool) error {
	s.mu.Lock()
	con, err := s.deleteInstance(id, force)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	// The machine closes without s.mu: one that is telling the fake its
	// guest just powered off (machineOff takes s.mu) must not wait on us.
	con.close()
	s.storage.detachInstance(id)
	s.network.unbindInstance(id)
	return nil
}

// deleteInstance removes an instance: MODIFIED (DELETING), resources
// released, DELETED, watchers ended; the caller closes the returned console
// once s.mu is released. A RUNNING instance needs force (FailedPrecondition
// otherwise). Call with s.mu held.
func (s *Server) deleteInstance(id string, force bool) (*console, error) {
	in, err := s.getInstance(id)
	if err != nil {
		return nil, err
	}
	if in.state == hv.InstanceState_INSTANCE_STATE_RUNNING && !force {
		return nil, wrongState(in, "delete", "not RUNNING (stop it first or set force)")
	}
	in.stopTimer()
	if in.state == hv.InstanceState_INSTANCE_STATE_RUNNING {
		s.endRun(in)
		in.console.powerOff()
	}
	s.setState(in, hv.InstanceState_INSTANCE_STATE_DELETING, "deleting")
	s.release(in)
	delete(s.instances, id)
	s.bySeq = slices.DeleteFunc(s.bySeq, func(x *instance) bool { return x == in })
	s.publishInstance(hv.EventType_EVENT_TYPE_DELETED, in)
	in.hub.closeAll()
	return in.console, nil
}
