package hypervisor

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/vmtestbed/vmtestbed/fakes/hypervisor/page"
	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// agentService implements hv.AgentServiceServer: the node-local
// view of the same instances the ComputeService manages. It speaks for
// Options.AgentNodeID (or, when that is "", for every instance).
type agentService struct {
	hv.UnimplementedAgentServiceServer
	s *Server
}

// CreateInstance creates an instance with the caller's instance_id
// (InvalidArgument if missing or malformed, AlreadyExists if taken). name
// defaults to instance_id and must be a DNS label. With AgentNodeID set the
// instance is placed on that node (FailedPrecondition if it is not
// registered, or the codes of fits); otherwise it is unplaced and held
// against Options.AgentCapacity, the agent's own host (ResourceExhausted
// when its cpu, memory or disk would be exceeded).
func (a *agentService) CreateInstance(_ context.Context, req *hv.AgentCreateInstanceRequest) (*hv.Instance, error) {
	id := req.GetInstanceId()
	if !instanceIDRE.MatchString(id) {
		return nil, invalid("instance_id %q is required: letters, digits, '.', '_', '-', at most 128", id)
	}
	name := req.GetName()
	if name == "" {
		name = id
	}
	if err := validInstanceName(name); err != nil {
		return nil, err
	}
	if err := validInstanceType(req.GetType(), true); err != nil {
		return nil, err
	}
	if err := a.s.validateSpec(req.GetSpec()); err != nil {
		return nil, err
	}
	if err := a.s.validMetadata("instance", req.GetLabels(), req.GetAnnotations()); err != nil {
		return nil, err
	}
	s := a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, status.Error(codes.Unavailable, "server is closing")
	}
	if err := s.checkImage(req.GetSpec().GetImage(), req.GetType()); err != nil {
		return nil, err
	}
	if _, ok := s.instances[id]; ok {
		return nil, errf(codes.AlreadyExists, "instance %q already exists", id)
	}
	if s.nameTaken(name) {
		return nil, errf(codes.AlreadyExists, "an instance named %q already exists", name)
	}
	var n *node
	if nodeID := s.opts.AgentNodeID; nodeID != "" {
		var ok bool
		if n, ok = s.nodes[nodeID]; !ok {
			return nil, errf(codes.FailedPrecondition, "agent node %q is not registered", nodeID)
		}
		p := placement{typ: req.GetType(), cpu: req.GetSpec().GetCpuCores(), mem: req.GetSpec().GetMemoryBytes()}
		if code, why := fits(n.pb, p); code != codes.OK {
			return nil, status.Error(code, why)
		}
	} else if err := s.agentFits(req.GetSpec()); err != nil {
		return nil, err
	}
	in := s.createInstance(createParams{
		id: id, name: name, typ: req.GetType(), spec: req.GetSpec(), node: n, agentHeld: n == nil,
		metadata: &hv.Metadata{Labels: req.GetLabels(), Annotations: req.GetAnnotations()},
	})
	return in.snapshot(), nil
}

// DeleteInstance is ComputeService.DeleteInstance.
func (a *agentService) DeleteInstance(_ context.Context, req *hv.AgentDeleteInstanceRequest) (*emptypb.Empty, error) {
	if err := a.s.removeInstance(req.GetInstanceId(), req.GetForce()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// StartInstance is ComputeService.StartInstance.
func (a *agentService) StartInstance(_ context.Context, req *hv.AgentInstanceRequest) (*hv.Instance, error) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return a.s.startInstance(req.GetInstanceId())
}

// StopInstance is ComputeService.StopInstance.
func (a *agentService) StopInstance(_ context.Context, req *hv.AgentStopInstanceRequest) (*hv.Instance, error) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return a.s.stopInstance(req.GetInstanceId(), req.GetForce(), req.GetTimeoutSeconds())
}

// RestartInstance is ComputeService.RestartInstance.
func (a *agentService) RestartInstance(_ context.Context, req *hv.AgentRestartInstanceRequest) (*hv.Instance, error) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return a.s.restartInstance(req.GetInstanceId(), req.GetForce())
}

// GetInstance is ComputeService.GetInstance.
func (a *agentService) GetInstance(_ context.Context, req *hv.AgentInstanceRequest) (*hv.Instance, error) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	in, err := a.s.getInstance(req.GetInstanceId())
	if err != nil {
		return nil, err
	}
	return in.snapshot(), nil
}

// ListInstances lists the agent's instances (all when AgentNodeID is "")
// in creation order, unpaginated.
func (a *agentService) ListInstances(context.Context, *emptypb.Empty) (*hv.AgentListInstancesResponse, error) {
	s := a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	var mine []*instance
	for _, in := range s.instances {
		if s.opts.AgentNodeID == "" || in.nodeID == s.opts.AgentNodeID {
			mine = append(mine, in)
		}
	}
	page.Sort(mine, (*instance).key)
	resp := &hv.AgentListInstancesResponse{}
	for _, in := range mine {
		resp.Instances = append(resp.Instances, in.snapshot())
	}
	return resp, nil
}

// GetInstanceStats is ComputeService.GetInstanceStats.
func (a *agentService) GetInstanceStats(_ context.Context, req *hv.AgentInstanceRequest) (*hv.InstanceStats, error) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	in, err := a.s.getInstance(req.GetInstanceId())
	if err != nil {
		return nil, err
	}
	return a.s.stats(in), nil
}

// AttachConsole is the bidirectional console. The first message's data is
// the instance id (InvalidArgument if it is a resize or empty, NotFound if
// unknown). Later data goes to the guest's input and resize sets the pty size
// (InvalidArgument outside 1..1000). Output flows back, history first.
func (a *agentService) AttachConsole(stream grpc.BidiStreamingServer[hv.AgentConsoleInput, hv.AgentConsoleOutput]) error {
	first, err := stream.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return invalid("first AgentConsoleInput must carry the instance id as data")
		}
		return err
	}
	id := string(first.GetData())
	if id == "" {
		return invalid("first AgentConsoleInput must carry the instance id as data")
	}
	con, release, err := a.s.consoleOf(id)
	if err != nil {
		return err
	}
	defer release()
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	inputErr := make(chan error, 1)
	go func() {
		err := forwardInput(stream, con, id)
		inputErr <- err
		if err != nil {
			cancel() // bad input ends the output side too
		}
	}()
	outErr := streamConsole(ctx, a.s.done, con, id, func() error { return stream.SendHeader(metadata.MD{}) },
		func(b []byte) error { return stream.Send(&hv.AgentConsoleOutput{Data: b}) })
	// A client half-close does not end output. The input goroutine ends on
	// half-close, on bad input, or when returning from this handler ends
	// the stream (its Recv then fails).
	if outErr != nil {
		return outErr
	}
	select {
	case err := <-inputErr:
		return err
	default:
		return nil
	}
}

// forwardInput copies client input to the console until the client
// half-closes (nil) or sends something invalid (InvalidArgument).
func forwardInput(stream grpc.BidiStreamingServer[hv.AgentConsoleInput, hv.AgentConsoleOutput], con *console, id string) error {
	for {
		msg, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		switch in := msg.GetInput().(type) {
		case *hv.AgentConsoleInput_Data:
			if err := con.write(in.Data); err != nil {
				return consoleErr(id, err)
			}
		case *hv.AgentConsoleInput_Resize:
			w, h := in.Resize.GetWidth(), in.Resize.GetHeight()
			if w < 1 || h < 1 || w > 1000 || h > 1000 {
				return invalid("resize %dx%d is outside 1..1000", w, h)
			}
			if err := con.resize(int(w), int(h)); err != nil {
				return consoleErr(id, err)
			}
		default:
			return invalid("AgentConsoleInput carries neither data nor resize")
		}
	}
}

// agentFits checks spec against what is left of Options.AgentCapacity.
// Call with s.mu held.
func (s *Server) agentFits(spec *hv.InstanceSpec) error {
	c, a := s.opts.AgentCapacity, &s.agentAllocated
	cpu, mem, disk := c.GetCpuCores()-a.CpuCores, c.GetMemoryBytes()-a.MemoryBytes, c.GetDiskBytes()-a.DiskBytes
	if spec.GetCpuCores() > cpu || spec.GetMemoryBytes() > mem || diskBytes(spec) > disk {
		return errf(codes.ResourceExhausted, "the agent's host has %d cores, %d bytes of memory and %d of disk free (Options.AgentCapacity), need %d, %d and %d",
			cpu, mem, disk, spec.GetCpuCores(), spec.GetMemoryBytes(), diskBytes(spec))
	}
	return nil
}
