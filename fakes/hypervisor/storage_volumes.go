package hypervisor

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/emptypb"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// CreateVolume makes a volume, empty or from a snapshot or volume. With a
// source, size_bytes 0 means the source's size. A non-empty name is unique
// within its tenant (AlreadyExists). The volume must fit in
// Limits.MaxVolumeBytes (InvalidArgument), and in Limits.MaxVolumes and
// Limits.StorageCapacityBytes with every other volume (ResourceExhausted).
func (s *storageService) CreateVolume(_ context.Context, req *hv.CreateVolumeRequest) (*hv.Volume, error) {
	if err := checkVolumeRequest(req); err != nil {
		return nil, err
	}
	if err := s.checkVolumeFields(req.GetName(), req.GetDescription(), req.GetMetadata()); err != nil {
		return nil, err
	}
	for _, f := range []struct{ name, v string }{{"tenant_id", req.GetTenantId()}, {"encryption_key_id", req.GetEncryptionKeyId()}, {"availability_zone", req.GetAvailabilityZone()}} {
		if err := validToken(f.name, f.v); err != nil {
			return nil, err
		}
	}
	if max := s.srv.opts.Limits.MaxVolumeBytes; req.GetSizeBytes() > max {
		return nil, errf(codes.InvalidArgument, "size_bytes %d is more than %d (Limits.MaxVolumeBytes)", req.GetSizeBytes(), max)
	}
	if id := req.GetPreferredNodeId(); id != "" && !s.srv.lookupNode(id) {
		return nil, errf(codes.NotFound, "preferred node %s not found", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	size, err := s.sourceSize(req)
	if err != nil {
		return nil, err
	}
	if err := s.nameFree(req.GetTenantId(), req.GetName(), ""); err != nil {
		return nil, err
	}
	if err := s.room(size); err != nil {
		return nil, err
	}
	now := timestampOf(s.srv)
	v := &hv.Volume{
		Id: s.srv.newID("vol"), Name: req.GetName(), Description: req.GetDescription(),
		SizeBytes: size, Type: req.GetType(), Status: hv.VolumeStatus_VOLUME_STATUS_AVAILABLE,
		SourceSnapshotId: req.GetSourceSnapshotId(), SourceVolumeId: req.GetSourceVolumeId(),
		TenantId: req.GetTenantId(), Metadata: clone(req.GetMetadata()),
		IopsLimit: req.GetIopsLimit(), ThroughputLimit: req.GetThroughputLimit(),
		Encrypted: req.GetEncrypted(), EncryptionKeyId: req.GetEncryptionKeyId(),
		CreatedAt: now, UpdatedAt: now,
	}
	if v.Type == hv.VolumeType_VOLUME_TYPE_UNSPECIFIED {
		v.Type = hv.VolumeType_VOLUME_TYPE_SSD
	}
	s.volumes.put(v.Id, v)
	s.rename(v, v.Name)
	s.used += v.SizeBytes
	out := clone(v)
	out.Status = hv.VolumeStatus_VOLUME_STATUS_CREATING
	return out, nil
}

func checkVolumeRequest(req *hv.CreateVolumeRequest) error {
	if _, ok := hv.VolumeType_name[int32(req.GetType())]; !ok {
		return errf(codes.InvalidArgument, "volume type %d is unknown", req.GetType())
	}
	if req.GetSizeBytes() < 0 {
		return errf(codes.InvalidArgument, "size_bytes %d is negative", req.GetSizeBytes())
	}
	if req.GetSourceSnapshotId() != "" && req.GetSourceVolumeId() != "" {
		return errf(codes.InvalidArgument, "give source_snapshot_id or source_volume_id, not both")
	}
	if req.GetSizeBytes() == 0 && req.GetSourceSnapshotId() == "" && req.GetSourceVolumeId() == "" {
		return errf(codes.InvalidArgument, "size_bytes must be > 0")
	}
	if req.GetIopsLimit() < 0 || req.GetThroughputLimit() < 0 {
		return errf(codes.InvalidArgument, "iops_limit %d and throughput_limit %d must not be negative", req.GetIopsLimit(), req.GetThroughputLimit())
	}
	if req.GetEncryptionKeyId() != "" && !req.GetEncrypted() {
		return errf(codes.InvalidArgument, "encryption_key_id given for an unencrypted volume")
	}
	return nil
}

// sourceSize checks the request's source and returns the new volume's size.
func (s *storageService) sourceSize(req *hv.CreateVolumeRequest) (int64, error) {
	var kind, id string
	var srcSize int64
	switch {
	case req.GetSourceSnapshotId() != "":
		sn, err := s.snapshot(req.GetSourceSnapshotId())
		if err != nil {
			return 0, err
		}
		if sn.Status != hv.SnapshotStatus_SNAPSHOT_STATUS_AVAILABLE {
			return 0, errf(codes.FailedPrecondition, "source snapshot %s is %v, not AVAILABLE", sn.Id, sn.Status)
		}
		kind, id, srcSize = "snapshot", sn.Id, sn.SizeBytes
	case req.GetSourceVolumeId() != "":
		v, err := s.volume(req.GetSourceVolumeId())
		if err != nil {
			return 0, err
		}
		if v.Status != hv.VolumeStatus_VOLUME_STATUS_AVAILABLE {
			return 0, errf(codes.FailedPrecondition, "source volume %s is %v, not AVAILABLE", v.Id, v.Status)
		}
		kind, id, srcSize = "volume", v.Id, v.SizeBytes
	default:
		return req.GetSizeBytes(), nil
	}
	if req.GetSizeBytes() == 0 {
		return srcSize, nil
	}
	if req.GetSizeBytes() < srcSize {
		return 0, errf(codes.InvalidArgument, "size_bytes %d is smaller than source %s %s (%d bytes)", req.GetSizeBytes(), kind, id, srcSize)
	}
	return req.GetSizeBytes(), nil
}

func (s *storageService) GetVolume(_ context.Context, req *hv.GetVolumeRequest) (*hv.Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.volume(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	return clone(v), nil
}

func (s *storageService) ListVolumes(_ context.Context, req *hv.ListVolumesRequest) (*hv.ListVolumesResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	items, next, total, err := s.volumes.page(func(v *hv.Volume) bool {
		return (req.GetTenantId() == "" || v.TenantId == req.GetTenantId()) &&
			(req.GetInstanceId() == "" || v.InstanceId == req.GetInstanceId()) &&
			(req.GetNodeId() == "" || v.NodeId == req.GetNodeId()) &&
			(req.GetStatus() == hv.VolumeStatus_VOLUME_STATUS_UNSPECIFIED || v.Status == req.GetStatus()) &&
			matchLabels(v.Metadata, req.GetLabelSelector())
	}, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &hv.ListVolumesResponse{Volumes: cloneAll(items), NextPageToken: next, TotalCount: int32(total)}, nil
}

// UpdateVolume changes the fields that are set: a non-empty name or
// description, a non-zero limit, a non-nil metadata (replaced whole). A new
// name must be free in the volume's tenant (AlreadyExists).
func (s *storageService) UpdateVolume(_ context.Context, req *hv.UpdateVolumeRequest) (*hv.Volume, error) {
	if req.GetIopsLimit() < 0 || req.GetThroughputLimit() < 0 {
		return nil, errf(codes.InvalidArgument, "iops_limit %d and throughput_limit %d must not be negative", req.GetIopsLimit(), req.GetThroughputLimit())
	}
	if err := s.checkVolumeFields(req.GetName(), req.GetDescription(), req.GetMetadata()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.volume(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	if err := s.nameFree(v.TenantId, req.GetName(), v.Id); err != nil {
		return nil, err
	}
	if req.GetName() != "" {
		s.rename(v, req.GetName())
	}
	if req.GetDescription() != "" {
		v.Description = req.GetDescription()
	}
	if req.GetIopsLimit() != 0 {
		v.IopsLimit = req.GetIopsLimit()
	}
	if req.GetThroughputLimit() != 0 {
		v.ThroughputLimit = req.GetThroughputLimit()
	}
	if req.GetMetadata() != nil {
		v.Metadata = clone(req.GetMetadata())
	}
	v.UpdatedAt = timestampOf(s.srv)
	return clone(v), nil
}

// DeleteVolume refuses an IN_USE volume unless force (which detaches it) and
// any volume that still has snapshots.
func (s *storageService) DeleteVolume(_ context.Context, req *hv.DeleteVolumeRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.volume(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	if v.Status == hv.VolumeStatus_VOLUME_STATUS_IN_USE && !req.GetForce() {
		return nil, errf(codes.FailedPrecondition, "volume %s is attached to instance %s; detach it or use force", v.Id, v.InstanceId)
	}
	if snaps := s.snapshots.all(func(sn *hv.Snapshot) bool { return sn.VolumeId == v.Id }); len(snaps) > 0 {
		return nil, errf(codes.FailedPrecondition, "volume %s still has %d snapshot(s), first %s", v.Id, len(snaps), snaps[0].Id)
	}
	s.volumes.remove(v.Id)
	s.rename(v, "")
	s.used -= v.SizeBytes
	return &emptypb.Empty{}, nil
}

// AttachVolume attaches an AVAILABLE volume to an instance on its node. The
// default device_path is the first free of /dev/vdb../dev/vdz (vda is the
// boot disk); a given one must be an absolute /dev path free on the instance.
func (s *storageService) AttachVolume(_ context.Context, req *hv.AttachVolumeRequest) (*hv.Volume, error) {
	if err := required("instance_id", req.GetInstanceId()); err != nil {
		return nil, err
	}
	if p := req.GetDevicePath(); p != "" && (!strings.HasPrefix(p, "/dev/") || len(p) <= len("/dev/")) {
		return nil, errf(codes.InvalidArgument, "device_path %q is not a /dev path", p)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.volume(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	node, state, ok := s.srv.lookupInstance(req.GetInstanceId())
	if !ok {
		return nil, errf(codes.NotFound, "instance %s not found", req.GetInstanceId())
	}
	if v.Status != hv.VolumeStatus_VOLUME_STATUS_AVAILABLE {
		return nil, errf(codes.FailedPrecondition, "volume %s is %v (instance %q), not AVAILABLE", v.Id, v.Status, v.InstanceId)
	}
	switch {
	case state == hv.InstanceState_INSTANCE_STATE_DELETING || state == hv.InstanceState_INSTANCE_STATE_FAILED:
		return nil, errf(codes.FailedPrecondition, "instance %s is %v", req.GetInstanceId(), state)
	case node == "":
		return nil, errf(codes.FailedPrecondition, "instance %s is not placed on a node yet", req.GetInstanceId())
	}
	dev, err := s.devicePath(req.GetInstanceId(), req.GetDevicePath())
	if err != nil {
		return nil, err
	}
	now := timestampOf(s.srv)
	v.Status, v.InstanceId, v.NodeId, v.DevicePath = hv.VolumeStatus_VOLUME_STATUS_IN_USE, req.GetInstanceId(), node, dev
	v.AttachedAt, v.UpdatedAt = now, now
	return clone(v), nil
}

func (s *storageService) devicePath(instance, want string) (string, error) {
	used := map[string]string{}
	for _, v := range s.volumes.all(func(v *hv.Volume) bool { return v.InstanceId == instance }) {
		used[v.DevicePath] = v.Id
	}
	if want != "" {
		if other, taken := used[want]; taken {
			return "", errf(codes.AlreadyExists, "device_path %s of instance %s is used by volume %s", want, instance, other)
		}
		return want, nil
	}
	for c := 'b'; c <= 'z'; c++ {
		if p := fmt.Sprintf("/dev/vd%c", c); used[p] == "" {
			return p, nil
		}
	}
	return "", errf(codes.ResourceExhausted, "instance %s has no free device path /dev/vdb../dev/vdz", instance)
}

// DetachVolume detaches an IN_USE volume. Without force it refuses while
// the instance is in a transitional state (PENDING, CREATING, DELETING);
// force always detaches, also when the instance is gone.
func (s *storageService) DetachVolume(_ context.Context, req *hv.DetachVolumeRequest) (*hv.Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.volume(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	if v.Status != hv.VolumeStatus_VOLUME_STATUS_IN_USE {
		return nil, errf(codes.FailedPrecondition, "volume %s is %v, not attached", v.Id, v.Status)
	}
	if !req.GetForce() {
		if _, state, ok := s.srv.lookupInstance(v.InstanceId); ok && transitional(state) {
			return nil, errf(codes.FailedPrecondition, "instance %s of volume %s is %v; retry later or use force", v.InstanceId, v.Id, state)
		}
	}
	v.Status, v.InstanceId, v.NodeId, v.DevicePath, v.AttachedAt = hv.VolumeStatus_VOLUME_STATUS_AVAILABLE, "", "", "", nil
	v.UpdatedAt = timestampOf(s.srv)
	return clone(v), nil
}

func transitional(st hv.InstanceState) bool {
	switch st {
	case hv.InstanceState_INSTANCE_STATE_PENDING, hv.InstanceState_INSTANCE_STATE_CREATING, hv.InstanceState_INSTANCE_STATE_DELETING:
		return true
	}
	return false
}

// ResizeVolume grows an AVAILABLE or IN_USE volume; the response shows EXTENDING.
func (s *storageService) ResizeVolume(_ context.Context, req *hv.ResizeVolumeRequest) (*hv.Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.volume(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	if req.GetNewSizeBytes() <= v.SizeBytes {
		return nil, errf(codes.InvalidArgument, "new_size_bytes %d does not grow volume %s (%d bytes); volumes only grow", req.GetNewSizeBytes(), v.Id, v.SizeBytes)
	}
	if st := v.Status; st != hv.VolumeStatus_VOLUME_STATUS_AVAILABLE && st != hv.VolumeStatus_VOLUME_STATUS_IN_USE {
		return nil, errf(codes.FailedPrecondition, "volume %s is %v", v.Id, st)
	}
	if max := s.srv.opts.Limits.MaxVolumeBytes; req.GetNewSizeBytes() > max {
		return nil, errf(codes.InvalidArgument, "new_size_bytes %d is more than %d (Limits.MaxVolumeBytes)", req.GetNewSizeBytes(), max)
	}
	if err := s.grow(req.GetNewSizeBytes() - v.SizeBytes); err != nil {
		return nil, err
	}
	s.used += req.GetNewSizeBytes() - v.SizeBytes
	v.SizeBytes, v.UpdatedAt = req.GetNewSizeBytes(), timestampOf(s.srv)
	out := clone(v)
	out.Status = hv.VolumeStatus_VOLUME_STATUS_EXTENDING
	return out, nil
}

// detachInstance detaches every volume of a deleted instance.
func (s *storageService) detachInstance(instance string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := timestampOf(s.srv)
	for _, v := range s.volumes.all(func(v *hv.Volume) bool { return v.InstanceId == instance }) {
		v.Status, v.InstanceId, v.NodeId, v.DevicePath, v.AttachedAt = hv.VolumeStatus_VOLUME_STATUS_AVAILABLE, "", "", "", nil
		v.UpdatedAt = now
	}
}

// checkVolumeFields validates the client-chosen fields a volume stores.
func (s *storageService) checkVolumeFields(name, description string, md *hv.Metadata) error {
	if err := validName("name", name, false); err != nil {
		return err
	}
	if err := s.srv.validDescription("description", description); err != nil {
		return err
	}
	return s.srv.validPB("metadata", md)
}

// nameFree refuses a non-empty name another volume (not self) of the
// tenant has. The caller holds s.mu, so concurrent creates serialise.
func (s *storageService) nameFree(tenant, name, self string) error {
	if name == "" {
		return nil
	}
	if id, taken := s.names[volumeName{tenant, name}]; taken && id != self {
		return errf(codes.AlreadyExists, "tenant %q already has a volume named %q (%s)", tenant, name, id)
	}
	return nil
}

// rename moves v's entry in the name index to name. The caller holds s.mu.
func (s *storageService) rename(v *hv.Volume, name string) {
	if v.Name != "" {
		delete(s.names, volumeName{v.TenantId, v.Name})
	}
	v.Name = name
	if name != "" {
		s.names[volumeName{v.TenantId, name}] = v.Id
	}
}

// room checks that one more volume of size fits (Limits.MaxVolumes and
// Limits.StorageCapacityBytes). The caller holds s.mu.
func (s *storageService) room(size int64) error {
	if max := s.srv.opts.Limits.MaxVolumes; len(s.volumes.byID) >= max {
		return errf(codes.ResourceExhausted, "%d volumes exist, the limit (Limits.MaxVolumes)", len(s.volumes.byID))
	}
	return s.grow(size)
}

// grow checks that size more bytes fit in Limits.StorageCapacityBytes.
func (s *storageService) grow(size int64) error {
	if capacity := s.srv.opts.Limits.StorageCapacityBytes; size > capacity-s.used {
		return errf(codes.ResourceExhausted, "storage has %d of %d bytes free (Limits.StorageCapacityBytes), need %d", capacity-s.used, capacity, size)
	}
	return nil
}
