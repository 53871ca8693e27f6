package hypervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// nodeAgent is the host side of the contract for a control plane that dials
// its nodes: a minimal AgentService every node the suite registers points at
// (ip and port), so a control plane that places instances through its node
// agents can schedule onto the suite's nodes. It keeps instances in memory,
// moves them through STOPPED/RUNNING at once, and its console echoes input.
// It is not a fake of the implementation under test: it only answers what a
// control plane asks of a node.
type nodeAgent struct {
	hv.UnimplementedAgentServiceServer

	srv  *grpc.Server
	lis  net.Listener
	done chan struct{}
	host string
	port int32

	mu    sync.Mutex
	insts map[string]*hv.Instance
}

// startNodeAgent serves a node agent on listen ("host:port"); advertise, when
// set, is the host registered nodes carry instead of the listener's.
func startNodeAgent(listen, advertise string) (*nodeAgent, error) {
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("node agent: listen %s: %w", listen, err)
	}
	host, portStr, err := net.SplitHostPort(lis.Addr().String())
	if err != nil {
		lis.Close()
		return nil, fmt.Errorf("node agent: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		lis.Close()
		return nil, fmt.Errorf("node agent: port %q: %w", portStr, err)
	}
	if advertise != "" {
		host = advertise
	}
	a := &nodeAgent{srv: grpc.NewServer(), lis: lis, done: make(chan struct{}), host: host, port: int32(port), insts: map[string]*hv.Instance{}}
	hv.RegisterAgentServiceServer(a.srv, a)
	go func() {
		defer close(a.done)
		_ = a.srv.Serve(lis) // returns when stop is called
	}()
	return a, nil
}

// stop ends every stream and waits until the server has stopped.
func (a *nodeAgent) stop() {
	a.srv.Stop()
	<-a.done
}

func (a *nodeAgent) get(id string) (*hv.Instance, error) {
	inst, ok := a.insts[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "node agent: no instance %q", id)
	}
	return inst, nil
}

func (a *nodeAgent) CreateInstance(_ context.Context, req *hv.AgentCreateInstanceRequest) (*hv.Instance, error) {
	if req.GetInstanceId() == "" || req.GetSpec() == nil {
		return nil, status.Error(codes.InvalidArgument, "node agent: instance_id and spec are required")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.insts[req.GetInstanceId()]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "node agent: instance %q exists", req.GetInstanceId())
	}
	name := req.GetName()
	if name == "" {
		name = req.GetInstanceId()
	}
	inst := &hv.Instance{Id: req.GetInstanceId(), Name: name, Type: req.GetType(), State: hv.InstanceState_INSTANCE_STATE_STOPPED,
		Spec: req.GetSpec(), Metadata: &hv.Metadata{Labels: req.GetLabels(), Annotations: req.GetAnnotations()}, CreatedAt: timestamppb.Now()}
	a.insts[inst.Id] = inst
	return proto.Clone(inst).(*hv.Instance), nil
}

func (a *nodeAgent) DeleteInstance(_ context.Context, req *hv.AgentDeleteInstanceRequest) (*emptypb.Empty, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.get(req.GetInstanceId()); err != nil {
		return nil, err
	}
	delete(a.insts, req.GetInstanceId())
	return &emptypb.Empty{}, nil
}

func (a *nodeAgent) transition(id string, from, to hv.InstanceState) (*hv.Instance, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	inst, err := a.get(id)
	if err != nil {
		return nil, err
	}
	if inst.State != from {
		return nil, status.Errorf(codes.FailedPrecondition, "node agent: instance %q is %s, not %s", id, inst.State, from)
	}
	inst.State = to
	if to == hv.InstanceState_INSTANCE_STATE_RUNNING {
		inst.StartedAt = timestamppb.Now()
	}
	return proto.Clone(inst).(*hv.Instance), nil
}

func (a *nodeAgent) StartInstance(_ context.Context, req *hv.AgentInstanceRequest) (*hv.Instance, error) {
	return a.transition(req.GetInstanceId(), hv.InstanceState_INSTANCE_STATE_STOPPED, hv.InstanceState_INSTANCE_STATE_RUNNING)
}

func (a *nodeAgent) StopInstance(_ context.Context, req *hv.AgentStopInstanceRequest) (*hv.Instance, error) {
	return a.transition(req.GetInstanceId(), hv.InstanceState_INSTANCE_STATE_RUNNING, hv.InstanceState_INSTANCE_STATE_STOPPED)
}

func (a *nodeAgent) RestartInstance(_ context.Context, req *hv.AgentRestartInstanceRequest) (*hv.Instance, error) {
	return a.transition(req.GetInstanceId(), hv.InstanceState_INSTANCE_STATE_RUNNING, hv.InstanceState_INSTANCE_STATE_RUNNING)
}

func (a *nodeAgent) GetInstance(_ context.Context, req *hv.AgentInstanceRequest) (*hv.Instance, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	inst, err := a.get(req.GetInstanceId())
	if err != nil {
		return nil, err
	}
	return proto.Clone(inst).(*hv.Instance), nil
}

func (a *nodeAgent) ListInstances(context.Context, *emptypb.Empty) (*hv.AgentListInstancesResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := &hv.AgentListInstancesResponse{}
	for _, inst := range a.insts {
		out.Instances = append(out.Instances, proto.Clone(inst).(*hv.Instance))
	}
	return out, nil
}

func (a *nodeAgent) GetInstanceStats(_ context.Context, req *hv.AgentInstanceRequest) (*hv.InstanceStats, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.get(req.GetInstanceId()); err != nil {
		return nil, err
	}
	return &hv.InstanceStats{InstanceId: req.GetInstanceId(), CollectedAt: timestamppb.New(time.Now())}, nil
}

// AttachConsole takes the instance id in the first data message and echoes
// every later data message back.
func (a *nodeAgent) AttachConsole(stream hv.AgentService_AttachConsoleServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	a.mu.Lock()
	_, err = a.get(string(first.GetData()))
	a.mu.Unlock()
	if err != nil {
		return err
	}
	for {
		in, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if d := in.GetData(); len(d) > 0 {
			if err := stream.Send(&hv.AgentConsoleOutput{Data: d}); err != nil {
				return err
			}
		}
	}
}
