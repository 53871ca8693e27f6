package hypervisor

import (
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

const (
	volAvailable = hv.VolumeStatus_VOLUME_STATUS_AVAILABLE
	volInUse     = hv.VolumeStatus_VOLUME_STATUS_IN_USE
)

func TestCreateVolume(t *testing.T) {
	f := newNetFixture(t)
	src := call(f.sto.CreateVolume(ctx, &hv.CreateVolumeRequest{Name: "src", SizeBytes: 10 << 30})).ok(t)
	if src.Status != hv.VolumeStatus_VOLUME_STATUS_CREATING || src.Type != hv.VolumeType_VOLUME_TYPE_SSD {
		t.Fatalf("CreateVolume response = %v, want CREATING SSD", src)
	}
	if got := call(f.sto.GetVolume(ctx, &hv.GetVolumeRequest{VolumeId: src.Id})).ok(t); got.Status != volAvailable {
		t.Fatalf("volume after create is %v, want AVAILABLE", got.Status)
	}
	snap := call(f.sto.CreateSnapshot(ctx, &hv.CreateSnapshotRequest{Name: "s", VolumeId: src.Id})).ok(t)
	tests := []struct {
		name     string
		req      *hv.CreateVolumeRequest
		code     codes.Code
		wantSize int64
	}{
		{"clone same size", &hv.CreateVolumeRequest{SourceVolumeId: src.Id}, codes.OK, 10 << 30},
		{"from snapshot bigger", &hv.CreateVolumeRequest{SourceSnapshotId: snap.Id, SizeBytes: 20 << 30}, codes.OK, 20 << 30},
		{"encrypted nvme", &hv.CreateVolumeRequest{SizeBytes: 1, Type: hv.VolumeType_VOLUME_TYPE_NVME, Encrypted: true, EncryptionKeyId: "k"}, codes.OK, 1},
		{"no size", &hv.CreateVolumeRequest{}, codes.InvalidArgument, 0},
		{"negative size", &hv.CreateVolumeRequest{SizeBytes: -1}, codes.InvalidArgument, 0},
		{"unknown type", &hv.CreateVolumeRequest{SizeBytes: 1, Type: 9}, codes.InvalidArgument, 0},
		{"two sources", &hv.CreateVolumeRequest{SourceVolumeId: src.Id, SourceSnapshotId: snap.Id}, codes.InvalidArgument, 0},
		{"smaller than source", &hv.CreateVolumeRequest{SourceVolumeId: src.Id, SizeBytes: 1 << 30}, codes.InvalidArgument, 0},
		{"unknown source volume", &hv.CreateVolumeRequest{SourceVolumeId: "vol-nope"}, codes.NotFound, 0},
		{"unknown source snapshot", &hv.CreateVolumeRequest{SourceSnapshotId: "snap-nope"}, codes.NotFound, 0},
		{"key without encryption", &hv.CreateVolumeRequest{SizeBytes: 1, EncryptionKeyId: "k"}, codes.InvalidArgument, 0},
		{"negative iops", &hv.CreateVolumeRequest{SizeBytes: 1, IopsLimit: -5}, codes.InvalidArgument, 0},
		{"unknown preferred node", &hv.CreateVolumeRequest{SizeBytes: 1, PreferredNodeId: "node-nope"}, codes.NotFound, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := f.sto.CreateVolume(ctx, tt.req)
			wantCode(t, err, tt.code, "CreateVolume")
			if err == nil && v.SizeBytes != tt.wantSize {
				t.Fatalf("size %d, want %d", v.SizeBytes, tt.wantSize)
			}
		})
	}
	if n := call(f.sto.ListVolumes(ctx, &hv.ListVolumesRequest{})).ok(t).TotalCount; n != 4 {
		t.Fatalf("%d volumes, want 4 (failed creates add none)", n)
	}
}

func TestVolumeAttachLifecycle(t *testing.T) {
	f := newNetFixture(t)
	node := f.node(t, "192.0.2.1")
	inst := f.instance(t, node, "db")
	vols := make([]string, 3)
	for i := range vols {
		vols[i] = call(f.sto.CreateVolume(ctx, &hv.CreateVolumeRequest{Name: fmt.Sprint("v", i), SizeBytes: 1 << 30})).ok(t).Id
	}
	attach := func(req *hv.AttachVolumeRequest) (*hv.Volume, error) {
		return f.sto.AttachVolume(ctx, req)
	}
	_, err := attach(&hv.AttachVolumeRequest{VolumeId: vols[0], InstanceId: "inst-nope"})
	wantCode(t, err, codes.NotFound, "AttachVolume unknown instance")
	_, err = attach(&hv.AttachVolumeRequest{VolumeId: "vol-nope", InstanceId: inst})
	wantCode(t, err, codes.NotFound, "AttachVolume unknown volume")
	_, err = attach(&hv.AttachVolumeRequest{VolumeId: vols[0], InstanceId: inst, DevicePath: "vdq"})
	wantCode(t, err, codes.InvalidArgument, "AttachVolume bad device path")

	v0 := call(attach(&hv.AttachVolumeRequest{VolumeId: vols[0], InstanceId: inst})).ok(t)
	if v0.Status != volInUse || v0.NodeId != node || v0.DevicePath != "/dev/vdb" || v0.AttachedAt == nil {
		t.Fatalf("attached = %v", v0)
	}
	_, err = attach(&hv.AttachVolumeRequest{VolumeId: vols[0], InstanceId: inst})
	wantCode(t, err, codes.FailedPrecondition, "AttachVolume twice")
	_, err = attach(&hv.AttachVolumeRequest{VolumeId: vols[1], InstanceId: inst, DevicePath: "/dev/vdb"})
	wantCode(t, err, codes.AlreadyExists, "AttachVolume on a used device path")
	if v1 := call(attach(&hv.AttachVolumeRequest{VolumeId: vols[1], InstanceId: inst})).ok(t); v1.DevicePath != "/dev/vdc" {
		t.Fatalf("second device path %s, want /dev/vdc", v1.DevicePath)
	}
	byInst := call(f.sto.ListVolumes(ctx, &hv.ListVolumesRequest{InstanceId: inst})).ok(t)
	byNode := call(f.sto.ListVolumes(ctx, &hv.ListVolumesRequest{NodeId: node, Status: volInUse})).ok(t)
	if byInst.TotalCount != 2 || byNode.TotalCount != 2 {
		t.Fatalf("by instance %d, by node %d, want 2 and 2", byInst.TotalCount, byNode.TotalCount)
	}

	_, err = f.sto.DeleteVolume(ctx, &hv.DeleteVolumeRequest{VolumeId: vols[0]})
	wantCode(t, err, codes.FailedPrecondition, "DeleteVolume in use")
	resized := call(f.sto.ResizeVolume(ctx, &hv.ResizeVolumeRequest{VolumeId: vols[0], NewSizeBytes: 2 << 30})).ok(t)
	if resized.Status != hv.VolumeStatus_VOLUME_STATUS_EXTENDING || resized.SizeBytes != 2<<30 {
		t.Fatalf("resize response = %v", resized)
	}
	if got := call(f.sto.GetVolume(ctx, &hv.GetVolumeRequest{VolumeId: vols[0]})).ok(t); got.Status != volInUse {
		t.Fatalf("after resize status %v, want IN_USE", got.Status)
	}
	_, err = f.sto.ResizeVolume(ctx, &hv.ResizeVolumeRequest{VolumeId: vols[0], NewSizeBytes: 1 << 30})
	wantCode(t, err, codes.InvalidArgument, "ResizeVolume shrink")

	d := call(f.sto.DetachVolume(ctx, &hv.DetachVolumeRequest{VolumeId: vols[0]})).ok(t)
	if d.Status != volAvailable || d.InstanceId != "" || d.DevicePath != "" {
		t.Fatalf("detached = %v", d)
	}
	_, err = f.sto.DetachVolume(ctx, &hv.DetachVolumeRequest{VolumeId: vols[0]})
	wantCode(t, err, codes.FailedPrecondition, "DetachVolume twice")
	if v := call(attach(&hv.AttachVolumeRequest{VolumeId: vols[2], InstanceId: inst})).ok(t); v.DevicePath != "/dev/vdb" {
		t.Fatalf("freed device path not reused: %s", v.DevicePath)
	}
	call(f.sto.DeleteVolume(ctx, &hv.DeleteVolumeRequest{VolumeId: vols[1], Force: true})).ok(t)
	_, err = f.sto.GetVolume(ctx, &hv.GetVolumeRequest{VolumeId: vols[1]})
	wantCode(t, err, codes.NotFound, "GetVolume after forced delete")
}

func TestUpdateAndListVolumes(t *testing.T) {
	f := newNetFixture(t)
	for i := range 25 {
		md := &hv.Metadata{Labels: map[string]string{"tier": []string{"gold", "bronze"}[i%2]}}
		call(f.sto.CreateVolume(ctx, &hv.CreateVolumeRequest{Name: fmt.Sprint(i), SizeBytes: 1, TenantId: "t", Metadata: md})).ok(t)
	}
	seen, token := 0, ""
	for pages := 0; pages < 5; pages++ {
		resp := call(f.sto.ListVolumes(ctx, &hv.ListVolumesRequest{LabelSelector: map[string]string{"tier": "gold"}, PageSize: 5, PageToken: token})).ok(t)
		if resp.TotalCount != 13 {
			t.Fatalf("total_count %d, want 13", resp.TotalCount)
		}
		seen += len(resp.Volumes)
		if token = resp.NextPageToken; token == "" {
			break
		}
	}
	if seen != 13 {
		t.Fatalf("walked %d gold volumes, want 13", seen)
	}
	v := call(f.sto.ListVolumes(ctx, &hv.ListVolumesRequest{PageSize: 1})).ok(t).Volumes[0]
	up := call(f.sto.UpdateVolume(ctx, &hv.UpdateVolumeRequest{VolumeId: v.Id, Description: "d", IopsLimit: 500,
		Metadata: &hv.Metadata{Labels: map[string]string{"tier": "silver"}}})).ok(t)
	if up.Name != v.Name || up.Description != "d" || up.IopsLimit != 500 || up.Metadata.Labels["tier"] != "silver" {
		t.Fatalf("updated = %v", up)
	}
	_, err := f.sto.UpdateVolume(ctx, &hv.UpdateVolumeRequest{VolumeId: v.Id, ThroughputLimit: -1})
	wantCode(t, err, codes.InvalidArgument, "UpdateVolume negative limit")
	_, err = f.sto.UpdateVolume(ctx, &hv.UpdateVolumeRequest{VolumeId: "vol-nope"})
	wantCode(t, err, codes.NotFound, "UpdateVolume unknown")
	_, err = f.sto.ListVolumes(ctx, &hv.ListVolumesRequest{PageToken: "%%%"})
	wantCode(t, err, codes.InvalidArgument, "ListVolumes bad token")
}

func TestSnapshots(t *testing.T) {
	f := newNetFixture(t)
	vol := call(f.sto.CreateVolume(ctx, &hv.CreateVolumeRequest{SizeBytes: 5, TenantId: "t1"})).ok(t)
	s := call(f.sto.CreateSnapshot(ctx, &hv.CreateSnapshotRequest{Name: "s", VolumeId: vol.Id,
		Metadata: &hv.Metadata{Labels: map[string]string{"k": "v"}}})).ok(t)
	if s.Status != hv.SnapshotStatus_SNAPSHOT_STATUS_CREATING || s.SizeBytes != 5 || s.TenantId != "t1" {
		t.Fatalf("CreateSnapshot response = %v", s)
	}
	got := call(f.sto.GetSnapshot(ctx, &hv.GetSnapshotRequest{SnapshotId: s.Id})).ok(t)
	if got.Status != hv.SnapshotStatus_SNAPSHOT_STATUS_AVAILABLE || got.ProgressPercent != 100 {
		t.Fatalf("snapshot later = %v", got)
	}
	_, err := f.sto.CreateSnapshot(ctx, &hv.CreateSnapshotRequest{VolumeId: "vol-nope"})
	wantCode(t, err, codes.NotFound, "CreateSnapshot unknown volume")
	_, err = f.sto.DeleteVolume(ctx, &hv.DeleteVolumeRequest{VolumeId: vol.Id, Force: true})
	wantCode(t, err, codes.FailedPrecondition, "DeleteVolume with snapshots")
	for i := range 4 {
		call(f.sto.CreateSnapshot(ctx, &hv.CreateSnapshotRequest{Name: fmt.Sprint(i), VolumeId: vol.Id})).ok(t)
	}
	page1 := call(f.sto.ListSnapshots(ctx, &hv.ListSnapshotsRequest{VolumeId: vol.Id, PageSize: 3})).ok(t)
	page2 := call(f.sto.ListSnapshots(ctx, &hv.ListSnapshotsRequest{VolumeId: vol.Id, PageSize: 3, PageToken: page1.NextPageToken})).ok(t)
	if page1.TotalCount != 5 || len(page1.Snapshots) != 3 || len(page2.Snapshots) != 2 || page2.NextPageToken != "" {
		t.Fatalf("pages of %d and %d (total %d)", len(page1.Snapshots), len(page2.Snapshots), page1.TotalCount)
	}
	if l := call(f.sto.ListSnapshots(ctx, &hv.ListSnapshotsRequest{LabelSelector: map[string]string{"k": "v"}, TenantId: "t1",
		Status: hv.SnapshotStatus_SNAPSHOT_STATUS_AVAILABLE})).ok(t); l.TotalCount != 1 {
		t.Fatalf("label filter total %d, want 1", l.TotalCount)
	}
	up := call(f.sto.UpdateSnapshot(ctx, &hv.UpdateSnapshotRequest{SnapshotId: s.Id, Description: "nightly"})).ok(t)
	if up.Name != "s" || up.Description != "nightly" {
		t.Fatalf("updated = %v", up)
	}
	_, err = f.sto.UpdateSnapshot(ctx, &hv.UpdateSnapshotRequest{SnapshotId: "snap-nope"})
	wantCode(t, err, codes.NotFound, "UpdateSnapshot unknown")
	for _, sn := range call(f.sto.ListSnapshots(ctx, &hv.ListSnapshotsRequest{})).ok(t).Snapshots {
		call(f.sto.DeleteSnapshot(ctx, &hv.DeleteSnapshotRequest{SnapshotId: sn.Id})).ok(t)
	}
	_, err = f.sto.DeleteSnapshot(ctx, &hv.DeleteSnapshotRequest{SnapshotId: s.Id})
	wantCode(t, err, codes.NotFound, "DeleteSnapshot twice")
	call(f.sto.DeleteVolume(ctx, &hv.DeleteVolumeRequest{VolumeId: vol.Id})).ok(t)
}
