package hypervisor

import (
	"context"

	. "github.com/onsi/gomega"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

func (s *specs) errors() {
	s.it("[HV-ERR-001] Get and Delete of an unknown id MUST return NotFound for every object kind", func(ctx context.Context, e *env) {
		id := e.name("missing")
		c := e.cases("calls with an unknown id")
		for _, tc := range []struct {
			name, method string
			call         func() error
		}{
			{"GetNode", svcCluster + "GetNode", func() error { _, err := e.cluster.GetNode(ctx, &hv.GetNodeRequest{NodeId: id}); return err }},
			{"DeregisterNode", svcCluster + "DeregisterNode", func() error {
				_, err := e.cluster.DeregisterNode(ctx, &hv.DeregisterNodeRequest{NodeId: id})
				return err
			}},
			{"GetInstance", svcCompute + "GetInstance", func() error {
				_, err := e.compute.GetInstance(ctx, &hv.GetInstanceRequest{InstanceId: id})
				return err
			}},
			{"DeleteInstance", svcCompute + "DeleteInstance", func() error {
				_, err := e.compute.DeleteInstance(ctx, &hv.DeleteInstanceRequest{InstanceId: id})
				return err
			}},
			{"StartInstance", svcCompute + "StartInstance", func() error {
				_, err := e.compute.StartInstance(ctx, &hv.StartInstanceRequest{InstanceId: id})
				return err
			}},
			{"GetInstanceStats", svcCompute + "GetInstanceStats", func() error {
				_, err := e.compute.GetInstanceStats(ctx, &hv.GetInstanceStatsRequest{InstanceId: id})
				return err
			}},
			{"AgentService.GetInstance", svcAgent + "GetInstance", func() error {
				_, err := e.agent.GetInstance(ctx, &hv.AgentInstanceRequest{InstanceId: id})
				return err
			}},
			{"GetNetwork", svcNetwork + "GetNetwork", func() error {
				_, err := e.network.GetNetwork(ctx, &hv.GetNetworkRequest{NetworkId: id})
				return err
			}},
			{"DeleteNetwork", svcNetwork + "DeleteNetwork", func() error {
				_, err := e.network.DeleteNetwork(ctx, &hv.DeleteNetworkRequest{NetworkId: id})
				return err
			}},
			{"GetSubnet", svcNetwork + "GetSubnet", func() error { _, err := e.network.GetSubnet(ctx, &hv.GetSubnetRequest{SubnetId: id}); return err }},
			{"GetPort", svcNetwork + "GetPort", func() error { _, err := e.network.GetPort(ctx, &hv.GetPortRequest{PortId: id}); return err }},
			{"GetSecurityGroup", svcNetwork + "GetSecurityGroup", func() error {
				_, err := e.network.GetSecurityGroup(ctx, &hv.GetSecurityGroupRequest{SecurityGroupId: id})
				return err
			}},
			{"GetRouter", svcNetwork + "GetRouter", func() error { _, err := e.network.GetRouter(ctx, &hv.GetRouterRequest{RouterId: id}); return err }},
			{"DeleteFloatingIP", svcNetwork + "DeleteFloatingIP", func() error {
				_, err := e.network.DeleteFloatingIP(ctx, &hv.DeleteFloatingIPRequest{FloatingIpId: id})
				return err
			}},
			{"GetVolume", svcStorage + "GetVolume", func() error { _, err := e.storage.GetVolume(ctx, &hv.GetVolumeRequest{VolumeId: id}); return err }},
			{"DeleteVolume", svcStorage + "DeleteVolume", func() error {
				_, err := e.storage.DeleteVolume(ctx, &hv.DeleteVolumeRequest{VolumeId: id})
				return err
			}},
			{"GetSnapshot", svcStorage + "GetSnapshot", func() error {
				_, err := e.storage.GetSnapshot(ctx, &hv.GetSnapshotRequest{SnapshotId: id})
				return err
			}},
			{"DeleteSnapshot", svcStorage + "DeleteSnapshot", func() error {
				_, err := e.storage.DeleteSnapshot(ctx, &hv.DeleteSnapshotRequest{SnapshotId: id})
				return err
			}},
		} {
			c.check(tc.name, tc.method, func(g Gomega) { codeIs(g, tc.call(), codes.NotFound, "%s of unknown id %s", tc.name, id) })
		}
		c.done()
	})

	s.it("[HV-ERR-002] A refused CreateInstance MUST NOT change state: no instance appears and total_count is unchanged", func(ctx context.Context, e *env) {
		region := e.region()
		node := e.readyNode(ctx, region)
		sel := map[string]string{"conform": e.prefix}
		before, err := e.compute.ListInstances(ctx, &hv.ListInstancesRequest{LabelSelector: sel})
		expectOK(err, "ListInstances")
		req := e.instanceRequest(ctx, region)
		req.Spec.CpuCores = node.GetCapacity().GetCpuCores() * 10
		inst, err := e.compute.CreateInstance(ctx, req)
		e.deleteInstanceLater(inst.GetId())
		expectCode(err, codes.ResourceExhausted, "CreateInstance needing 10x the region's capacity")
		bad := e.instanceRequest(ctx, region)
		bad.Spec.MemoryBytes = -1
		inst, err = e.compute.CreateInstance(ctx, bad)
		e.deleteInstanceLater(inst.GetId())
		expectCode(err, codes.InvalidArgument, "CreateInstance with memory_bytes -1")
		after, err := e.compute.ListInstances(ctx, &hv.ListInstancesRequest{LabelSelector: sel})
		expectOK(err, "ListInstances")
		Expect(after.GetTotalCount()).To(Equal(before.GetTotalCount()), "total_count after two refused CreateInstance calls")
		Expect(after.GetInstances()).To(HaveLen(len(before.GetInstances())), "instances after two refused CreateInstance calls")
	})

	s.it("[HV-ERR-003] Empty ids MUST be refused with InvalidArgument or NotFound, never accepted", func(ctx context.Context, e *env) {
		c := e.cases("calls with an empty id")
		for _, tc := range []struct {
			name, method string
			call         func() error
		}{
			{"GetNode", svcCluster + "GetNode", func() error { _, err := e.cluster.GetNode(ctx, &hv.GetNodeRequest{}); return err }},
			{"GetInstance", svcCompute + "GetInstance", func() error { _, err := e.compute.GetInstance(ctx, &hv.GetInstanceRequest{}); return err }},
			{"GetNetwork", svcNetwork + "GetNetwork", func() error { _, err := e.network.GetNetwork(ctx, &hv.GetNetworkRequest{}); return err }},
			{"GetVolume", svcStorage + "GetVolume", func() error { _, err := e.storage.GetVolume(ctx, &hv.GetVolumeRequest{}); return err }},
			{"AllocateIP", svcNetwork + "AllocateIP", func() error { _, err := e.network.AllocateIP(ctx, &hv.AllocateIPRequest{}); return err }},
		} {
			c.check(tc.name, tc.method, func(g Gomega) {
				err := tc.call()
				g.Expect(grpcstatus.Code(err)).To(BeElementOf(codes.InvalidArgument, codes.NotFound), "%s with an empty id returned %v; the contract says InvalidArgument (or NotFound)", tc.name, err)
			})
		}
		c.done()
	})

	s.it("[HV-ERR-004] Repeating a read MUST be idempotent: GetNode, GetInstance and GetVolume twice MUST return the same object", func(ctx context.Context, e *env) {
		inst, node := e.stoppedInstance(ctx)
		v := e.createVolume(ctx)
		for range 2 {
			n, err := e.cluster.GetNode(ctx, &hv.GetNodeRequest{NodeId: node.GetId()})
			expectOK(err, "GetNode")
			Expect(n.GetHostname()).To(Equal(node.GetHostname()))
			i, err := e.compute.GetInstance(ctx, &hv.GetInstanceRequest{InstanceId: inst.GetId()})
			expectOK(err, "GetInstance")
			Expect(i.GetState()).To(Equal(inst.GetState()))
			Expect(i.GetNodeId()).To(Equal(inst.GetNodeId()))
			got, err := e.storage.GetVolume(ctx, &hv.GetVolumeRequest{VolumeId: v.GetId()})
			expectOK(err, "GetVolume")
			Expect(got.GetName()).To(Equal(v.GetName()))
		}
	})
}
