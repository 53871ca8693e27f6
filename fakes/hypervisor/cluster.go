package hypervisor

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vmtestbed/vmtestbed/fakes/hypervisor/page"
	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// Version is what GetClusterInfo reports.
const Version = "vmtestbed-fake/v1"

// clusterService implements hv.ClusterServiceServer over Server state.
type clusterService struct {
	hv.UnimplementedClusterServiceServer
	s *Server
}

// RegisterNode validates and adds a node in READY with a fresh lease.
// InvalidArgument for a bad hostname, ip, port (1..65535), role (MASTER or
// WORKER), capacity, label or instance type name; AlreadyExists when the
// hostname is taken. Allocatable equals capacity.
func (c *clusterService) RegisterNode(_ context.Context, req *hv.RegisterNodeRequest) (*hv.RegisterNodeResponse, error) {
	if err := validHostname(req.GetHostname()); err != nil {
		return nil, err
	}
	if err := validIP(req.GetIp()); err != nil {
		return nil, err
	}
	if req.GetPort() < 1 || req.GetPort() > 65535 {
		return nil, invalid("port %d is outside 1..65535", req.GetPort())
	}
	if r := req.GetRole(); r != hv.NodeRole_NODE_ROLE_MASTER && r != hv.NodeRole_NODE_ROLE_WORKER {
		return nil, invalid("role must be NODE_ROLE_MASTER or NODE_ROLE_WORKER, got %v", r)
	}
	if err := validResources("capacity", req.GetCapacity()); err != nil {
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
	if err := validList("supported_instance_types", len(req.GetSupportedInstanceTypes())); err != nil {
		return nil, err
	}
	for _, t := range req.GetSupportedInstanceTypes() {
		if _, ok := parseInstanceType(t); !ok {
			return nil, invalid("supported_instance_types: unknown type %q (use VM, CONTAINER, MICROVM or INSTANCE_TYPE_*)", t)
		}
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, status.Error(codes.Unavailable, "server is closing")
	}
	if len(s.nodes) >= s.opts.Limits.MaxNodes {
		return nil, errf(codes.ResourceExhausted, "%d nodes are registered, the limit (Limits.MaxNodes)", len(s.nodes))
	}
	n, err := s.addNode(req, false)
	if err != nil {
		return nil, err
	}
	return &hv.RegisterNodeResponse{
		NodeId:                   n.pb.Id,
		HeartbeatIntervalSeconds: int64(s.opts.HeartbeatInterval.Seconds()),
		LeaseTtlSeconds:          int64(s.opts.LeaseTTL.Seconds()),
	}, nil
}

// addNode adds a validated node in READY with a fresh lease (or, with
// keepAlive, a lease the fake renews itself). Call with s.mu held.
func (s *Server) addNode(req *hv.RegisterNodeRequest, keepAlive bool) (*node, error) {
	for _, n := range s.nodes {
		if n.pb.Hostname == req.GetHostname() {
			return nil, errf(codes.AlreadyExists, "hostname %q is already registered as node %s", req.GetHostname(), n.pb.Id)
		}
	}
	now := timestamppb.New(s.now())
	capacity := proto.Clone(orEmpty(req.GetCapacity())).(*hv.Resources)
	n := &node{seq: s.nextSeq(), keepAlive: keepAlive, pb: &hv.Node{
		Id:                     s.newID("node"),
		Hostname:               req.GetHostname(),
		Ip:                     req.GetIp(),
		Port:                   req.GetPort(),
		Role:                   req.GetRole(),
		Status:                 hv.NodeStatus_NODE_STATUS_READY,
		Region:                 req.GetRegion(),
		Zone:                   req.GetZone(),
		Capacity:               capacity,
		Allocatable:            proto.Clone(capacity).(*hv.Resources),
		Allocated:              &hv.Resources{},
		Conditions:             []*hv.NodeCondition{{Type: "Ready", Status: "True", Reason: "Registered", LastTransitionTime: now}},
		Metadata:               cloneMetadata(req.GetMetadata()),
		SupportedInstanceTypes: slices.Clone(req.GetSupportedInstanceTypes()),
		CreatedAt:              now,
		LastSeen:               now,
	}}
	s.nodes[n.pb.Id] = n
	s.armLease(n)
	s.publishNode(hv.EventType_EVENT_TYPE_ADDED, n)
	return n, nil
}

// registerWorkers adds Options.Workers kept-alive worker nodes (see Options.Workers).
func (s *Server) registerWorkers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.opts.Workers {
		req := &hv.RegisterNodeRequest{
			Hostname:               fmt.Sprintf("worker-%d", i+1),
			Ip:                     fmt.Sprintf("10.0.%d.%d", (i+1)/250, (i+1)%250+1),
			Port:                   7000,
			Role:                   hv.NodeRole_NODE_ROLE_WORKER,
			Region:                 "region-1",
			Zone:                   fmt.Sprintf("zone-%c", 'a'+i%3),
			Capacity:               s.opts.WorkerCapacity,
			SupportedInstanceTypes: []string{"INSTANCE_TYPE_VM", "INSTANCE_TYPE_CONTAINER", "INSTANCE_TYPE_MICROVM"},
		}
		// Hostnames worker-N are unique in a fresh server, so this cannot fail.
		_, _ = s.addNode(req, true)
	}
}

// DeregisterNode removes a node; its instances go FAILED. NotFound if unknown.
func (c *clusterService) DeregisterNode(_ context.Context, req *hv.DeregisterNodeRequest) (*emptypb.Empty, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.getNode(req.GetNodeId())
	if err != nil {
		return nil, err
	}
	s.removeNode(n, "node "+n.pb.Id+" was deregistered")
	return &emptypb.Empty{}, nil
}

// GetNode returns a node. InvalidArgument without node_id, NotFound if unknown.
func (c *clusterService) GetNode(_ context.Context, req *hv.GetNodeRequest) (*hv.Node, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.getNode(req.GetNodeId())
	if err != nil {
		return nil, err
	}
	return n.snapshot(), nil
}

// ListNodes filters by role, status, region, zone and label_selector (all
// must match), in registration order, paginated (see package page).
func (c *clusterService) ListNodes(_ context.Context, req *hv.ListNodesRequest) (*hv.ListNodesResponse, error) {
	if err := validNodeStatus(req.GetStatus()); err != nil {
		return nil, err
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	var matched []*node
	for _, n := range s.nodes {
		p := n.pb
		if (req.GetRole() != 0 && p.Role != req.GetRole()) ||
			(req.GetStatus() != 0 && p.Status != req.GetStatus()) ||
			(req.GetRegion() != "" && p.Region != req.GetRegion()) ||
			(req.GetZone() != "" && p.Zone != req.GetZone()) ||
			!labelsMatch(p.GetMetadata().GetLabels(), req.GetLabelSelector()) {
			continue
		}
		matched = append(matched, n)
	}
	page.Sort(matched, (*node).key)
	items, next, err := page.Slice(matched, (*node).key, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &hv.ListNodesResponse{NextPageToken: next, TotalCount: int32(len(matched))}
	for _, n := range items {
		resp.Nodes = append(resp.Nodes, n.snapshot())
	}
	return resp, nil
}

// UpdateNodeStatus sets status (unless UNSPECIFIED) and replaces conditions
// of the types given. It does not renew the lease. The reported allocated is
// checked (InvalidArgument if negative) but not stored: the fake computes a
// node's allocation from the instances placed on it, so a report can never
// make room for more than the node's capacity.
func (c *clusterService) UpdateNodeStatus(_ context.Context, req *hv.UpdateNodeStatusRequest) (*hv.Node, error) {
	if err := validNodeStatus(req.GetStatus()); err != nil {
		return nil, err
	}
	if err := validResources("allocated", req.GetAllocated()); err != nil {
		return nil, err
	}
	if err := c.s.validConditions(req.GetConditions()); err != nil {
		return nil, err
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.getNode(req.GetNodeId())
	if err != nil {
		return nil, err
	}
	if err := roomForConditions(n.pb, req.GetConditions()); err != nil {
		return nil, err
	}
	applyNodeReport(n.pb, req.GetStatus(), req.GetConditions())
	s.publishNode(hv.EventType_EVENT_TYPE_MODIFIED, n)
	return n.snapshot(), nil
}

// Heartbeat renews the lease, stamps last_seen and applies the report like
// UpdateNodeStatus (allocated is not stored). A NOT_READY node that
// heartbeats without a status is READY again. The response carries, once,
// the commands queued for the node (EnqueueNodeCommand) in queue order.
// NotFound for unknown (or already removed) nodes: re-register.
func (c *clusterService) Heartbeat(_ context.Context, req *hv.HeartbeatRequest) (*hv.HeartbeatResponse, error) {
	if err := validNodeStatus(req.GetStatus()); err != nil {
		return nil, err
	}
	if err := validResources("allocated", req.GetAllocated()); err != nil {
		return nil, err
	}
	if err := c.s.validConditions(req.GetConditions()); err != nil {
		return nil, err
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.getNode(req.GetNodeId())
	if err != nil {
		return nil, err
	}
	if err := roomForConditions(n.pb, req.GetConditions()); err != nil {
		return nil, err
	}
	st := req.GetStatus()
	if st == hv.NodeStatus_NODE_STATUS_UNSPECIFIED && n.pb.Status == hv.NodeStatus_NODE_STATUS_NOT_READY {
		st = hv.NodeStatus_NODE_STATUS_READY
	}
	if st == hv.NodeStatus_NODE_STATUS_READY && n.pb.Status == hv.NodeStatus_NODE_STATUS_NOT_READY {
		n.pb.Conditions = setCondition(n.pb.Conditions, &hv.NodeCondition{
			Type: "Ready", Status: "True", Reason: "HeartbeatResumed", LastTransitionTime: timestamppb.New(s.now()),
		})
	}
	applyNodeReport(n.pb, st, req.GetConditions())
	n.pb.LastSeen = timestamppb.New(s.now())
	s.armLease(n)
	s.publishNode(hv.EventType_EVENT_TYPE_MODIFIED, n)
	cmds := n.commands
	n.commands = nil
	return &hv.HeartbeatResponse{Accepted: true, NextHeartbeatSeconds: int64(s.opts.HeartbeatInterval.Seconds()), Commands: cmds}, nil
}

// WatchNodes streams node events matching role/region/zone, in order, until
// the client cancels or the server closes. Headers are sent once the watch is
// registered, so a client that waits for Header() misses no later event.
// A watcher more than Options.WatchBuffer events behind ends with ResourceExhausted.
func (c *clusterService) WatchNodes(req *hv.WatchNodesRequest, stream grpc.ServerStreamingServer[hv.NodeEvent]) error {
	s := c.s
	match := func(ev *hv.NodeEvent) bool {
		n := ev.GetNode()
		return (req.GetRole() == 0 || n.GetRole() == req.GetRole()) &&
			(req.GetRegion() == "" || n.GetRegion() == req.GetRegion()) &&
			(req.GetZone() == "" || n.GetZone() == req.GetZone())
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return status.Error(codes.Unavailable, "server is closing")
	}
	if err := s.takeWatcher(); err != nil {
		s.mu.Unlock()
		return err
	}
	w := s.nodeHub.subscribe(match)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.nodeHub.unsubscribe(w)
		s.watchers--
		s.mu.Unlock()
	}()
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	return pump(stream.Context(), s.done, w, stream.Send)
}

// GetClusterInfo aggregates node counts, capacity and allocation over all nodes.
func (c *clusterService) GetClusterInfo(context.Context, *emptypb.Empty) (*hv.ClusterInfo, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	info := &hv.ClusterInfo{
		ClusterId: s.clusterID, ClusterName: s.opts.ClusterName, Version: Version,
		TotalCapacity: &hv.Resources{}, TotalAllocated: &hv.Resources{},
	}
	for _, n := range s.nodes {
		info.TotalNodes++
		if n.pb.Status == hv.NodeStatus_NODE_STATUS_READY {
			info.ReadyNodes++
		}
		addResources(info.TotalCapacity, n.pb.GetCapacity())
		addResources(info.TotalAllocated, n.pb.GetAllocated())
	}
	return info, nil
}

// getNode looks a node up. Call with s.mu held.
func (s *Server) getNode(id string) (*node, error) {
	if id == "" {
		return nil, invalid("node_id is required")
	}
	n, ok := s.nodes[id]
	if !ok {
		return nil, errf(codes.NotFound, "node %q not found", id)
	}
	return n, nil
}

// applyNodeReport applies a node's report. allocated is never taken from a
// report: it is the sum of the node's placed instances (see addAllocated).
func applyNodeReport(n *hv.Node, st hv.NodeStatus, conds []*hv.NodeCondition) {
	if st != hv.NodeStatus_NODE_STATUS_UNSPECIFIED {
		n.Status = st
	}
	for _, c := range conds {
		n.Conditions = setCondition(n.Conditions, proto.Clone(c).(*hv.NodeCondition))
	}
}

// EnqueueNodeCommand queues a command for a node; its next Heartbeat
// response carries it (and every other queued command, in order) once. It
// returns the command's id. NotFound for an unknown node, ResourceExhausted
// when Limits.MaxPendingCommands are already queued for it.
func (s *Server) EnqueueNodeCommand(nodeID, typ string, params map[string]string) (string, error) {
	if typ == "" {
		return "", invalid("command type is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.getNode(nodeID)
	if err != nil {
		return "", err
	}
	if len(n.commands) >= s.opts.Limits.MaxPendingCommands {
		return "", errf(codes.ResourceExhausted, "node %s already has %d commands queued (Limits.MaxPendingCommands)", nodeID, len(n.commands))
	}
	cmd := &hv.NodeCommand{Id: s.newID("cmd"), Type: typ, Parameters: maps.Clone(params)}
	n.commands = append(n.commands, cmd)
	return cmd.Id, nil
}

func addResources(sum, r *hv.Resources) {
	sum.CpuCores += r.GetCpuCores()
	sum.MemoryBytes += r.GetMemoryBytes()
	sum.DiskBytes += r.GetDiskBytes()
	sum.GpuCount += r.GetGpuCount()
}

func orEmpty(r *hv.Resources) *hv.Resources {
	if r == nil {
		return &hv.Resources{}
	}
	return r
}

func cloneMetadata(m *hv.Metadata) *hv.Metadata {
	if m == nil {
		return &hv.Metadata{}
	}
	return proto.Clone(m).(*hv.Metadata)
}

// maxConditions bounds the distinct condition types a node holds.
const maxConditions = 32

// validConditions checks reported node conditions: at most maxConditions,
// type and status short tokens, reason at most 128 bytes and message a
// description (Limits.MaxDescriptionBytes).
func (s *Server) validConditions(conds []*hv.NodeCondition) error {
	if len(conds) > maxConditions {
		return invalid("%d conditions, more than %d", len(conds), maxConditions)
	}
	for i, c := range conds {
		if c.GetType() == "" || len(c.GetType()) > 63 || !labelValueRE.MatchString(c.GetType()) {
			return invalid("conditions[%d].type %q must be 1..63 of [A-Za-z0-9._-]", i, c.GetType())
		}
		if len(c.GetStatus()) > 63 || !labelValueRE.MatchString(c.GetStatus()) {
			return invalid("conditions[%d].status %q must be at most 63 of [A-Za-z0-9._-]", i, c.GetStatus())
		}
		if len(c.GetReason()) > 128 {
			return invalid("conditions[%d].reason %q is longer than 128 bytes", i, c.GetReason())
		}
		if err := validToken(fmt.Sprintf("conditions[%d].reason", i), c.GetReason()); err != nil {
			return err
		}
		if err := s.validDescription(fmt.Sprintf("conditions[%d].message", i), c.GetMessage()); err != nil {
			return err
		}
	}
	return nil
}

// roomForConditions refuses a report that would give n more than
// maxConditions distinct condition types. Call with s.mu held.
func roomForConditions(n *hv.Node, conds []*hv.NodeCondition) error {
	if len(conds) == 0 {
		return nil // a report without conditions adds none
	}
	types := map[string]bool{}
	for _, c := range n.Conditions {
		types[c.Type] = true
	}
	for _, c := range conds {
		types[c.GetType()] = true
	}
	if len(types) > maxConditions {
		return errf(codes.InvalidArgument, "node %s would hold %d condition types, more than %d", n.Id, len(types), maxConditions)
	}
	return nil
}
