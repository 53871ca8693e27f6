package hypervisor

import (
	"context"

	. "github.com/onsi/gomega"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/emptypb"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

func (s *specs) cluster() {
	s.it("[HV-CLU-001] RegisterNode MUST return a node_id, heartbeat interval and lease TTL, and GetNode MUST return the registered fields", func(ctx context.Context, e *env) {
		req := e.nodeRequest(e.region())
		resp, err := e.cluster.RegisterNode(ctx, req)
		expectOK(err, "RegisterNode")
		e.res.add("node", func(ctx context.Context) error {
			_, err := e.cluster.DeregisterNode(ctx, &hv.DeregisterNodeRequest{NodeId: resp.GetNodeId()})
			return err
		})
		Expect(resp.GetNodeId()).NotTo(BeEmpty(), "RegisterNode MUST return a node_id")
		Expect(resp.GetHeartbeatIntervalSeconds()).To(BeNumerically(">", 0), "heartbeat_interval_seconds MUST be positive")
		Expect(resp.GetLeaseTtlSeconds()).To(BeNumerically(">=", resp.GetHeartbeatIntervalSeconds()), "lease_ttl_seconds MUST be at least the heartbeat interval")
		n, err := e.cluster.GetNode(ctx, &hv.GetNodeRequest{NodeId: resp.GetNodeId()})
		expectOK(err, "GetNode")
		Expect(n.GetId()).To(Equal(resp.GetNodeId()))
		Expect(n.GetHostname()).To(Equal(req.Hostname))
		Expect(n.GetIp()).To(Equal(req.Ip))
		Expect(n.GetPort()).To(Equal(req.Port))
		Expect(n.GetRole()).To(Equal(req.Role))
		Expect(n.GetRegion()).To(Equal(req.Region))
		Expect(n.GetZone()).To(Equal(req.Zone))
		Expect(n.GetCapacity().GetCpuCores()).To(Equal(req.Capacity.CpuCores), "capacity.cpu_cores")
		Expect(n.GetCapacity().GetMemoryBytes()).To(Equal(req.Capacity.MemoryBytes), "capacity.memory_bytes")
		Expect(n.GetMetadata().GetLabels()).To(Equal(req.Metadata.Labels), "metadata.labels")
		Expect(n.GetCreatedAt()).NotTo(BeNil(), "created_at MUST be set")
	})

	s.it("[HV-CLU-002] RegisterNode MUST refuse a second node with the same hostname with AlreadyExists", func(ctx context.Context, e *env) {
		req := e.nodeRequest(e.region())
		e.registerNode(ctx, req)
		again := e.nodeRequest(req.Region)
		again.Hostname = req.Hostname
		_, err := e.cluster.RegisterNode(ctx, again)
		expectCode(err, codes.AlreadyExists, "RegisterNode with the hostname %s already registered", req.Hostname)
	})

	s.it("[HV-CLU-003] RegisterNode MUST refuse a missing hostname, a bad ip or port, or no role with InvalidArgument", func(ctx context.Context, e *env) {
		for name, mut := range map[string]func(*hv.RegisterNodeRequest){
			"empty hostname":   func(r *hv.RegisterNodeRequest) { r.Hostname = "" },
			"ip not an IP":     func(r *hv.RegisterNodeRequest) { r.Ip = "not-an-ip" },
			"port 0":           func(r *hv.RegisterNodeRequest) { r.Port = 0 },
			"port 70000":       func(r *hv.RegisterNodeRequest) { r.Port = 70000 },
			"role unspecified": func(r *hv.RegisterNodeRequest) { r.Role = hv.NodeRole_NODE_ROLE_UNSPECIFIED },
		} {
			req := e.nodeRequest(e.region())
			mut(req)
			resp, err := e.cluster.RegisterNode(ctx, req)
			if err == nil {
				e.res.add("node", func(ctx context.Context) error {
					_, err := e.cluster.DeregisterNode(ctx, &hv.DeregisterNodeRequest{NodeId: resp.GetNodeId()})
					return err
				})
			}
			expectCode(err, codes.InvalidArgument, "RegisterNode with %s", name)
		}
	})

	s.it("[HV-CLU-004] DeregisterNode MUST remove the node so GetNode and a second DeregisterNode return NotFound", func(ctx context.Context, e *env) {
		n := e.registerNode(ctx, e.nodeRequest(e.region()))
		_, err := e.cluster.DeregisterNode(ctx, &hv.DeregisterNodeRequest{NodeId: n.GetId()})
		expectOK(err, "DeregisterNode")
		_, err = e.cluster.GetNode(ctx, &hv.GetNodeRequest{NodeId: n.GetId()})
		expectCode(err, codes.NotFound, "GetNode after DeregisterNode")
		_, err = e.cluster.DeregisterNode(ctx, &hv.DeregisterNodeRequest{NodeId: n.GetId()})
		expectCode(err, codes.NotFound, "DeregisterNode of a node already deregistered")
	})

	s.it("[HV-CLU-005] UpdateNodeStatus MUST change the node's status as GetNode shows it, and return NotFound for an unknown node", func(ctx context.Context, e *env) {
		n := e.readyNode(ctx, e.region())
		got, err := e.cluster.UpdateNodeStatus(ctx, &hv.UpdateNodeStatusRequest{NodeId: n.GetId(), Status: hv.NodeStatus_NODE_STATUS_MAINTENANCE})
		expectOK(err, "UpdateNodeStatus to MAINTENANCE")
		Expect(got.GetStatus()).To(Equal(hv.NodeStatus_NODE_STATUS_MAINTENANCE), "UpdateNodeStatus response")
		again, err := e.cluster.GetNode(ctx, &hv.GetNodeRequest{NodeId: n.GetId()})
		expectOK(err, "GetNode")
		Expect(again.GetStatus()).To(Equal(hv.NodeStatus_NODE_STATUS_MAINTENANCE), "GetNode after UpdateNodeStatus")
		_, err = e.cluster.UpdateNodeStatus(ctx, &hv.UpdateNodeStatusRequest{NodeId: e.name("missing"), Status: hv.NodeStatus_NODE_STATUS_READY})
		expectCode(err, codes.NotFound, "UpdateNodeStatus of an unknown node")
	})

	s.it("[HV-CLU-006] Heartbeat MUST be accepted for a registered node with a positive next interval, and MUST NOT be accepted for an unknown node", func(ctx context.Context, e *env) {
		n := e.readyNode(ctx, e.region())
		resp, err := e.cluster.Heartbeat(ctx, &hv.HeartbeatRequest{NodeId: n.GetId(), Status: hv.NodeStatus_NODE_STATUS_READY})
		expectOK(err, "Heartbeat of a registered node")
		Expect(resp.GetAccepted()).To(BeTrue(), "Heartbeat of a registered node MUST be accepted")
		Expect(resp.GetNextHeartbeatSeconds()).To(BeNumerically(">", 0), "next_heartbeat_seconds")
		after, err := e.cluster.GetNode(ctx, &hv.GetNodeRequest{NodeId: n.GetId()})
		expectOK(err, "GetNode after Heartbeat")
		Expect(after.GetLastSeen()).NotTo(BeNil(), "last_seen MUST be set after a heartbeat")
		resp, err = e.cluster.Heartbeat(ctx, &hv.HeartbeatRequest{NodeId: e.name("missing")})
		if err == nil {
			Expect(resp.GetAccepted()).To(BeFalse(), "Heartbeat of an unknown node was accepted; it MUST be refused (NotFound or accepted=false)")
		} else {
			expectCode(err, codes.NotFound, "Heartbeat of an unknown node")
		}
	})

	s.it("[HV-CLU-007] GetClusterInfo MUST count registered and READY nodes and their capacity", func(ctx context.Context, e *env) {
		before, err := e.cluster.GetClusterInfo(ctx, &emptypb.Empty{})
		expectOK(err, "GetClusterInfo")
		Expect(before.GetClusterName()).NotTo(BeEmpty(), "cluster_name")
		n := e.readyNode(ctx, e.region())
		after, err := e.cluster.GetClusterInfo(ctx, &emptypb.Empty{})
		expectOK(err, "GetClusterInfo")
		Expect(after.GetTotalNodes()).To(Equal(before.GetTotalNodes()+1), "total_nodes after one RegisterNode")
		Expect(after.GetReadyNodes()).To(Equal(before.GetReadyNodes()+1), "ready_nodes after one READY node joined")
		Expect(after.GetTotalCapacity().GetCpuCores()).To(Equal(before.GetTotalCapacity().GetCpuCores()+n.GetCapacity().GetCpuCores()), "total_capacity.cpu_cores")
	})

	s.it("[HV-CLU-008] ListNodes MUST filter by role, status, region, zone and label_selector", func(ctx context.Context, e *env) {
		region := e.region()
		worker := e.readyNode(ctx, region)
		master := e.readyNode(ctx, region, func(r *hv.RegisterNodeRequest) {
			r.Role = hv.NodeRole_NODE_ROLE_MASTER
			r.Zone = region + "-b"
			r.Metadata.Labels["tier"] = "control"
		})
		_, err := e.cluster.UpdateNodeStatus(ctx, &hv.UpdateNodeStatusRequest{NodeId: master.GetId(), Status: hv.NodeStatus_NODE_STATUS_DRAINING})
		expectOK(err, "UpdateNodeStatus")
		ids := func(req *hv.ListNodesRequest) []string {
			req.Region, req.PageSize = region, 100
			resp, err := e.cluster.ListNodes(ctx, req)
			expectOK(err, "ListNodes %v", req)
			var out []string
			for _, n := range resp.GetNodes() {
				out = append(out, n.GetId())
			}
			return out
		}
		Expect(ids(&hv.ListNodesRequest{})).To(ConsistOf(worker.GetId(), master.GetId()), "region filter")
		Expect(ids(&hv.ListNodesRequest{Role: hv.NodeRole_NODE_ROLE_WORKER})).To(ConsistOf(worker.GetId()), "role=WORKER filter")
		Expect(ids(&hv.ListNodesRequest{Status: hv.NodeStatus_NODE_STATUS_DRAINING})).To(ConsistOf(master.GetId()), "status=DRAINING filter")
		Expect(ids(&hv.ListNodesRequest{Zone: region + "-b"})).To(ConsistOf(master.GetId()), "zone filter")
		Expect(ids(&hv.ListNodesRequest{LabelSelector: map[string]string{"tier": "control"}})).To(ConsistOf(master.GetId()), "label_selector filter")
	})
}
