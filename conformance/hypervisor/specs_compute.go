package hypervisor

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"

	. "github.com/onsi/gomega"
	"google.golang.org/grpc/codes"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

func (s *specs) compute() {
	s.it("[HV-CMP-001] CreateInstance MUST schedule onto a READY worker and GetInstance MUST return the same instance", func(ctx context.Context, e *env) {
		region := e.region()
		node := e.readyNode(ctx, region)
		req := e.instanceRequest(ctx, region)
		inst := e.createInstance(ctx, req)
		Expect(inst.GetName()).To(Equal(req.Name))
		Expect(inst.GetType()).To(Equal(req.Type))
		Expect(inst.GetNodeId()).To(Equal(node.GetId()), "the only READY worker in region %s", region)
		Expect(inst.GetSpec().GetCpuCores()).To(Equal(req.Spec.CpuCores), "spec.cpu_cores")
		Expect(inst.GetCreatedAt()).NotTo(BeNil(), "created_at")
		got, err := e.compute.GetInstance(ctx, &hv.GetInstanceRequest{InstanceId: inst.GetId()})
		expectOK(err, "GetInstance")
		Expect(got.GetId()).To(Equal(inst.GetId()))
		Expect(got.GetName()).To(Equal(req.Name))
		Expect(got.GetMetadata().GetLabels()).To(Equal(req.Metadata.Labels), "metadata.labels")
	})

	s.it("[HV-CMP-002] StartInstance, StopInstance and RestartInstance MUST move an instance STOPPED -> RUNNING -> STOPPED, and Restart MUST leave it RUNNING", func(ctx context.Context, e *env) {
		inst, _ := e.stoppedInstance(ctx)
		id := inst.GetId()
		_, err := e.compute.StartInstance(ctx, &hv.StartInstanceRequest{InstanceId: id})
		expectOK(err, "StartInstance of a STOPPED instance")
		running := e.waitState(ctx, id, hv.InstanceState_INSTANCE_STATE_RUNNING)
		Expect(running.GetStartedAt()).NotTo(BeNil(), "started_at MUST be set once RUNNING")
		_, err = e.compute.RestartInstance(ctx, &hv.RestartInstanceRequest{InstanceId: id})
		expectOK(err, "RestartInstance of a RUNNING instance")
		e.waitState(ctx, id, hv.InstanceState_INSTANCE_STATE_RUNNING)
		_, err = e.compute.StopInstance(ctx, &hv.StopInstanceRequest{InstanceId: id, TimeoutSeconds: 5})
		expectOK(err, "StopInstance of a RUNNING instance")
		e.waitState(ctx, id, hv.InstanceState_INSTANCE_STATE_STOPPED)
	})

	s.it("[HV-CMP-003] StartInstance of a RUNNING instance and StopInstance of a STOPPED instance MUST fail with FailedPrecondition", func(ctx context.Context, e *env) {
		inst, _ := e.stoppedInstance(ctx)
		_, err := e.compute.StopInstance(ctx, &hv.StopInstanceRequest{InstanceId: inst.GetId()})
		expectCode(err, codes.FailedPrecondition, "StopInstance of a STOPPED instance")
		_, err = e.compute.StartInstance(ctx, &hv.StartInstanceRequest{InstanceId: inst.GetId()})
		expectOK(err, "StartInstance")
		e.waitState(ctx, inst.GetId(), hv.InstanceState_INSTANCE_STATE_RUNNING)
		_, err = e.compute.StartInstance(ctx, &hv.StartInstanceRequest{InstanceId: inst.GetId()})
		expectCode(err, codes.FailedPrecondition, "StartInstance of a RUNNING instance")
		got, err := e.compute.GetInstance(ctx, &hv.GetInstanceRequest{InstanceId: inst.GetId()})
		expectOK(err, "GetInstance")
		Expect(got.GetState()).To(Equal(hv.InstanceState_INSTANCE_STATE_RUNNING), "a refused transition MUST NOT change the state")
	})

	s.it("[HV-CMP-004] CreateInstance MUST refuse a duplicate name with AlreadyExists", func(ctx context.Context, e *env) {
		region := e.region()
		e.readyNode(ctx, region)
		req := e.instanceRequest(ctx, region)
		e.createInstance(ctx, req)
		again := e.instanceRequest(ctx, region)
		again.Name = req.Name
		inst, err := e.compute.CreateInstance(ctx, again)
		e.deleteInstanceLater(inst.GetId())
		expectCode(err, codes.AlreadyExists, "CreateInstance with the existing name %s", req.Name)
	})

	s.it("[HV-CMP-005] CreateInstance MUST refuse an empty name, no type, zero cpu_cores or zero memory_bytes with InvalidArgument", func(ctx context.Context, e *env) {
		region := e.region()
		e.readyNode(ctx, region)
		c := e.cases("invalid CreateInstance requests")
		for _, tc := range []struct {
			name string
			mut  func(*hv.CreateInstanceRequest)
		}{
			{"empty name", func(r *hv.CreateInstanceRequest) { r.Name = "" }},
			{"type unspecified", func(r *hv.CreateInstanceRequest) { r.Type = hv.InstanceType_INSTANCE_TYPE_UNSPECIFIED }},
			{"cpu_cores 0", func(r *hv.CreateInstanceRequest) { r.Spec.CpuCores = 0 }},
			{"memory_bytes 0", func(r *hv.CreateInstanceRequest) { r.Spec.MemoryBytes = 0 }},
			{"no spec", func(r *hv.CreateInstanceRequest) { r.Spec = nil }},
		} {
			req := e.instanceRequest(ctx, region)
			c.check(tc.name, svcCompute+"CreateInstance", func(g Gomega) {
				tc.mut(req)
				inst, err := e.compute.CreateInstance(ctx, req)
				e.deleteInstanceLater(inst.GetId())
				codeIs(g, err, codes.InvalidArgument, "CreateInstance with %s", tc.name)
			})
		}
		c.done()
	})

	s.it("[HV-CMP-006] CreateInstance MUST fail with ResourceExhausted when no READY worker in the region has room, and MUST NOT change any node's allocation", func(ctx context.Context, e *env) {
		region := e.region()
		node := e.readyNode(ctx, region)
		e.readyNode(ctx, region, func(r *hv.RegisterNodeRequest) { r.Role = hv.NodeRole_NODE_ROLE_MASTER; r.Capacity.CpuCores = 64 })
		req := e.instanceRequest(ctx, region)
		req.Spec.CpuCores = node.GetCapacity().GetCpuCores() + 1
		inst, err := e.compute.CreateInstance(ctx, req)
		e.deleteInstanceLater(inst.GetId())
		expectCode(err, codes.ResourceExhausted, "CreateInstance needing %d cores in a region whose only worker has %d (and a 64-core MASTER)", req.Spec.CpuCores, node.GetCapacity().GetCpuCores())
		after, err := e.cluster.GetNode(ctx, &hv.GetNodeRequest{NodeId: node.GetId()})
		expectOK(err, "GetNode")
		Expect(after.GetAllocated().GetCpuCores()).To(Equal(node.GetAllocated().GetCpuCores()), "a refused CreateInstance MUST NOT allocate cores")
		empty := e.instanceRequest(ctx, e.region())
		inst, err = e.compute.CreateInstance(ctx, empty)
		e.deleteInstanceLater(inst.GetId())
		expectCode(err, codes.ResourceExhausted, "CreateInstance in a region without nodes")
	})

	s.it("[HV-CMP-007] CreateInstance MUST place the instance on preferred_node_id when it fits, and MUST skip nodes that are not READY", func(ctx context.Context, e *env) {
		region := e.region()
		a := e.readyNode(ctx, region)
		b := e.readyNode(ctx, region)
		for _, want := range []*hv.Node{b, a, b} {
			req := e.instanceRequest(ctx, region)
			req.PreferredNodeId = want.GetId()
			inst := e.createInstance(ctx, req)
			Expect(inst.GetNodeId()).To(Equal(want.GetId()), "preferred_node_id %s was not honoured", want.GetId())
		}
		_, err := e.cluster.UpdateNodeStatus(ctx, &hv.UpdateNodeStatusRequest{NodeId: a.GetId(), Status: hv.NodeStatus_NODE_STATUS_MAINTENANCE})
		expectOK(err, "UpdateNodeStatus")
		for range 3 {
			inst := e.createInstance(ctx, e.instanceRequest(ctx, region))
			Expect(inst.GetNodeId()).To(Equal(b.GetId()), "node %s is in MAINTENANCE; only READY nodes may be scheduled onto", a.GetId())
		}
	})

	s.it("[HV-CMP-008] Scheduling MUST account resources: a node's allocated cpu and memory MUST rise by the instance's spec and fall back after DeleteInstance", func(ctx context.Context, e *env) {
		region := e.region()
		node := e.readyNode(ctx, region)
		req := e.instanceRequest(ctx, region)
		req.Spec.CpuCores, req.Spec.MemoryBytes = 3, 2*gib
		inst := e.createInstance(ctx, req)
		during, err := e.cluster.GetNode(ctx, &hv.GetNodeRequest{NodeId: node.GetId()})
		expectOK(err, "GetNode")
		Expect(during.GetAllocated().GetCpuCores()).To(Equal(node.GetAllocated().GetCpuCores()+3), "allocated.cpu_cores after a 3-core instance was scheduled")
		Expect(during.GetAllocated().GetMemoryBytes()).To(Equal(node.GetAllocated().GetMemoryBytes()+2*gib), "allocated.memory_bytes after a 2 GiB instance was scheduled")
		Expect(e.deleteInstance(ctx, inst.GetId())).To(Succeed(), "DeleteInstance")
		after, err := e.cluster.GetNode(ctx, &hv.GetNodeRequest{NodeId: node.GetId()})
		expectOK(err, "GetNode")
		Expect(after.GetAllocated().GetCpuCores()).To(Equal(node.GetAllocated().GetCpuCores()), "allocated.cpu_cores after DeleteInstance")
	})

	s.it("[HV-CMP-009] DeleteInstance MUST remove the instance: GetInstance then returns NotFound", func(ctx context.Context, e *env) {
		inst, _ := e.runningInstance(ctx)
		_, err := e.compute.DeleteInstance(ctx, &hv.DeleteInstanceRequest{InstanceId: inst.GetId(), Force: true})
		expectOK(err, "DeleteInstance force=true of a RUNNING instance")
		e.eventually(ctx, "GetInstance to return NotFound after DeleteInstance of "+inst.GetId(), func(g Gomega) {
			_, err := e.compute.GetInstance(ctx, &hv.GetInstanceRequest{InstanceId: inst.GetId()})
			g.Expect(err).To(HaveOccurred(), "GetInstance after DeleteInstance still returns the instance")
			expectCode(err, codes.NotFound, "GetInstance after DeleteInstance")
		})
	})

	s.it("[HV-CMP-010] GetInstanceStats MUST return stats naming the instance with collected_at set", func(ctx context.Context, e *env) {
		inst, _ := e.runningInstance(ctx)
		st, err := e.compute.GetInstanceStats(ctx, &hv.GetInstanceStatsRequest{InstanceId: inst.GetId()})
		expectOK(err, "GetInstanceStats of a RUNNING instance")
		Expect(st.GetInstanceId()).To(Equal(inst.GetId()), "instance_id")
		Expect(st.GetCollectedAt()).NotTo(BeNil(), "collected_at")
		Expect(st.GetCpuUsagePercent()).To(BeNumerically(">=", 0), "cpu_usage_percent")
		Expect(st.GetMemoryUsedBytes()).To(BeNumerically("<=", inst.GetSpec().GetMemoryBytes()), "memory_used_bytes MUST NOT exceed the instance's memory")
	})

	s.it("[HV-CMP-011] AttachConsole MUST stream console bytes of a RUNNING instance", func(ctx context.Context, e *env) {
		inst, _ := e.runningInstance(ctx)
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := e.compute.AttachConsole(cctx, &hv.AttachConsoleRequest{InstanceId: inst.GetId(), Tty: true, Width: 80, Height: 24})
		expectOK(err, "AttachConsole")
		msg, err := stream.Recv()
		expectOK(err, "AttachConsole first receive")
		Expect(msg.GetData()).NotTo(BeEmpty(), "AttachConsole MUST stream console bytes")
	})

	s.it("[HV-CMP-012] ListImages MUST return a catalogue with ids and names, filtered by type", func(ctx context.Context, e *env) {
		resp, err := e.compute.ListImages(ctx, &hv.ListImagesRequest{PageSize: 100})
		expectOK(err, "ListImages")
		Expect(resp.GetImages()).NotTo(BeEmpty(), "the image catalogue is empty")
		for _, img := range resp.GetImages() {
			Expect(img.GetId()).NotTo(BeEmpty(), "image id")
			Expect(img.GetName()).NotTo(BeEmpty(), "image name")
		}
		typed, err := e.compute.ListImages(ctx, &hv.ListImagesRequest{Type: hv.InstanceType_INSTANCE_TYPE_CONTAINER, PageSize: 100})
		expectOK(err, "ListImages type=CONTAINER")
		for _, img := range typed.GetImages() {
			Expect(img.GetType()).To(Equal(hv.InstanceType_INSTANCE_TYPE_CONTAINER), "image %s returned for a CONTAINER filter", img.GetName())
		}
	})

	s.it("[HV-CMP-013] PullImage MUST stream progress ending in completed with current == total, after which ListImages MUST include the image", func(ctx context.Context, e *env) {
		ref := "registry.example/" + e.name("img") + ":1.0"
		stream, err := e.compute.PullImage(ctx, &hv.PullImageRequest{ImageRef: ref, Type: hv.InstanceType_INSTANCE_TYPE_CONTAINER})
		expectOK(err, "PullImage")
		var last *hv.PullImageProgress
		var n int
		for {
			p, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			expectOK(err, "PullImage receive after %d messages", n)
			Expect(p.GetError()).To(BeEmpty(), "PullImage reported an error")
			if last != nil {
				Expect(p.GetCurrent()).To(BeNumerically(">=", last.GetCurrent()), "progress MUST NOT go backwards")
			}
			last, n = p, n+1
		}
		Expect(last).NotTo(BeNil(), "PullImage sent no progress")
		Expect(last.GetCompleted()).To(BeTrue(), "the last progress message MUST have completed=true")
		Expect(last.GetCurrent()).To(Equal(last.GetTotal()), "the last progress message MUST have current == total")
		resp, err := e.compute.ListImages(ctx, &hv.ListImagesRequest{Type: hv.InstanceType_INSTANCE_TYPE_CONTAINER, PageSize: 100})
		expectOK(err, "ListImages")
		found := false
		for _, img := range resp.GetImages() {
			found = found || strings.Contains(ref, img.GetName()) || img.GetName() == ref || slices.Contains(img.GetTags(), ref)
		}
		Expect(found).To(BeTrue(), "ListImages does not list the pulled image %s", ref)
		bad, err := e.compute.PullImage(ctx, &hv.PullImageRequest{ImageRef: "", Type: hv.InstanceType_INSTANCE_TYPE_CONTAINER})
		if err == nil {
			_, err = bad.Recv()
		}
		expectCode(err, codes.InvalidArgument, "PullImage with an empty image_ref")
	})

	s.it("[HV-CMP-014] ListInstances MUST filter by type, state, node_id and label_selector, alone and combined", func(ctx context.Context, e *env) {
		region := e.region()
		a := e.readyNode(ctx, region)
		b := e.readyNode(ctx, region)
		reqA := e.instanceRequest(ctx, region)
		reqA.PreferredNodeId = a.GetId()
		reqA.Metadata.Labels["pick"] = "me"
		ia := e.createInstance(ctx, reqA)
		reqB := e.instanceRequest(ctx, region)
		reqB.PreferredNodeId = b.GetId()
		reqB.Type = hv.InstanceType_INSTANCE_TYPE_CONTAINER
		reqB.Spec.Image = e.image(ctx, hv.InstanceType_INSTANCE_TYPE_CONTAINER)
		ib := e.createInstance(ctx, reqB)
		e.waitState(ctx, ia.GetId(), hv.InstanceState_INSTANCE_STATE_STOPPED)
		e.waitState(ctx, ib.GetId(), hv.InstanceState_INSTANCE_STATE_STOPPED)
		_, err := e.compute.StartInstance(ctx, &hv.StartInstanceRequest{InstanceId: ib.GetId()})
		expectOK(err, "StartInstance")
		e.waitState(ctx, ib.GetId(), hv.InstanceState_INSTANCE_STATE_RUNNING)
		ids := func(g Gomega, req *hv.ListInstancesRequest) []string {
			sel := map[string]string{"conform": e.prefix}
			for k, v := range req.LabelSelector {
				sel[k] = v
			}
			req.LabelSelector, req.PageSize = sel, 100
			resp, err := e.compute.ListInstances(ctx, req)
			g.Expect(err).NotTo(HaveOccurred(), "ListInstances %v", req)
			var out []string
			for _, i := range resp.GetInstances() {
				if i.GetNodeId() == a.GetId() || i.GetNodeId() == b.GetId() {
					out = append(out, i.GetId())
				}
			}
			return out
		}
		ia2, ib2 := ia.GetId(), ib.GetId()
		const (
			vm        = hv.InstanceType_INSTANCE_TYPE_VM
			container = hv.InstanceType_INSTANCE_TYPE_CONTAINER
			running   = hv.InstanceState_INSTANCE_STATE_RUNNING
			stopped   = hv.InstanceState_INSTANCE_STATE_STOPPED
		)
		pick := map[string]string{"pick": "me"}
		c := e.cases("ListInstances filters")
		for _, tc := range []struct {
			name string
			req  *hv.ListInstancesRequest
			want []string
		}{
			{"label_selector conform=" + e.prefix, &hv.ListInstancesRequest{}, []string{ia2, ib2}},
			{"type=CONTAINER", &hv.ListInstancesRequest{Type: container}, []string{ib2}},
			{"state=RUNNING", &hv.ListInstancesRequest{State: running}, []string{ib2}},
			{"node_id", &hv.ListInstancesRequest{NodeId: a.GetId()}, []string{ia2}},
			{"label_selector pick=me", &hv.ListInstancesRequest{LabelSelector: pick}, []string{ia2}},
			{"type=VM and state=STOPPED", &hv.ListInstancesRequest{Type: vm, State: stopped}, []string{ia2}},
			{"type=VM and state=RUNNING", &hv.ListInstancesRequest{Type: vm, State: running}, nil},
			{"node_id and type=CONTAINER", &hv.ListInstancesRequest{NodeId: b.GetId(), Type: container}, []string{ib2}},
			{"node_id of the VM and state=RUNNING", &hv.ListInstancesRequest{NodeId: a.GetId(), State: running}, nil},
			{"state=STOPPED and label_selector pick=me", &hv.ListInstancesRequest{State: stopped, LabelSelector: pick}, []string{ia2}},
			{"type=CONTAINER and label_selector pick=me", &hv.ListInstancesRequest{Type: container, LabelSelector: pick}, nil},
		} {
			c.check(tc.name, svcCompute+"ListInstances", func(g Gomega) {
				got := ids(g, tc.req)
				if tc.want == nil {
					g.Expect(got).To(BeEmpty(), "ListInstances with %s", tc.name)
					return
				}
				g.Expect(got).To(ConsistOf(tc.want), "ListInstances with %s", tc.name)
			})
		}
		c.done()
	})
}
