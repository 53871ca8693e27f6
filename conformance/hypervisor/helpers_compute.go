package hypervisor

import (
	"context"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

const gib = int64(1) << 30

// allTypes is what spec-registered nodes advertise in supported_instance_types.
var allTypes = []string{"INSTANCE_TYPE_VM", "INSTANCE_TYPE_CONTAINER", "INSTANCE_TYPE_MICROVM"}

// nodeRequest is a valid RegisterNode request for a READY-able worker with
// 8 cores and 32 GiB in region, with a unique hostname and IP.
func (e *env) nodeRequest(region string) *hv.RegisterNodeRequest {
	n := e.next()
	return &hv.RegisterNodeRequest{
		Hostname:               e.name("host"),
		Ip:                     fmt.Sprintf("10.%d.%d.%d", 100+n/62500%100, n/250%250, n%250+1),
		Port:                   7000,
		Role:                   hv.NodeRole_NODE_ROLE_WORKER,
		Region:                 region,
		Zone:                   region + "-a",
		Capacity:               &hv.Resources{CpuCores: 8, MemoryBytes: 32 * gib, DiskBytes: 500 * gib},
		Metadata:               &hv.Metadata{Labels: map[string]string{"conform": e.prefix}},
		SupportedInstanceTypes: allTypes,
	}
}

// registerNode registers req, records its deregistration and returns the node
// as GetNode shows it.
func (e *env) registerNode(ctx context.Context, req *hv.RegisterNodeRequest) *hv.Node {
	GinkgoHelper()
	resp, err := e.cluster.RegisterNode(ctx, req)
	expectOK(err, "RegisterNode %s", req.GetHostname())
	id := resp.GetNodeId()
	Expect(id).NotTo(BeEmpty(), "RegisterNode returned an empty node_id")
	e.res.add("node "+id, func(ctx context.Context) error {
		_, err := e.cluster.DeregisterNode(ctx, &hv.DeregisterNodeRequest{NodeId: id})
		return err
	})
	n, err := e.cluster.GetNode(ctx, &hv.GetNodeRequest{NodeId: id})
	expectOK(err, "GetNode of the node just registered")
	return n
}

// readyNode registers a worker in region and makes sure it is READY.
func (e *env) readyNode(ctx context.Context, region string, mut ...func(*hv.RegisterNodeRequest)) *hv.Node {
	GinkgoHelper()
	req := e.nodeRequest(region)
	for _, m := range mut {
		m(req)
	}
	n := e.registerNode(ctx, req)
	if n.GetStatus() != hv.NodeStatus_NODE_STATUS_READY {
		var err error
		n, err = e.cluster.UpdateNodeStatus(ctx, &hv.UpdateNodeStatusRequest{NodeId: n.GetId(), Status: hv.NodeStatus_NODE_STATUS_READY})
		expectOK(err, "UpdateNodeStatus to READY")
	}
	return n
}

// region returns a region name no other spec uses, so scheduling and
// filters only see this spec's nodes.
func (e *env) region() string { return e.name("region") }

// image returns the name of a catalogue image of type t.
func (e *env) image(ctx context.Context, t hv.InstanceType) string {
	GinkgoHelper()
	resp, err := e.compute.ListImages(ctx, &hv.ListImagesRequest{Type: t, PageSize: 100})
	expectOK(err, "ListImages type=%s", t)
	Expect(resp.GetImages()).NotTo(BeEmpty(), "ListImages type=%s returned no image; the catalogue MUST offer one per type", t)
	return resp.GetImages()[0].GetName()
}

// instanceRequest is a valid CreateInstance request for a 1-core 1 GiB VM in region.
func (e *env) instanceRequest(ctx context.Context, region string) *hv.CreateInstanceRequest {
	GinkgoHelper()
	return &hv.CreateInstanceRequest{
		Name:     e.name("inst"),
		Type:     hv.InstanceType_INSTANCE_TYPE_VM,
		Spec:     &hv.InstanceSpec{Image: e.image(ctx, hv.InstanceType_INSTANCE_TYPE_VM), CpuCores: 1, MemoryBytes: gib},
		Metadata: &hv.Metadata{Labels: map[string]string{"conform": e.prefix}},
		Region:   region,
	}
}

// createInstance creates req and records a forced delete that waits until
// the instance is gone.
func (e *env) createInstance(ctx context.Context, req *hv.CreateInstanceRequest) *hv.Instance {
	GinkgoHelper()
	inst, err := e.compute.CreateInstance(ctx, req)
	expectOK(err, "CreateInstance %s", req.GetName())
	Expect(inst.GetId()).NotTo(BeEmpty(), "CreateInstance returned an empty id")
	id := inst.GetId()
	e.res.add("instance "+id, func(ctx context.Context) error { return e.deleteInstance(ctx, id) })
	return inst
}

// deleteInstance force-deletes id and waits until GetInstance says NotFound.
func (e *env) deleteInstance(ctx context.Context, id string) error {
	if _, err := e.compute.DeleteInstance(ctx, &hv.DeleteInstanceRequest{InstanceId: id, Force: true}); err != nil {
		return err
	}
	for {
		_, err := e.compute.GetInstance(ctx, &hv.GetInstanceRequest{InstanceId: id})
		if status.Code(err) == codes.NotFound {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("instance %s still present after delete: %w", id, ctx.Err())
		case <-tick():
		}
	}
}

// waitState polls GetInstance until the instance is in state.
func (e *env) waitState(ctx context.Context, id string, state hv.InstanceState) *hv.Instance {
	GinkgoHelper()
	var last *hv.Instance
	eventually(ctx, func(g Gomega) {
		inst, err := e.compute.GetInstance(ctx, &hv.GetInstanceRequest{InstanceId: id})
		g.Expect(err).NotTo(HaveOccurred(), "GetInstance %s", id)
		last = inst
		g.Expect(inst.GetState()).To(Equal(state), "instance %s is %s (reason %q); expected it to reach %s", id, inst.GetState(), inst.GetStateReason(), state)
	}).Should(Succeed())
	return last
}

// stoppedInstance schedules a VM onto a fresh READY node in a fresh region
// and waits until it is STOPPED (created, not started).
func (e *env) stoppedInstance(ctx context.Context) (*hv.Instance, *hv.Node) {
	GinkgoHelper()
	region := e.region()
	node := e.readyNode(ctx, region)
	inst := e.createInstance(ctx, e.instanceRequest(ctx, region))
	return e.waitState(ctx, inst.GetId(), hv.InstanceState_INSTANCE_STATE_STOPPED), node
}

// runningInstance is stoppedInstance followed by StartInstance.
func (e *env) runningInstance(ctx context.Context) (*hv.Instance, *hv.Node) {
	GinkgoHelper()
	inst, node := e.stoppedInstance(ctx)
	_, err := e.compute.StartInstance(ctx, &hv.StartInstanceRequest{InstanceId: inst.GetId()})
	expectOK(err, "StartInstance of a STOPPED instance")
	return e.waitState(ctx, inst.GetId(), hv.InstanceState_INSTANCE_STATE_RUNNING), node
}
