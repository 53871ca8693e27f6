package hypervisor

import (
	"context"
	"fmt"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

const gib = int64(1) << 30

// pollInterval is how often cleanup polls for an object to disappear.
const pollInterval = 5 * time.Millisecond

// Full method name prefixes of the five services.
const (
	svcCluster = "/hypervisor.v1.ClusterService/"
	svcCompute = "/hypervisor.v1.ComputeService/"
	svcAgent   = "/hypervisor.v1.AgentService/"
	svcNetwork = "/hypervisor.v1.NetworkService/"
	svcStorage = "/hypervisor.v1.StorageService/"
)

// nodeRequest is a valid RegisterNode request for a READY-able worker with
// 8 cores and 32 GiB in region, with a run-unique hostname, at the suite's
// node agent (so a control plane that dials its nodes reaches one).
func (e *env) nodeRequest(region string) *hv.RegisterNodeRequest {
	return &hv.RegisterNodeRequest{
		Hostname:               e.name("host"),
		Ip:                     e.st.node.host,
		Port:                   e.st.node.port,
		Role:                   hv.NodeRole_NODE_ROLE_WORKER,
		Region:                 region,
		Zone:                   region + "-a",
		Capacity:               &hv.Resources{CpuCores: 8, MemoryBytes: 32 * gib, DiskBytes: 500 * gib},
		Metadata:               &hv.Metadata{Labels: map[string]string{"conform": e.prefix}},
		SupportedInstanceTypes: slices.Clone(e.cfg.instanceTypes()),
	}
}

// registerNode registers req, records its deregistration and returns the node
// as GetNode shows it.
func (e *env) registerNode(ctx context.Context, req *hv.RegisterNodeRequest) *hv.Node {
	GinkgoHelper()
	e.need(svcCluster+"DeregisterNode", svcCluster+"GetNode")
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
	if err != nil || len(resp.GetImages()) == 0 {
		// HV-CMP-012 checks the catalogue; here it is only a precondition.
		Skip(fmt.Sprintf("precondition not met: ListImages type=%s offers no image (%v)", t, err))
	}
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
	e.need(svcCompute+"DeleteInstance", svcCompute+"GetInstance")
	inst, err := e.compute.CreateInstance(ctx, req)
	expectOK(err, "CreateInstance %s", req.GetName())
	Expect(inst.GetId()).NotTo(BeEmpty(), "CreateInstance returned an empty id")
	e.deleteInstanceLater(inst.GetId())
	return inst
}

// deleteInstanceLater records the deletion of an instance a call created,
// also when the spec expected the call to be refused.
func (e *env) deleteInstanceLater(id string) {
	if id == "" {
		return
	}
	e.res.add("instance "+id, func(ctx context.Context) error { return e.deleteInstance(ctx, id) })
}

// deleteInstance force-deletes id and waits until GetInstance says NotFound.
func (e *env) deleteInstance(ctx context.Context, id string) error {
	if _, err := e.compute.DeleteInstance(ctx, &hv.DeleteInstanceRequest{InstanceId: id, Force: true}); err != nil {
		return err
	}
	t := time.NewTicker(pollInterval)
	defer t.Stop()
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
		case <-t.C:
		}
	}
}

// waitState polls GetInstance until the instance is in state.
func (e *env) waitState(ctx context.Context, id string, state hv.InstanceState) *hv.Instance {
	GinkgoHelper()
	var last *hv.Instance
	e.eventually(ctx, fmt.Sprintf("instance %s to reach %s", id, state), func(g Gomega) {
		inst, err := e.compute.GetInstance(ctx, &hv.GetInstanceRequest{InstanceId: id})
		g.Expect(err).NotTo(HaveOccurred(), "GetInstance %s", id)
		last = inst
		g.Expect(inst.GetState()).To(Equal(state), "instance %s is %s (reason %q); expected it to reach %s", id, inst.GetState(), inst.GetStateReason(), state)
	})
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
