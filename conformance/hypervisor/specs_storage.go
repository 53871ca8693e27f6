package hypervisor

import (
	"context"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/grpc/codes"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// createVolume creates a 1 GiB SSD volume labelled for this run (after mut),
// waits until it is AVAILABLE and records a forced delete.
func (e *env) createVolume(ctx context.Context, mut ...func(*hv.CreateVolumeRequest)) *hv.Volume {
	GinkgoHelper()
	req := &hv.CreateVolumeRequest{Name: e.name("vol"), SizeBytes: gib, Type: hv.VolumeType_VOLUME_TYPE_SSD, TenantId: e.prefix,
		Metadata: &hv.Metadata{Labels: map[string]string{"conform": e.prefix}}}
	for _, m := range mut {
		m(req)
	}
	e.need(svcStorage+"DeleteVolume", svcStorage+"GetVolume")
	v, err := e.storage.CreateVolume(ctx, req)
	expectOK(err, "CreateVolume %s", req.Name)
	id := v.GetId()
	Expect(id).NotTo(BeEmpty(), "CreateVolume returned no id")
	e.deleteVolumeLater(id)
	return e.waitVolume(ctx, id, hv.VolumeStatus_VOLUME_STATUS_AVAILABLE)
}

// deleteVolumeLater records the forced deletion of a volume a call created,
// also when the spec expected the call to be refused.
func (e *env) deleteVolumeLater(id string) {
	if id == "" {
		return
	}
	e.res.add("volume "+id, func(ctx context.Context) error {
		_, err := e.storage.DeleteVolume(ctx, &hv.DeleteVolumeRequest{VolumeId: id, Force: true})
		return err
	})
}

func (e *env) waitVolume(ctx context.Context, id string, st hv.VolumeStatus) *hv.Volume {
	GinkgoHelper()
	var last *hv.Volume
	e.eventually(ctx, fmt.Sprintf("volume %s to reach %s", id, st), func(g Gomega) {
		v, err := e.storage.GetVolume(ctx, &hv.GetVolumeRequest{VolumeId: id})
		g.Expect(err).NotTo(HaveOccurred(), "GetVolume %s", id)
		last = v
		g.Expect(v.GetStatus()).To(Equal(st), "volume %s is %s; expected %s", id, v.GetStatus(), st)
	})
	return last
}

// createSnapshot snapshots volume, waits until AVAILABLE and records its deletion.
func (e *env) createSnapshot(ctx context.Context, volume string) *hv.Snapshot {
	GinkgoHelper()
	e.need(svcStorage+"DeleteSnapshot", svcStorage+"GetSnapshot")
	snap, err := e.storage.CreateSnapshot(ctx, &hv.CreateSnapshotRequest{Name: e.name("snap"), VolumeId: volume, TenantId: e.prefix,
		Metadata: &hv.Metadata{Labels: map[string]string{"conform": e.prefix}}})
	expectOK(err, "CreateSnapshot of %s", volume)
	id := snap.GetId()
	e.res.add("snapshot "+id, func(ctx context.Context) error {
		_, err := e.storage.DeleteSnapshot(ctx, &hv.DeleteSnapshotRequest{SnapshotId: id})
		return err
	})
	var last *hv.Snapshot
	e.eventually(ctx, fmt.Sprintf("snapshot %s to become AVAILABLE", id), func(g Gomega) {
		s, err := e.storage.GetSnapshot(ctx, &hv.GetSnapshotRequest{SnapshotId: id})
		g.Expect(err).NotTo(HaveOccurred(), "GetSnapshot %s", id)
		last = s
		g.Expect(s.GetStatus()).To(Equal(hv.SnapshotStatus_SNAPSHOT_STATUS_AVAILABLE), "snapshot %s status", id)
	})
	return last
}

func (s *specs) storage() {
	s.it("[HV-STO-001] CreateVolume MUST make an AVAILABLE volume, UpdateVolume MUST change its name and description, and DeleteVolume MUST remove it", func(ctx context.Context, e *env) {
		v := e.createVolume(ctx)
		Expect(v.GetSizeBytes()).To(Equal(gib), "size_bytes")
		Expect(v.GetType()).To(Equal(hv.VolumeType_VOLUME_TYPE_SSD), "type")
		up, err := e.storage.UpdateVolume(ctx, &hv.UpdateVolumeRequest{VolumeId: v.GetId(), Name: v.GetName() + "-renamed", Description: "updated"})
		expectOK(err, "UpdateVolume")
		Expect(up.GetName()).To(Equal(v.GetName()+"-renamed"), "name after UpdateVolume")
		Expect(up.GetDescription()).To(Equal("updated"), "description after UpdateVolume")
		_, err = e.storage.DeleteVolume(ctx, &hv.DeleteVolumeRequest{VolumeId: v.GetId()})
		expectOK(err, "DeleteVolume of an AVAILABLE volume")
		e.eventually(ctx, "GetVolume to stop finding the deleted volume "+v.GetId(), func(g Gomega) {
			_, err := e.storage.GetVolume(ctx, &hv.GetVolumeRequest{VolumeId: v.GetId()})
			g.Expect(err).To(HaveOccurred(), "GetVolume after DeleteVolume still finds it")
		})
		_, err = e.storage.GetVolume(ctx, &hv.GetVolumeRequest{VolumeId: v.GetId()})
		expectCode(err, codes.NotFound, "GetVolume after DeleteVolume")
	})

	s.it("[HV-STO-002] CreateVolume MUST refuse size_bytes <= 0 or a missing source snapshot with InvalidArgument or NotFound", func(ctx context.Context, e *env) {
		e.need(svcStorage + "DeleteVolume")
		c := e.cases("invalid CreateVolume requests")
		for _, tc := range []struct {
			name string
			req  *hv.CreateVolumeRequest
			want codes.Code
		}{
			{"size_bytes 0", &hv.CreateVolumeRequest{SizeBytes: 0}, codes.InvalidArgument},
			{"size_bytes -1", &hv.CreateVolumeRequest{SizeBytes: -1}, codes.InvalidArgument},
			{"an unknown source snapshot", &hv.CreateVolumeRequest{SizeBytes: gib, SourceSnapshotId: e.name("missing")}, codes.NotFound},
		} {
			c.check(tc.name, svcStorage+"CreateVolume", func(g Gomega) {
				tc.req.Name, tc.req.Type, tc.req.TenantId = e.name("vol"), hv.VolumeType_VOLUME_TYPE_SSD, e.prefix
				v, err := e.storage.CreateVolume(ctx, tc.req)
				e.deleteVolumeLater(v.GetId())
				codeIs(g, err, tc.want, "CreateVolume with %s", tc.name)
			})
		}
		c.done()
	})

	s.it("[HV-STO-003] AttachVolume MUST put a volume IN_USE on the instance's node with a device path, DeleteVolume MUST be refused while IN_USE, and DetachVolume MUST make it AVAILABLE", func(ctx context.Context, e *env) {
		inst, node := e.runningInstance(ctx)
		v := e.createVolume(ctx)
		att, err := e.storage.AttachVolume(ctx, &hv.AttachVolumeRequest{VolumeId: v.GetId(), InstanceId: inst.GetId()})
		expectOK(err, "AttachVolume")
		Expect(att.GetStatus()).To(Equal(hv.VolumeStatus_VOLUME_STATUS_IN_USE), "status after AttachVolume")
		Expect(att.GetInstanceId()).To(Equal(inst.GetId()), "instance_id after AttachVolume")
		Expect(att.GetNodeId()).To(Equal(node.GetId()), "node_id after AttachVolume is the instance's node")
		Expect(att.GetDevicePath()).NotTo(BeEmpty(), "device_path after AttachVolume")
		_, err = e.storage.DeleteVolume(ctx, &hv.DeleteVolumeRequest{VolumeId: v.GetId()})
		expectCode(err, codes.FailedPrecondition, "DeleteVolume (no force) of an IN_USE volume")
		byInst, err := e.storage.ListVolumes(ctx, &hv.ListVolumesRequest{InstanceId: inst.GetId()})
		expectOK(err, "ListVolumes instance_id")
		Expect(byInst.GetVolumes()).To(HaveLen(1), "ListVolumes by instance")
		det, err := e.storage.DetachVolume(ctx, &hv.DetachVolumeRequest{VolumeId: v.GetId()})
		expectOK(err, "DetachVolume")
		Expect(det.GetInstanceId()).To(BeEmpty(), "instance_id after DetachVolume")
		e.waitVolume(ctx, v.GetId(), hv.VolumeStatus_VOLUME_STATUS_AVAILABLE)
		_, err = e.storage.AttachVolume(ctx, &hv.AttachVolumeRequest{VolumeId: v.GetId(), InstanceId: e.name("missing")})
		expectCode(err, codes.NotFound, "AttachVolume to an unknown instance")
	})

	s.it("[HV-STO-004] ResizeVolume MUST grow a volume and MUST refuse to shrink it with InvalidArgument", func(ctx context.Context, e *env) {
		v := e.createVolume(ctx)
		_, err := e.storage.ResizeVolume(ctx, &hv.ResizeVolumeRequest{VolumeId: v.GetId(), NewSizeBytes: 2 * gib})
		expectOK(err, "ResizeVolume to 2 GiB")
		grown := e.waitVolume(ctx, v.GetId(), hv.VolumeStatus_VOLUME_STATUS_AVAILABLE)
		Expect(grown.GetSizeBytes()).To(Equal(2*gib), "size_bytes after ResizeVolume")
		_, err = e.storage.ResizeVolume(ctx, &hv.ResizeVolumeRequest{VolumeId: v.GetId(), NewSizeBytes: gib})
		expectCode(err, codes.InvalidArgument, "ResizeVolume from 2 GiB to 1 GiB")
	})

	s.it("[HV-STO-005] Snapshots: CreateSnapshot, GetSnapshot, ListSnapshots, UpdateSnapshot and DeleteSnapshot MUST manage snapshots, and DeleteVolume MUST be refused while a snapshot exists", func(ctx context.Context, e *env) {
		v := e.createVolume(ctx)
		snap := e.createSnapshot(ctx, v.GetId())
		Expect(snap.GetVolumeId()).To(Equal(v.GetId()), "volume_id")
		Expect(snap.GetProgressPercent()).To(Equal(int32(100)), "progress_percent of an AVAILABLE snapshot")
		Expect(snap.GetSizeBytes()).To(Equal(v.GetSizeBytes()), "size_bytes")
		list, err := e.storage.ListSnapshots(ctx, &hv.ListSnapshotsRequest{VolumeId: v.GetId()})
		expectOK(err, "ListSnapshots volume_id")
		Expect(list.GetSnapshots()).To(HaveLen(1), "ListSnapshots by volume")
		Expect(list.GetTotalCount()).To(Equal(int32(1)), "total_count")
		up, err := e.storage.UpdateSnapshot(ctx, &hv.UpdateSnapshotRequest{SnapshotId: snap.GetId(), Name: snap.GetName() + "-x", Description: "d"})
		expectOK(err, "UpdateSnapshot")
		Expect(up.GetName()).To(Equal(snap.GetName()+"-x"), "name after UpdateSnapshot")
		_, err = e.storage.DeleteVolume(ctx, &hv.DeleteVolumeRequest{VolumeId: v.GetId()})
		expectCode(err, codes.FailedPrecondition, "DeleteVolume with a snapshot")
		_, err = e.storage.DeleteSnapshot(ctx, &hv.DeleteSnapshotRequest{SnapshotId: snap.GetId()})
		expectOK(err, "DeleteSnapshot")
		e.eventually(ctx, "GetSnapshot to stop finding the deleted snapshot "+snap.GetId(), func(g Gomega) {
			_, err := e.storage.GetSnapshot(ctx, &hv.GetSnapshotRequest{SnapshotId: snap.GetId()})
			g.Expect(err).To(HaveOccurred(), "GetSnapshot after DeleteSnapshot still finds it")
		})
	})

	s.it("[HV-STO-006] CreateVolume from a snapshot MUST record source_snapshot_id and refuse a size below the source with InvalidArgument", func(ctx context.Context, e *env) {
		v := e.createVolume(ctx, func(r *hv.CreateVolumeRequest) { r.SizeBytes = 2 * gib })
		snap := e.createSnapshot(ctx, v.GetId())
		clone := e.createVolume(ctx, func(r *hv.CreateVolumeRequest) { r.SourceSnapshotId = snap.GetId(); r.SizeBytes = 2 * gib })
		Expect(clone.GetSourceSnapshotId()).To(Equal(snap.GetId()), "source_snapshot_id")
		small, err := e.storage.CreateVolume(ctx, &hv.CreateVolumeRequest{Name: e.name("vol"), SizeBytes: gib, Type: hv.VolumeType_VOLUME_TYPE_SSD, SourceSnapshotId: snap.GetId(), TenantId: e.prefix})
		e.deleteVolumeLater(small.GetId())
		expectCode(err, codes.InvalidArgument, "CreateVolume of 1 GiB from a 2 GiB snapshot")
	})

	s.it("[HV-STO-007] ListVolumes MUST filter by tenant, status, instance_id and label_selector, alone and combined", func(ctx context.Context, e *env) {
		a := e.createVolume(ctx, func(r *hv.CreateVolumeRequest) { r.Metadata.Labels["pick"] = "me" })
		b := e.createVolume(ctx)
		ids := func(g Gomega, req *hv.ListVolumesRequest) []string {
			req.TenantId, req.PageSize = e.prefix, 100
			resp, err := e.storage.ListVolumes(ctx, req)
			g.Expect(err).NotTo(HaveOccurred(), "ListVolumes %v", req)
			var out []string
			for _, v := range resp.GetVolumes() {
				out = append(out, v.GetId())
			}
			return out
		}
		const (
			available = hv.VolumeStatus_VOLUME_STATUS_AVAILABLE
			inUse     = hv.VolumeStatus_VOLUME_STATUS_IN_USE
		)
		pick := map[string]string{"pick": "me"}
		c := e.cases("ListVolumes filters")
		for _, tc := range []struct {
			name string
			req  *hv.ListVolumesRequest
			want []string
		}{
			{"tenant", &hv.ListVolumesRequest{}, []string{a.GetId(), b.GetId()}},
			{"label_selector", &hv.ListVolumesRequest{LabelSelector: pick}, []string{a.GetId()}},
			{"status=IN_USE", &hv.ListVolumesRequest{Status: inUse}, nil},
			{"status=AVAILABLE", &hv.ListVolumesRequest{Status: available}, []string{a.GetId(), b.GetId()}},
			{"status=AVAILABLE and label_selector", &hv.ListVolumesRequest{Status: available, LabelSelector: pick}, []string{a.GetId()}},
			{"status=IN_USE and label_selector", &hv.ListVolumesRequest{Status: inUse, LabelSelector: pick}, nil},
			{"instance_id of no instance", &hv.ListVolumesRequest{InstanceId: e.name("missing")}, nil},
		} {
			c.check(tc.name, svcStorage+"ListVolumes", func(g Gomega) {
				got := ids(g, tc.req)
				if tc.want == nil {
					g.Expect(got).To(BeEmpty(), "ListVolumes with %s", tc.name)
					return
				}
				g.Expect(got).To(ConsistOf(tc.want), "ListVolumes with %s", tc.name)
			})
		}
		c.done()
	})
}
