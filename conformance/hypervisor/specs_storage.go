package hypervisor

import (
	"context"

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
	v, err := e.storage.CreateVolume(ctx, req)
	expectOK(err, "CreateVolume %s", req.Name)
	id := v.GetId()
	Expect(id).NotTo(BeEmpty(), "CreateVolume returned no id")
	e.res.add("volume "+id, func(ctx context.Context) error {
		_, err := e.storage.DeleteVolume(ctx, &hv.DeleteVolumeRequest{VolumeId: id, Force: true})
		return err
	})
	return e.waitVolume(ctx, id, hv.VolumeStatus_VOLUME_STATUS_AVAILABLE)
}

func (e *env) waitVolume(ctx context.Context, id string, st hv.VolumeStatus) *hv.Volume {
	GinkgoHelper()
	var last *hv.Volume
	eventually(ctx, func(g Gomega) {
		v, err := e.storage.GetVolume(ctx, &hv.GetVolumeRequest{VolumeId: id})
		g.Expect(err).NotTo(HaveOccurred(), "GetVolume %s", id)
		last = v
		g.Expect(v.GetStatus()).To(Equal(st), "volume %s is %s; expected %s", id, v.GetStatus(), st)
	}).Should(Succeed())
	return last
}

// createSnapshot snapshots volume, waits until AVAILABLE and records its deletion.
func (e *env) createSnapshot(ctx context.Context, volume string) *hv.Snapshot {
	GinkgoHelper()
	snap, err := e.storage.CreateSnapshot(ctx, &hv.CreateSnapshotRequest{Name: e.name("snap"), VolumeId: volume, TenantId: e.prefix,
		Metadata: &hv.Metadata{Labels: map[string]string{"conform": e.prefix}}})
	expectOK(err, "CreateSnapshot of %s", volume)
	id := snap.GetId()
	e.res.add("snapshot "+id, func(ctx context.Context) error {
		_, err := e.storage.DeleteSnapshot(ctx, &hv.DeleteSnapshotRequest{SnapshotId: id})
		return err
	})
	var last *hv.Snapshot
	eventually(ctx, func(g Gomega) {
		s, err := e.storage.GetSnapshot(ctx, &hv.GetSnapshotRequest{SnapshotId: id})
		g.Expect(err).NotTo(HaveOccurred(), "GetSnapshot %s", id)
		last = s
		g.Expect(s.GetStatus()).To(Equal(hv.SnapshotStatus_SNAPSHOT_STATUS_AVAILABLE), "snapshot %s status", id)
	}).Should(Succeed())
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
		eventually(ctx, func(g Gomega) {
			_, err := e.storage.GetVolume(ctx, &hv.GetVolumeRequest{VolumeId: v.GetId()})
			g.Expect(err).To(HaveOccurred(), "GetVolume after DeleteVolume still finds it")
		}).Should(Succeed())
		_, err = e.storage.GetVolume(ctx, &hv.GetVolumeRequest{VolumeId: v.GetId()})
		expectCode(err, codes.NotFound, "GetVolume after DeleteVolume")
	})

	s.it("[HV-STO-002] CreateVolume MUST refuse size_bytes <= 0 or a missing source snapshot with InvalidArgument or NotFound", func(ctx context.Context, e *env) {
		_, err := e.storage.CreateVolume(ctx, &hv.CreateVolumeRequest{Name: e.name("vol"), SizeBytes: 0, Type: hv.VolumeType_VOLUME_TYPE_SSD})
		expectCode(err, codes.InvalidArgument, "CreateVolume with size_bytes 0")
		_, err = e.storage.CreateVolume(ctx, &hv.CreateVolumeRequest{Name: e.name("vol"), SizeBytes: gib, Type: hv.VolumeType_VOLUME_TYPE_SSD, SourceSnapshotId: e.name("missing")})
		expectCode(err, codes.NotFound, "CreateVolume from an unknown snapshot")
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
		eventually(ctx, func(g Gomega) {
			_, err := e.storage.GetSnapshot(ctx, &hv.GetSnapshotRequest{SnapshotId: snap.GetId()})
			g.Expect(err).To(HaveOccurred(), "GetSnapshot after DeleteSnapshot still finds it")
		}).Should(Succeed())
	})

	s.it("[HV-STO-006] CreateVolume from a snapshot MUST record source_snapshot_id and refuse a size below the source with InvalidArgument", func(ctx context.Context, e *env) {
		v := e.createVolume(ctx, func(r *hv.CreateVolumeRequest) { r.SizeBytes = 2 * gib })
		snap := e.createSnapshot(ctx, v.GetId())
		clone := e.createVolume(ctx, func(r *hv.CreateVolumeRequest) { r.SourceSnapshotId = snap.GetId(); r.SizeBytes = 2 * gib })
		Expect(clone.GetSourceSnapshotId()).To(Equal(snap.GetId()), "source_snapshot_id")
		_, err := e.storage.CreateVolume(ctx, &hv.CreateVolumeRequest{Name: e.name("vol"), SizeBytes: gib, Type: hv.VolumeType_VOLUME_TYPE_SSD, SourceSnapshotId: snap.GetId()})
		expectCode(err, codes.InvalidArgument, "CreateVolume of 1 GiB from a 2 GiB snapshot")
	})

	s.it("[HV-STO-007] ListVolumes MUST filter by tenant, status and label_selector", func(ctx context.Context, e *env) {
		a := e.createVolume(ctx, func(r *hv.CreateVolumeRequest) { r.Metadata.Labels["pick"] = "me" })
		b := e.createVolume(ctx)
		ids := func(req *hv.ListVolumesRequest) []string {
			req.TenantId, req.PageSize = e.prefix, 100
			resp, err := e.storage.ListVolumes(ctx, req)
			expectOK(err, "ListVolumes %v", req)
			var out []string
			for _, v := range resp.GetVolumes() {
				out = append(out, v.GetId())
			}
			return out
		}
		Expect(ids(&hv.ListVolumesRequest{})).To(ConsistOf(a.GetId(), b.GetId()), "tenant filter")
		Expect(ids(&hv.ListVolumesRequest{LabelSelector: map[string]string{"pick": "me"}})).To(ConsistOf(a.GetId()), "label_selector filter")
		Expect(ids(&hv.ListVolumesRequest{Status: hv.VolumeStatus_VOLUME_STATUS_IN_USE})).To(BeEmpty(), "status=IN_USE filter")
	})
}
