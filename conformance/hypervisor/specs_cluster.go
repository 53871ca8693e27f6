package hypervisor

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/emptypb"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// deregisterLater records the deregistration of a node a call registered,
// also when the spec expected the call to be refused.
func (e *env) deregisterLater(id string) {
	if id == "" {
		return
	}
	e.res.add("node "+id, func(ctx context.Context) error {
		_, err := e.cluster.DeregisterNode(ctx, &hv.DeregisterNodeRequest{NodeId: id})
		return err
	})
}

func (s *specs) cluster() {
	s.it("[HV-CLU-001] RegisterNode MUST return a node_id, heartbeat interval and lease TTL, and GetNode MUST return the registered fields", func(ctx context.Context, e *env) {
		e.need(svcCluster + "DeregisterNode")
		req := e.nodeRequest(e.region())
		resp, err := e.cluster.RegisterNode(ctx, req)
		expectOK(err, "RegisterNode")
		e.deregisterLater(resp.GetNodeId())
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

	s.it("[HV-CLU-002] RegisterNode SHOULD refuse a second node with the same hostname with AlreadyExists (a documented convention of the API doc, not a wire rule)", func(ctx context.Context, e *env) {
		req := e.nodeRequest(e.region())
		e.registerNode(ctx, req)
		again := e.nodeRequest(req.Region)
		again.Hostname = req.Hostname
		resp, err := e.cluster.RegisterNode(ctx, again)
		e.deregisterLater(resp.GetNodeId())
		expectCode(err, codes.AlreadyExists, "RegisterNode with the hostname %s already registered", req.Hostname)
	})

	s.it("[HV-CLU-003] RegisterNode MUST refuse a missing hostname, a bad ip or port, or no role with InvalidArgument", func(ctx context.Context, e *env) {
		e.need(svcCluster + "DeregisterNode")
		c := e.cases("invalid RegisterNode requests")
		for _, tc := range []struct {
			name string
			mut  func(*hv.RegisterNodeRequest)
		}{
			{"empty hostname", func(r *hv.RegisterNodeRequest) { r.Hostname = "" }},
			{"ip not an IP", func(r *hv.RegisterNodeRequest) { r.Ip = "not-an-ip" }},
			{"port 0", func(r *hv.RegisterNodeRequest) { r.Port = 0 }},
			{"port 70000", func(r *hv.RegisterNodeRequest) { r.Port = 70000 }},
			{"role unspecified", func(r *hv.RegisterNodeRequest) { r.Role = hv.NodeRole_NODE_ROLE_UNSPECIFIED }},
		} {
			c.check(tc.name, svcCluster+"RegisterNode", func(g Gomega) {
				req := e.nodeRequest(e.region())
				tc.mut(req)
				resp, err := e.cluster.RegisterNode(ctx, req)
				e.deregisterLater(resp.GetNodeId())
				codeIs(g, err, codes.InvalidArgument, "RegisterNode with %s", tc.name)
			})
		}
		c.done()
	})

	s.it("[HV-CLU-004] DeregisterNode MUST remove the node so GetNode returns NotFound", func(ctx context.Context, e *env) {
		n := e.registerNode(ctx, e.nodeRequest(e.region()))
		_, err := e.cluster.DeregisterNode(ctx, &hv.DeregisterNodeRequest{NodeId: n.GetId()})
		expectOK(err, "DeregisterNode")
		_, err = e.cluster.GetNode(ctx, &hv.GetNodeRequest{NodeId: n.GetId()})
		expectCode(err, codes.NotFound, "GetNode after DeregisterNode")
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

	s.itLease("[HV-CLU-006] Heartbeat MUST be accepted for a registered node with a positive next interval and MUST renew its lease (a node that heartbeats stays READY past lease_ttl_seconds), and MUST NOT be accepted for an unknown node", func(ctx context.Context, e *env) {
		n, lease := e.leaseNode(ctx)
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
		lease.skipUnlessCheckable(e, 2)
		lease.renew(ctx, e, n.GetId(), 2*lease.ttl)
	})

	s.it("[HV-CLU-007] GetClusterInfo MUST name the cluster and count the registered and READY nodes and their capacity", func(ctx context.Context, e *env) {
		before, err := e.cluster.GetClusterInfo(ctx, &emptypb.Empty{})
		expectOK(err, "GetClusterInfo")
		Expect(before.GetClusterName()).NotTo(BeEmpty(), "cluster_name")
		n := e.readyNode(ctx, e.region())
		// Other clients may register and remove nodes at the same time, so
		// counts are checked against membership, not before+1.
		after, err := e.cluster.GetClusterInfo(ctx, &emptypb.Empty{})
		expectOK(err, "GetClusterInfo")
		Expect(after.GetTotalNodes()).To(BeNumerically(">=", 1), "total_nodes while node %s is registered", n.GetId())
		Expect(after.GetReadyNodes()).To(BeNumerically(">=", 1), "ready_nodes while node %s is READY", n.GetId())
		Expect(after.GetReadyNodes()).To(BeNumerically("<=", after.GetTotalNodes()), "ready_nodes MUST NOT exceed total_nodes")
		Expect(after.GetTotalCapacity().GetCpuCores()).To(BeNumerically(">=", n.GetCapacity().GetCpuCores()), "total_capacity.cpu_cores MUST include the node's %d cores", n.GetCapacity().GetCpuCores())
		Expect(after.GetTotalCapacity().GetMemoryBytes()).To(BeNumerically(">=", n.GetCapacity().GetMemoryBytes()), "total_capacity.memory_bytes MUST include the node's memory")
	})

	s.it("[HV-CLU-008] ListNodes MUST filter by role, status, region, zone and label_selector, alone and combined", func(ctx context.Context, e *env) {
		region := e.region()
		worker := e.readyNode(ctx, region)
		master := e.readyNode(ctx, region, func(r *hv.RegisterNodeRequest) {
			r.Role = hv.NodeRole_NODE_ROLE_MASTER
			r.Zone = region + "-b"
			r.Metadata.Labels["tier"] = "control"
		})
		drainingWorker := e.readyNode(ctx, region, func(r *hv.RegisterNodeRequest) { r.Metadata.Labels["tier"] = "control" })
		for _, id := range []string{master.GetId(), drainingWorker.GetId()} {
			_, err := e.cluster.UpdateNodeStatus(ctx, &hv.UpdateNodeStatusRequest{NodeId: id, Status: hv.NodeStatus_NODE_STATUS_DRAINING})
			expectOK(err, "UpdateNodeStatus to DRAINING")
		}
		w, m, d := worker.GetId(), master.GetId(), drainingWorker.GetId()
		const (
			worker_ = hv.NodeRole_NODE_ROLE_WORKER
			master_ = hv.NodeRole_NODE_ROLE_MASTER
			drain   = hv.NodeStatus_NODE_STATUS_DRAINING
			ready   = hv.NodeStatus_NODE_STATUS_READY
		)
		control := map[string]string{"tier": "control"}
		c := e.cases("ListNodes filters")
		for _, tc := range []struct {
			name string
			req  *hv.ListNodesRequest
			want []string
		}{
			{"region", &hv.ListNodesRequest{}, []string{w, m, d}},
			{"role=WORKER", &hv.ListNodesRequest{Role: worker_}, []string{w, d}},
			{"status=DRAINING", &hv.ListNodesRequest{Status: drain}, []string{m, d}},
			{"zone", &hv.ListNodesRequest{Zone: region + "-b"}, []string{m}},
			{"label_selector", &hv.ListNodesRequest{LabelSelector: control}, []string{m, d}},
			{"role=WORKER and status=DRAINING", &hv.ListNodesRequest{Role: worker_, Status: drain}, []string{d}},
			{"role=WORKER and status=READY", &hv.ListNodesRequest{Role: worker_, Status: ready}, []string{w}},
			{"role=MASTER and label_selector", &hv.ListNodesRequest{Role: master_, LabelSelector: control}, []string{m}},
			{"zone and role=WORKER", &hv.ListNodesRequest{Zone: region + "-a", Role: worker_}, []string{w, d}},
			{"status=DRAINING, zone and label_selector", &hv.ListNodesRequest{Status: drain, Zone: region + "-a", LabelSelector: control}, []string{d}},
			{"role=MASTER and zone with no master", &hv.ListNodesRequest{Role: master_, Zone: region + "-a"}, nil},
		} {
			c.check(tc.name, svcCluster+"ListNodes", func(g Gomega) {
				tc.req.Region, tc.req.PageSize = region, 100
				resp, err := e.cluster.ListNodes(ctx, tc.req)
				g.Expect(err).NotTo(HaveOccurred(), "ListNodes with %s", tc.name)
				var got []string
				for _, n := range resp.GetNodes() {
					got = append(got, n.GetId())
				}
				if tc.want == nil {
					g.Expect(got).To(BeEmpty(), "ListNodes with %s", tc.name)
					return
				}
				g.Expect(got).To(ConsistOf(tc.want), "ListNodes with %s", tc.name)
			})
		}
		c.done()
	})

	s.itLease("[HV-CLU-009] A node whose lease lapses (no Heartbeat for lease_ttl_seconds) MUST leave READY", func(ctx context.Context, e *env) {
		n, lease := e.leaseNode(ctx)
		lease.skipUnlessCheckable(e, 1)
		lease.expire(ctx, e, n.GetId())
	})
}

// lease is what RegisterNode granted a node.
type lease struct {
	ttl, interval time.Duration
}

// leaseNode registers a READY node in a fresh region and returns it with its lease.
func (e *env) leaseNode(ctx context.Context) (*hv.Node, lease) {
	GinkgoHelper()
	e.need(svcCluster+"DeregisterNode", svcCluster+"GetNode", svcCluster+"Heartbeat")
	resp, err := e.cluster.RegisterNode(ctx, e.nodeRequest(e.region()))
	expectOK(err, "RegisterNode")
	e.deregisterLater(resp.GetNodeId())
	l := lease{ttl: time.Duration(resp.GetLeaseTtlSeconds()) * time.Second, interval: time.Duration(resp.GetHeartbeatIntervalSeconds()) * time.Second}
	Expect(l.ttl).To(BeNumerically(">", 0), "lease_ttl_seconds MUST be positive")
	n, err := e.cluster.GetNode(ctx, &hv.GetNodeRequest{NodeId: resp.GetNodeId()})
	expectOK(err, "GetNode of the node just registered")
	return n, l
}

// skipUnlessCheckable skips the spec when, without a ServerClock, ttls
// lease TTLs plus the expiry allowance do not fit in LeaseWait.
func (l lease) skipUnlessCheckable(e *env, ttls int) {
	if e.cfg.ServerClock != nil {
		return
	}
	need := time.Duration(ttls)*l.ttl + l.expiryAllowance()
	if need > e.cfg.leaseWait() {
		Skip(fmt.Sprintf("precondition not met: checking the lease takes %s of real time (lease_ttl_seconds %d) and LeaseWait is %s; raise --lease-wait or give the suite a ServerClock",
			need, int(l.ttl.Seconds()), e.cfg.leaseWait()))
	}
}

// expiryAllowance is how late after its TTL a lapsed lease may be noticed.
func (l lease) expiryAllowance() time.Duration { return max(l.ttl/2, time.Second) }

// beat is the heartbeat period the suite keeps: the server's interval, and
// at least three per TTL.
func (l lease) beat() time.Duration {
	b := l.ttl / 3
	if l.interval > 0 && l.interval < b {
		b = l.interval
	}
	return max(b, 10*time.Millisecond)
}

// advance moves time by d: the ServerClock, or real time.
func advance(ctx context.Context, e *env, d time.Duration) {
	GinkgoHelper()
	if e.cfg.ServerClock != nil {
		Expect(e.cfg.ServerClock.Advance(ctx, d)).To(Succeed(), "advance the server's clock by %s", d)
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		Fail(fmt.Sprintf("the spec ended while waiting %s of lease time: %v", d, ctx.Err()))
	}
}

// renew heartbeats node every beat for span and checks after each beat that
// the node is still READY: its lease was renewed.
func (l lease) renew(ctx context.Context, e *env, id string, span time.Duration) {
	GinkgoHelper()
	done := e.rec.about(svcCluster + "Heartbeat")
	for elapsed := time.Duration(0); elapsed < span; {
		step := l.beat()
		advance(ctx, e, step)
		elapsed += step
		resp, err := e.cluster.Heartbeat(ctx, &hv.HeartbeatRequest{NodeId: id, Status: hv.NodeStatus_NODE_STATUS_READY})
		Expect(err).NotTo(HaveOccurred(), "Heartbeat %s after registering, with a lease_ttl of %s", elapsed, l.ttl)
		Expect(resp.GetAccepted()).To(BeTrue(), "Heartbeat %s after registering was not accepted, with a lease_ttl of %s: the lease was not renewed", elapsed, l.ttl)
		n, err := e.cluster.GetNode(ctx, &hv.GetNodeRequest{NodeId: id})
		Expect(err).NotTo(HaveOccurred(), "GetNode %s after registering, heartbeating every %s with a lease_ttl of %s: the lease was not renewed", elapsed, step, l.ttl)
		Expect(n.GetStatus()).To(Equal(hv.NodeStatus_NODE_STATUS_READY),
			"node %s is %s %s after registering although it heartbeat every %s with a lease_ttl of %s: Heartbeat MUST renew the lease", id, n.GetStatus(), elapsed, step, l.ttl)
	}
	done()
}

// expire stops heartbeating and waits for the node to leave READY (or be
// removed) within the TTL plus the expiry allowance.
func (l lease) expire(ctx context.Context, e *env, id string) {
	GinkgoHelper()
	done := e.rec.about(svcCluster + "Heartbeat")
	allowance := l.expiryAllowance()
	advance(ctx, e, l.ttl)
	step := 20 * time.Millisecond
	if e.cfg.ServerClock != nil {
		step = allowance / 10
	}
	start := time.Now()
	for waited := time.Duration(0); ; {
		n, err := e.cluster.GetNode(ctx, &hv.GetNodeRequest{NodeId: id})
		if err != nil {
			expectCode(err, codes.NotFound, "GetNode of a node whose lease lapsed")
			break
		}
		if n.GetStatus() != hv.NodeStatus_NODE_STATUS_READY {
			break
		}
		if waited >= allowance {
			Fail(fmt.Sprintf("node %s is still READY %s after its last heartbeat with lease_ttl_seconds %d: a lapsed lease MUST take the node out of READY",
				id, l.ttl+waited, int(l.ttl.Seconds())))
		}
		advance(ctx, e, step)
		if e.cfg.ServerClock != nil {
			waited += step
		} else {
			waited = time.Since(start)
		}
	}
	done()
}
