package hypervisor

import (
	"context"
	"fmt"
	"regexp"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/vmtestbed/vmtestbed/fakes/hypervisor/page"
	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// computeService implements hv.ComputeServiceServer over Server state.
type computeService struct {
	hv.UnimplementedComputeServiceServer
	s *Server
}

// CreateInstance validates (InvalidArgument), rejects a duplicate name
// (AlreadyExists), schedules (see schedule: NotFound, FailedPrecondition,
// ResourceExhausted), reserves cpu/memory/disk on the node and provisions.
// With Options.ProvisionDelay 0 the returned instance is already STOPPED.
func (c *computeService) CreateInstance(_ context.Context, req *hv.CreateInstanceRequest) (*hv.Instance, error) {
	if err := validInstanceName(req.GetName()); err != nil {
		return nil, err
	}
	if err := validInstanceType(req.GetType(), true); err != nil {
		return nil, err
	}
	if err := c.s.validateSpec(req.GetSpec()); err != nil {
		return nil, err
	}
	if err := c.s.validPB("metadata", req.GetMetadata()); err != nil {
		return nil, err
	}
	if err := validToken("region", req.GetRegion()); err != nil {
		return nil, err
	}
	if err := validToken("zone", req.GetZone()); err != nil {
		return nil, err
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, status.Error(codes.Unavailable, "server is closing")
	}
	if err := s.checkImage(req.GetSpec().GetImage(), req.GetType()); err != nil {
		return nil, err
	}
	if s.nameTaken(req.GetName()) {
		return nil, errf(codes.AlreadyExists, "an instance named %q already exists", req.GetName())
	}
	n, err := s.schedule(placement{
		typ: req.GetType(), cpu: req.GetSpec().GetCpuCores(), mem: req.GetSpec().GetMemoryBytes(),
		region: req.GetRegion(), zone: req.GetZone(),
	}, req.GetPreferredNodeId())
	if err != nil {
		return nil, err
	}
	in := s.createInstance(createParams{name: req.GetName(), typ: req.GetType(), spec: req.GetSpec(), metadata: req.GetMetadata(), node: n})
	return in.snapshot(), nil
}

// DeleteInstance removes an instance (force needed while RUNNING); its
// volumes go back to AVAILABLE and its ports are unbound (see removeInstance).
func (c *computeService) DeleteInstance(_ context.Context, req *hv.DeleteInstanceRequest) (*emptypb.Empty, error) {
	if err := c.s.removeInstance(req.GetInstanceId(), req.GetForce()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// GetInstance returns an instance (NotFound if unknown).
func (c *computeService) GetInstance(_ context.Context, req *hv.GetInstanceRequest) (*hv.Instance, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	in, err := c.s.getInstance(req.GetInstanceId())
	if err != nil {
		return nil, err
	}
	return in.snapshot(), nil
}

// ListInstances filters by type, state, node_id and label_selector, in
// creation order, paginated, with total_count of all matches.
func (c *computeService) ListInstances(_ context.Context, req *hv.ListInstancesRequest) (*hv.ListInstancesResponse, error) {
	if err := validInstanceType(req.GetType(), false); err != nil {
		return nil, err
	}
	if _, ok := hv.InstanceState_name[int32(req.GetState())]; !ok {
		return nil, invalid("unknown instance state %d", req.GetState())
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	var matched []*instance
	for _, in := range s.bySeq {
		if (req.GetType() != 0 && in.pb.Type != req.GetType()) ||
			(req.GetState() != 0 && in.state != req.GetState()) ||
			(req.GetNodeId() != "" && in.nodeID != req.GetNodeId()) ||
			!labelsMatch(in.pb.GetMetadata().GetLabels(), req.GetLabelSelector()) {
			continue
		}
		matched = append(matched, in)
	}
	items, next, err := page.Slice(matched, (*instance).key, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &hv.ListInstancesResponse{NextPageToken: next, TotalCount: int32(len(matched))}
	for _, in := range items {
		resp.Instances = append(resp.Instances, in.snapshot())
	}
	return resp, nil
}

// StartInstance: STOPPED -> RUNNING; the guest boots on the console.
func (c *computeService) StartInstance(_ context.Context, req *hv.StartInstanceRequest) (*hv.Instance, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.s.startInstance(req.GetInstanceId())
}

// StopInstance: RUNNING -> STOPPED (graceful, or force).
func (c *computeService) StopInstance(_ context.Context, req *hv.StopInstanceRequest) (*hv.Instance, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.s.stopInstance(req.GetInstanceId(), req.GetForce(), req.GetTimeoutSeconds())
}

// RestartInstance reboots a RUNNING instance.
func (c *computeService) RestartInstance(_ context.Context, req *hv.RestartInstanceRequest) (*hv.Instance, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.s.restartInstance(req.GetInstanceId(), req.GetForce())
}

// GetInstanceStats returns deterministic usage numbers (see stats).
func (c *computeService) GetInstanceStats(_ context.Context, req *hv.GetInstanceStatsRequest) (*hv.InstanceStats, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	in, err := c.s.getInstance(req.GetInstanceId())
	if err != nil {
		return nil, err
	}
	return c.s.stats(in), nil
}

// WatchInstance first sends the instance as it is now (EVENT_TYPE_ADDED),
// then every change (MODIFIED) until it is deleted (DELETED, then the stream
// ends OK). Headers are sent once the watch is registered.
func (c *computeService) WatchInstance(req *hv.WatchInstanceRequest, stream grpc.ServerStreamingServer[hv.InstanceEvent]) error {
	s := c.s
	s.mu.Lock()
	in, err := s.getInstance(req.GetInstanceId())
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if err := s.takeWatcher(); err != nil {
		s.mu.Unlock()
		return err
	}
	w := in.hub.subscribe(nil)
	first := &hv.InstanceEvent{Type: hv.EventType_EVENT_TYPE_ADDED, Instance: in.snapshot()}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		in.hub.unsubscribe(w)
		s.watchers--
		s.mu.Unlock()
	}()
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	if err := stream.Send(first); err != nil {
		return err
	}
	return pump(stream.Context(), s.done, w, stream.Send)
}

// AttachConsole streams the console: recent history first, then live
// output, until the client cancels or the instance is deleted. With tty and
// a width and height the pty is resized first.
func (c *computeService) AttachConsole(req *hv.AttachConsoleRequest, stream grpc.ServerStreamingServer[hv.ConsoleData]) error {
	if req.GetWidth() < 0 || req.GetHeight() < 0 || req.GetWidth() > 1000 || req.GetHeight() > 1000 {
		return invalid("console size %dx%d is outside 0..1000", req.GetWidth(), req.GetHeight())
	}
	con, release, err := c.s.consoleOf(req.GetInstanceId())
	if err != nil {
		return err
	}
	defer release()
	if req.GetTty() && req.GetWidth() > 0 && req.GetHeight() > 0 {
		if err := con.resize(int(req.GetWidth()), int(req.GetHeight())); err != nil {
			return consoleErr(req.GetInstanceId(), err)
		}
	}
	return streamConsole(stream.Context(), c.s.done, con, req.GetInstanceId(), func() error { return stream.SendHeader(metadata.MD{}) },
		func(b []byte) error { return stream.Send(&hv.ConsoleData{Data: b}) })
}

// ListImages lists built-in and pulled images, optionally by type, paginated.
func (c *computeService) ListImages(_ context.Context, req *hv.ListImagesRequest) (*hv.ListImagesResponse, error) {
	if err := validInstanceType(req.GetType(), false); err != nil {
		return nil, err
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	var matched []*image
	for _, im := range s.images {
		if req.GetType() == 0 || im.pb.Type == req.GetType() {
			matched = append(matched, im)
		}
	}
	page.Sort(matched, (*image).key)
	items, next, err := page.Slice(matched, (*image).key, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &hv.ListImagesResponse{NextPageToken: next}
	for _, im := range items {
		resp.Images = append(resp.Images, im.snapshot())
	}
	return resp, nil
}

// imageRefRE is [registry/]path[:tag], lowercase path components.
var imageRefRE = regexp.MustCompile(`^([a-z0-9]+([._-][a-z0-9]+)*)(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$`)

// pullSteps is how many download progress messages a pull sends.
const pullSteps = 4

// PullImage validates the reference (InvalidArgument for a malformed one or
// a missing type), streams progress — "resolving", pullSteps "downloading"
// messages with growing current, then "complete" with completed=true — and
// registers the image (tag "latest" when none is given).
func (c *computeService) PullImage(req *hv.PullImageRequest, stream grpc.ServerStreamingServer[hv.PullImageProgress]) error {
	ref := req.GetImageRef()
	if ref == "" || len(ref) > 255 || !imageRefRE.MatchString(ref) {
		return invalid("image_ref %q is not a valid reference (name[:tag])", ref)
	}
	if err := validInstanceType(req.GetType(), true); err != nil {
		return err
	}
	name, tag, ok := cutTag(ref)
	if !ok {
		tag = "latest"
	}
	total := refSize(ref)
	if err := stream.Send(&hv.PullImageProgress{Status: "resolving " + ref, Total: total}); err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	for i := int64(1); i <= pullSteps; i++ {
		if err := stream.Context().Err(); err != nil {
			return status.FromContextError(err).Err()
		}
		msg := &hv.PullImageProgress{Status: "downloading", Current: total * i / pullSteps, Total: total}
		if err := stream.Send(msg); err != nil {
			return fmt.Errorf("pull %s: %w", ref, err)
		}
	}
	s := c.s
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return status.Error(codes.Unavailable, "server is closing")
	}
	if err := s.imageRoom(name, tag, req.GetType()); err != nil {
		s.mu.Unlock()
		return err
	}
	im := s.addImage(name, []string{tag}, req.GetType(), total)
	id := im.pb.Id
	s.mu.Unlock()
	return stream.Send(&hv.PullImageProgress{Status: "complete " + id, Current: total, Total: total, Completed: true})
}

// cutTag splits name:tag where the colon is after the last '/'.
func cutTag(ref string) (name, tag string, ok bool) {
	for i := len(ref) - 1; i >= 0 && ref[i] != '/'; i-- {
		if ref[i] == ':' {
			return ref[:i], ref[i+1:], true
		}
	}
	return ref, "", false
}
