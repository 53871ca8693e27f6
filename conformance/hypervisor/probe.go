package hypervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// Class is what the probe learned about one method.
type Class string

// Method classes.
const (
	// Implemented: the method answered with anything but Unimplemented (an
	// error such as NotFound for the probe's unknown ids is an answer).
	Implemented Class = "implemented"
	// Unimplemented: the method answered Unimplemented.
	Unimplemented Class = "unimplemented"
	// Unreachable: the endpoint serving the method could not be reached, or
	// the call got no answer within the probe's bound.
	Unreachable Class = "unreachable"
)

// ProbeResult is the probe's finding for one method.
type ProbeResult struct {
	Method string `json:"method"`
	Class  Class  `json:"class"`
	// Code is the status code the probe call ended with.
	Code string `json:"code"`
	// Detail says why, for Unreachable, or notes a probe request the server
	// wrongly accepted (it was deleted again).
	Detail string `json:"detail,omitempty"`
}

// Probe classifies every method of the contract, in Methods() order.
type Probe struct {
	Results []ProbeResult `json:"results"`
}

// Class returns the class of the full method name m (Unreachable when the
// probe did not see m).
func (p *Probe) Class(m string) Class {
	if r, ok := p.Result(m); ok {
		return r.Class
	}
	return Unreachable
}

// Result returns the probe's finding for the full method name m.
func (p *Probe) Result(m string) (ProbeResult, bool) {
	if p == nil {
		return ProbeResult{}, false
	}
	for _, r := range p.Results {
		if r.Method == m {
			return r, true
		}
	}
	return ProbeResult{}, false
}

// Count returns how many methods have class c.
func (p *Probe) Count(c Class) int {
	n := 0
	for _, r := range p.Results {
		if r.Class == c {
			n++
		}
	}
	return n
}

// probeTimes bounds the probe's calls.
type probeTimes struct {
	// call bounds each unary call; no answer within it is Unreachable.
	call time.Duration
	// hold is how long the probe waits for the first message or status of a
	// stream. A server that does not implement a method answers at once; one
	// that does may hold a watch open without sending anything.
	hold time.Duration
}

var defaultProbeTimes = probeTimes{call: 5 * time.Second, hold: time.Second}

// endpoint is a connection and whether it could be reached at all.
type endpoint struct {
	cc     grpc.ClientConnInterface
	reason string // non-empty: not reachable, and why
}

// runProbe calls every method once, in order, with a request that a
// conforming server refuses or answers harmlessly: every top-level *_id field
// names an object that does not exist (missing), everything else is zero. A
// call the server wrongly accepts and that created something is undone.
func runProbe(ctx context.Context, control, agent endpoint, missing string, times probeTimes) *Probe {
	p := &Probe{}
	for _, m := range Methods() {
		ep := control
		if strings.HasPrefix(m, "/"+hv.AgentService_ServiceDesc.ServiceName+"/") {
			ep = agent
		}
		p.Results = append(p.Results, probeOne(ctx, times, ep, control, agent, m, missing))
	}
	return p
}

func probeOne(ctx context.Context, times probeTimes, ep, control, agent endpoint, method, missing string) ProbeResult {
	res := ProbeResult{Method: method}
	if ep.reason != "" {
		res.Class, res.Code, res.Detail = Unreachable, codes.Unavailable.String(), ep.reason
		return res
	}
	md, err := methodDescriptor(method)
	if err != nil {
		res.Class, res.Code, res.Detail = Unreachable, codes.Internal.String(), err.Error()
		return res
	}
	req, err := newMessage(md.Input())
	if err != nil {
		res.Class, res.Code, res.Detail = Unreachable, codes.Internal.String(), err.Error()
		return res
	}
	fillIDs(req.ProtoReflect(), missing)
	resp, err := newMessage(md.Output())
	if err != nil {
		res.Class, res.Code, res.Detail = Unreachable, codes.Internal.String(), err.Error()
		return res
	}
	var callErr error
	var held bool
	if md.IsStreamingClient() || md.IsStreamingServer() {
		callErr, held = probeStream(ctx, times.hold, ep.cc, method, md, req, resp, missing)
	} else {
		cctx, cancel := context.WithTimeout(ctx, times.call)
		callErr = ep.cc.Invoke(cctx, method, req, resp)
		cancel()
	}
	code := status.Code(callErr)
	if errors.Is(callErr, io.EOF) {
		code = codes.OK
	}
	res.Code = code.String()
	switch {
	case held:
		res.Class, res.Detail = Implemented, fmt.Sprintf("stream held open for %s without an answer", times.hold)
	case code == codes.Unimplemented:
		res.Class = Unimplemented
	case code == codes.Unavailable:
		res.Class, res.Detail = Unreachable, status.Convert(callErr).Message()
	case code == codes.DeadlineExceeded && ctx.Err() == nil:
		res.Class, res.Detail = Unreachable, fmt.Sprintf("no answer within %s", times.call)
	default:
		res.Class = Implemented
	}
	if code == codes.OK && !held {
		if note := undoProbe(ctx, times.call, control, agent, method, resp); note != "" {
			res.Detail = note
		}
	}
	return res
}

// probeStream opens the stream, sends the request (for the bidi console: the
// missing instance id as the first data message) and waits for the first
// answer. held reports that the stream stayed open without one.
func probeStream(ctx context.Context, hold time.Duration, cc grpc.ClientConnInterface, method string, md protoreflect.MethodDescriptor, req, resp proto.Message, missing string) (err error, held bool) {
	// The hold is ours alone: a deadline would go to the server as
	// grpc-timeout, and the server could end the stream on its (rounded)
	// copy before ours fires. A timer cancels the stream instead.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var fired atomic.Bool
	timer := time.AfterFunc(hold, func() {
		fired.Store(true)
		cancel()
	})
	defer timer.Stop()
	desc := &grpc.StreamDesc{StreamName: string(md.Name()), ServerStreams: md.IsStreamingServer(), ClientStreams: md.IsStreamingClient()}
	s, err := cc.NewStream(sctx, desc, method)
	if err != nil {
		return err, fired.Load() && ctx.Err() == nil
	}
	if md.IsStreamingClient() {
		req = &hv.AgentConsoleInput{Input: &hv.AgentConsoleInput_Data{Data: []byte(missing)}}
	}
	if err := s.SendMsg(req); err != nil && !errors.Is(err, io.EOF) {
		return err, fired.Load() && ctx.Err() == nil
	}
	if !md.IsStreamingClient() {
		if err := s.CloseSend(); err != nil {
			return err, fired.Load() && ctx.Err() == nil
		}
	}
	err = s.RecvMsg(resp)
	return err, err != nil && fired.Load() && ctx.Err() == nil
}

func methodDescriptor(full string) (protoreflect.MethodDescriptor, error) {
	svc, name, ok := strings.Cut(strings.TrimPrefix(full, "/"), "/")
	if !ok {
		return nil, fmt.Errorf("malformed method name %q", full)
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", svc, err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("%s is not a service", svc)
	}
	md := sd.Methods().ByName(protoreflect.Name(name))
	if md == nil {
		return nil, fmt.Errorf("service %s has no method %s", svc, name)
	}
	return md, nil
}

func newMessage(d protoreflect.MessageDescriptor) (proto.Message, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(d.FullName())
	if err != nil {
		return nil, fmt.Errorf("message %s: %w", d.FullName(), err)
	}
	return mt.New().Interface(), nil
}

// fillIDs sets every top-level string field whose name ends in "_id" to id.
func fillIDs(m protoreflect.Message, id string) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		if f.Kind() == protoreflect.StringKind && f.Cardinality() != protoreflect.Repeated && strings.HasSuffix(string(f.Name()), "_id") {
			m.Set(f, protoreflect.ValueOfString(id))
		}
	}
}

// undoProbe deletes what a wrongly accepted probe call created and returns a
// note for the report ("" when the call creates nothing).
func undoProbe(ctx context.Context, bound time.Duration, control, agent endpoint, method string, resp proto.Message) string {
	del := probeUndo[method]
	if del == nil {
		return ""
	}
	cctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	if err := del(cctx, control.cc, agent.cc, resp); err != nil && status.Code(err) != codes.NotFound {
		return fmt.Sprintf("accepted the probe's invalid request, and deleting what it created failed: %v", err)
	}
	return "accepted the probe's invalid request (what it created was deleted)"
}

// probeUndo maps the methods that create objects to the delete of what their
// response names.
var probeUndo = map[string]func(ctx context.Context, control, agent grpc.ClientConnInterface, resp proto.Message) error{
	"/hypervisor.v1.ClusterService/RegisterNode": func(ctx context.Context, cc, _ grpc.ClientConnInterface, resp proto.Message) error {
		_, err := hv.NewClusterServiceClient(cc).DeregisterNode(ctx, &hv.DeregisterNodeRequest{NodeId: resp.(*hv.RegisterNodeResponse).GetNodeId()})
		return err
	},
	"/hypervisor.v1.ComputeService/CreateInstance": func(ctx context.Context, cc, _ grpc.ClientConnInterface, resp proto.Message) error {
		_, err := hv.NewComputeServiceClient(cc).DeleteInstance(ctx, &hv.DeleteInstanceRequest{InstanceId: resp.(*hv.Instance).GetId(), Force: true})
		return err
	},
	"/hypervisor.v1.AgentService/CreateInstance": func(ctx context.Context, _, ac grpc.ClientConnInterface, resp proto.Message) error {
		_, err := hv.NewAgentServiceClient(ac).DeleteInstance(ctx, &hv.AgentDeleteInstanceRequest{InstanceId: resp.(*hv.Instance).GetId(), Force: true})
		return err
	},
	"/hypervisor.v1.NetworkService/CreateNetwork": func(ctx context.Context, cc, _ grpc.ClientConnInterface, resp proto.Message) error {
		_, err := hv.NewNetworkServiceClient(cc).DeleteNetwork(ctx, &hv.DeleteNetworkRequest{NetworkId: resp.(*hv.CreateNetworkResponse).GetNetwork().GetId()})
		return err
	},
	"/hypervisor.v1.NetworkService/CreateSubnet": func(ctx context.Context, cc, _ grpc.ClientConnInterface, resp proto.Message) error {
		_, err := hv.NewNetworkServiceClient(cc).DeleteSubnet(ctx, &hv.DeleteSubnetRequest{SubnetId: resp.(*hv.CreateSubnetResponse).GetSubnet().GetId()})
		return err
	},
	"/hypervisor.v1.NetworkService/AllocateIP": func(ctx context.Context, cc, _ grpc.ClientConnInterface, resp proto.Message) error {
		a := resp.(*hv.AllocateIPResponse).GetAllocation()
		_, err := hv.NewNetworkServiceClient(cc).ReleaseIP(ctx, &hv.ReleaseIPRequest{SubnetId: a.GetSubnetId(), IpAddress: a.GetIpAddress()})
		return err
	},
	"/hypervisor.v1.NetworkService/CreatePort": func(ctx context.Context, cc, _ grpc.ClientConnInterface, resp proto.Message) error {
		_, err := hv.NewNetworkServiceClient(cc).DeletePort(ctx, &hv.DeletePortRequest{PortId: resp.(*hv.CreatePortResponse).GetPort().GetId()})
		return err
	},
	"/hypervisor.v1.NetworkService/CreateSecurityGroup": func(ctx context.Context, cc, _ grpc.ClientConnInterface, resp proto.Message) error {
		_, err := hv.NewNetworkServiceClient(cc).DeleteSecurityGroup(ctx, &hv.DeleteSecurityGroupRequest{SecurityGroupId: resp.(*hv.CreateSecurityGroupResponse).GetSecurityGroup().GetId()})
		return err
	},
	"/hypervisor.v1.NetworkService/CreateRouter": func(ctx context.Context, cc, _ grpc.ClientConnInterface, resp proto.Message) error {
		_, err := hv.NewNetworkServiceClient(cc).DeleteRouter(ctx, &hv.DeleteRouterRequest{RouterId: resp.(*hv.CreateRouterResponse).GetRouter().GetId()})
		return err
	},
	"/hypervisor.v1.NetworkService/CreateFloatingIP": func(ctx context.Context, cc, _ grpc.ClientConnInterface, resp proto.Message) error {
		_, err := hv.NewNetworkServiceClient(cc).DeleteFloatingIP(ctx, &hv.DeleteFloatingIPRequest{FloatingIpId: resp.(*hv.CreateFloatingIPResponse).GetFloatingIp().GetId()})
		return err
	},
	"/hypervisor.v1.StorageService/CreateVolume": func(ctx context.Context, cc, _ grpc.ClientConnInterface, resp proto.Message) error {
		_, err := hv.NewStorageServiceClient(cc).DeleteVolume(ctx, &hv.DeleteVolumeRequest{VolumeId: resp.(*hv.Volume).GetId(), Force: true})
		return err
	},
	"/hypervisor.v1.StorageService/CreateSnapshot": func(ctx context.Context, cc, _ grpc.ClientConnInterface, resp proto.Message) error {
		_, err := hv.NewStorageServiceClient(cc).DeleteSnapshot(ctx, &hv.DeleteSnapshotRequest{SnapshotId: resp.(*hv.Snapshot).GetId()})
		return err
	},
}
