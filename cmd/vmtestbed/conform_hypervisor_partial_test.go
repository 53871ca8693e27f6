package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vmtestbed/vmtestbed/conformance/report"
	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// partialCluster is a hypervisor.v1 server wrong on purpose, written apart
// from the fake: it serves ClusterService only (the other 71 methods are
// Unimplemented), answers every ClusterService call as the contract says,
// and never renews a lease: a Heartbeat is accepted and stamps last_seen,
// but the node leaves READY lease_ttl after it registered, whatever it sends.
type partialCluster struct {
	hv.UnimplementedClusterServiceServer

	mu    sync.Mutex
	seq   int
	nodes []*partialNode // in registration order (the page order)
	subs  map[chan *hv.NodeEvent]*hv.WatchNodesRequest
}

type partialNode struct {
	pb         *hv.Node
	leaseUntil time.Time // set once, at registration: the bug
}

const (
	partialTTL      = 3 * time.Second
	partialInterval = time.Second
)

// view returns a copy of n with the status its (never renewed) lease implies.
func (n *partialNode) view(now time.Time) *hv.Node {
	out := proto.Clone(n.pb).(*hv.Node)
	if out.Status == hv.NodeStatus_NODE_STATUS_READY && now.After(n.leaseUntil) {
		out.Status = hv.NodeStatus_NODE_STATUS_NOT_READY
	}
	return out
}

func (p *partialCluster) find(id string) (int, error) {
	for i, n := range p.nodes {
		if n.pb.Id == id {
			return i, nil
		}
	}
	return -1, status.Errorf(codes.NotFound, "node %q not found", id)
}

func (p *partialCluster) publish(t hv.EventType, n *hv.Node) {
	for ch, f := range p.subs {
		if (f.GetRole() != hv.NodeRole_NODE_ROLE_UNSPECIFIED && f.GetRole() != n.GetRole()) ||
			(f.GetRegion() != "" && f.GetRegion() != n.GetRegion()) || (f.GetZone() != "" && f.GetZone() != n.GetZone()) {
			continue
		}
		select {
		case ch <- &hv.NodeEvent{Type: t, Node: n}:
		default: // a watcher that does not read loses events
		}
	}
}

func (p *partialCluster) RegisterNode(_ context.Context, req *hv.RegisterNodeRequest) (*hv.RegisterNodeResponse, error) {
	if req.GetHostname() == "" {
		return nil, status.Error(codes.InvalidArgument, "hostname is required")
	}
	if _, err := netip.ParseAddr(req.GetIp()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "ip: %v", err)
	}
	if req.GetPort() < 1 || req.GetPort() > 65535 {
		return nil, status.Errorf(codes.InvalidArgument, "port %d outside 1..65535", req.GetPort())
	}
	if r := req.GetRole(); r != hv.NodeRole_NODE_ROLE_MASTER && r != hv.NodeRole_NODE_ROLE_WORKER {
		return nil, status.Errorf(codes.InvalidArgument, "role %v", r)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range p.nodes {
		if n.pb.Hostname == req.GetHostname() {
			return nil, status.Errorf(codes.AlreadyExists, "hostname %q is registered", req.GetHostname())
		}
	}
	p.seq++
	now := time.Now()
	n := &partialNode{leaseUntil: now.Add(partialTTL), pb: &hv.Node{
		Id: fmt.Sprintf("pnode-%d", p.seq), Hostname: req.GetHostname(), Ip: req.GetIp(), Port: req.GetPort(), Role: req.GetRole(),
		Status: hv.NodeStatus_NODE_STATUS_READY, Region: req.GetRegion(), Zone: req.GetZone(),
		Capacity: req.GetCapacity(), Allocatable: req.GetCapacity(), Allocated: &hv.Resources{}, Metadata: req.GetMetadata(),
		SupportedInstanceTypes: req.GetSupportedInstanceTypes(), CreatedAt: timestamppb.New(now), LastSeen: timestamppb.New(now),
	}}
	p.nodes = append(p.nodes, n)
	p.publish(hv.EventType_EVENT_TYPE_ADDED, n.view(now))
	return &hv.RegisterNodeResponse{NodeId: n.pb.Id, HeartbeatIntervalSeconds: int64(partialInterval.Seconds()), LeaseTtlSeconds: int64(partialTTL.Seconds())}, nil
}

func (p *partialCluster) DeregisterNode(_ context.Context, req *hv.DeregisterNodeRequest) (*emptypb.Empty, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, err := p.find(req.GetNodeId())
	if err != nil {
		return nil, err
	}
	n := p.nodes[i]
	p.nodes = slices.Delete(p.nodes, i, i+1)
	p.publish(hv.EventType_EVENT_TYPE_DELETED, n.view(time.Now()))
	return &emptypb.Empty{}, nil
}

func (p *partialCluster) GetNode(_ context.Context, req *hv.GetNodeRequest) (*hv.Node, error) {
	if req.GetNodeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "node_id is required")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	i, err := p.find(req.GetNodeId())
	if err != nil {
		return nil, err
	}
	return p.nodes[i].view(time.Now()), nil
}

func (p *partialCluster) ListNodes(_ context.Context, req *hv.ListNodesRequest) (*hv.ListNodesResponse, error) {
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, status.Error(codes.InvalidArgument, "page_size is negative")
	case size == 0:
		size = 20
	case size > 100:
		size = 100
	}
	start := 0
	if t := req.GetPageToken(); t != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(t, "p"))
		if !strings.HasPrefix(t, "p") || err != nil || n < 0 {
			return nil, status.Errorf(codes.InvalidArgument, "malformed page_token %q", t)
		}
		start = n
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	var match []*hv.Node
	for _, pn := range p.nodes {
		n := pn.view(now)
		if (req.GetRole() != hv.NodeRole_NODE_ROLE_UNSPECIFIED && n.Role != req.GetRole()) ||
			(req.GetStatus() != hv.NodeStatus_NODE_STATUS_UNSPECIFIED && n.Status != req.GetStatus()) ||
			(req.GetRegion() != "" && n.Region != req.GetRegion()) || (req.GetZone() != "" && n.Zone != req.GetZone()) {
			continue
		}
		ok := true
		for k, v := range req.GetLabelSelector() {
			ok = ok && n.GetMetadata().GetLabels()[k] == v
		}
		if ok {
			match = append(match, n)
		}
	}
	resp := &hv.ListNodesResponse{TotalCount: int32(len(match))}
	if start < len(match) {
		end := min(start+size, len(match))
		resp.Nodes = match[start:end]
		if end < len(match) {
			resp.NextPageToken = "p" + strconv.Itoa(end)
		}
	}
	return resp, nil
}

func (p *partialCluster) UpdateNodeStatus(_ context.Context, req *hv.UpdateNodeStatusRequest) (*hv.Node, error) {
	if req.GetStatus() == hv.NodeStatus_NODE_STATUS_UNSPECIFIED {
		return nil, status.Error(codes.InvalidArgument, "status is required")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	i, err := p.find(req.GetNodeId())
	if err != nil {
		return nil, err
	}
	p.nodes[i].pb.Status = req.GetStatus()
	n := p.nodes[i].view(time.Now())
	p.publish(hv.EventType_EVENT_TYPE_MODIFIED, n)
	return n, nil
}

// Heartbeat is accepted and stamps last_seen, but does not renew the lease.
func (p *partialCluster) Heartbeat(_ context.Context, req *hv.HeartbeatRequest) (*hv.HeartbeatResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, err := p.find(req.GetNodeId())
	if err != nil {
		return nil, err
	}
	p.nodes[i].pb.LastSeen = timestamppb.Now()
	p.publish(hv.EventType_EVENT_TYPE_MODIFIED, p.nodes[i].view(time.Now()))
	return &hv.HeartbeatResponse{Accepted: true, NextHeartbeatSeconds: int64(partialInterval.Seconds())}, nil
}

func (p *partialCluster) WatchNodes(req *hv.WatchNodesRequest, stream hv.ClusterService_WatchNodesServer) error {
	ch := make(chan *hv.NodeEvent, 256)
	p.mu.Lock()
	p.subs[ch] = req
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.subs, ch)
		p.mu.Unlock()
	}()
	for {
		select {
		case ev := <-ch:
			if err := stream.Send(ev); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return nil
		}
	}
}

func (p *partialCluster) GetClusterInfo(context.Context, *emptypb.Empty) (*hv.ClusterInfo, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	info := &hv.ClusterInfo{ClusterId: "partial", ClusterName: "partial", Version: "0", TotalCapacity: &hv.Resources{}}
	now := time.Now()
	for _, pn := range p.nodes {
		n := pn.view(now)
		info.TotalNodes++
		if n.Status == hv.NodeStatus_NODE_STATUS_READY {
			info.ReadyNodes++
		}
		info.TotalCapacity.CpuCores += n.GetCapacity().GetCpuCores()
		info.TotalCapacity.MemoryBytes += n.GetCapacity().GetMemoryBytes()
	}
	return info, nil
}

// servePartial serves a partialCluster on a loopback port.
func servePartial(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	hv.RegisterClusterServiceServer(g, &partialCluster{subs: map[chan *hv.NodeEvent]*hv.WatchNodesRequest{}})
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Serve(lis) }()
	t.Cleanup(func() { g.Stop(); <-done })
	return lis.Addr().String()
}

// TestConformHypervisorPartialServer is issue 8's bar: against a server that
// implements only ClusterService and never renews leases, the suite exits 1,
// flags the lease, classifies all 79 methods, and blames no method that
// answered correctly.
func TestConformHypervisorPartialServer(t *testing.T) {
	addr := servePartial(t)
	js := filepath.Join(t.TempDir(), "r.json")
	res := runCLI(t, 120*time.Second, "conform", "hypervisor", "--addr", addr, "--json", js)
	if res.code != exitFailed {
		t.Fatalf("exit %d, want %d:\n%s", res.code, exitFailed, res.out)
	}
	r := readResult(t, js)
	if got := strings.Join(r.FailedIDs(), " "); got != "HV-CLU-006" {
		t.Errorf("failed specs %q, want only HV-CLU-006 (the lease):\n%s", got, res.out)
	}
	for _, s := range r.Specs {
		if s.ID == "HV-CLU-006" && !strings.Contains(s.Failure, "Heartbeat MUST renew the lease") {
			t.Errorf("HV-CLU-006 failed for another reason than the lease: %s", s.Failure)
		}
		if s.ID == "HV-CLU-009" && !s.Passed() {
			t.Errorf("HV-CLU-009 (the lease lapses) is %s; the server does expire leases", s.State)
		}
	}
	if len(r.Methods) != 79 {
		t.Fatalf("method table has %d rows, want 79", len(r.Methods))
	}
	for _, m := range r.Methods {
		cluster := strings.HasPrefix(m.Method, "/hypervisor.v1.ClusterService/")
		switch {
		case cluster && m.Method == "/hypervisor.v1.ClusterService/Heartbeat":
			if m.Status != report.StatusFailing || !slices.Equal(m.Blamed, []string{"HV-CLU-006"}) {
				t.Errorf("Heartbeat: %s blamed by %v, want failing, blamed by HV-CLU-006", m.Status, m.Blamed)
			}
		case cluster:
			if m.Status != report.StatusConformant || len(m.Blamed) > 0 {
				t.Errorf("%s answered correctly and is %s (blamed by %v), want conformant", m.Method, m.Status, m.Blamed)
			}
		default:
			if m.Status != report.StatusUnimplemented {
				t.Errorf("%s is %s, want unimplemented", m.Method, m.Status)
			}
		}
	}
	for _, want := range []string{"FAIL [HV-CLU-006]", "79 methods: 7 conformant, 1 failing, 71 unimplemented, 0 unreachable, 0 untested", "precondition not met"} {
		if !strings.Contains(res.out, want) {
			t.Errorf("output lacks %q:\n%s", want, res.out)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", res.out)
	}
}
