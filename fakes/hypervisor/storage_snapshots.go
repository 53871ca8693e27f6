package hypervisor

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

func timestampOf(s *Server) *timestamppb.Timestamp { return timestamppb.New(s.now()) }

// CreateSnapshot snapshots an AVAILABLE or IN_USE volume. The response shows
// CREATING at 0 %; later reads show AVAILABLE at 100 %. An empty tenant_id
// inherits the volume's.
func (s *storageService) CreateSnapshot(_ context.Context, req *hv.CreateSnapshotRequest) (*hv.Snapshot, error) {
	if err := s.checkVolumeFields(req.GetName(), req.GetDescription(), req.GetMetadata()); err != nil {
		return nil, err
	}
	if err := validToken("tenant_id", req.GetTenantId()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.volume(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	if st := v.Status; st != hv.VolumeStatus_VOLUME_STATUS_AVAILABLE && st != hv.VolumeStatus_VOLUME_STATUS_IN_USE {
		return nil, errf(codes.FailedPrecondition, "volume %s is %v, not AVAILABLE or IN_USE", v.Id, st)
	}
	if max := s.srv.opts.Limits.MaxVolumes; len(s.snapshots.byID) >= max {
		return nil, errf(codes.ResourceExhausted, "%d snapshots exist, the limit (Limits.MaxVolumes)", len(s.snapshots.byID))
	}
	tenant := req.GetTenantId()
	if tenant == "" {
		tenant = v.TenantId
	}
	now := timestampOf(s.srv)
	sn := &hv.Snapshot{
		Id: s.srv.newID("snap"), Name: req.GetName(), Description: req.GetDescription(),
		VolumeId: v.Id, SizeBytes: v.SizeBytes, Status: hv.SnapshotStatus_SNAPSHOT_STATUS_AVAILABLE,
		TenantId: tenant, Metadata: clone(req.GetMetadata()), ProgressPercent: 100,
		CreatedAt: now, UpdatedAt: now,
	}
	s.snapshots.put(sn.Id, sn)
	out := clone(sn)
	out.Status, out.ProgressPercent = hv.SnapshotStatus_SNAPSHOT_STATUS_CREATING, 0
	return out, nil
}

func (s *storageService) GetSnapshot(_ context.Context, req *hv.GetSnapshotRequest) (*hv.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, err := s.snapshot(req.GetSnapshotId())
	if err != nil {
		return nil, err
	}
	return clone(sn), nil
}

func (s *storageService) ListSnapshots(_ context.Context, req *hv.ListSnapshotsRequest) (*hv.ListSnapshotsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	items, next, total, err := s.snapshots.page(func(sn *hv.Snapshot) bool {
		return (req.GetTenantId() == "" || sn.TenantId == req.GetTenantId()) &&
			(req.GetVolumeId() == "" || sn.VolumeId == req.GetVolumeId()) &&
			(req.GetStatus() == hv.SnapshotStatus_SNAPSHOT_STATUS_UNSPECIFIED || sn.Status == req.GetStatus()) &&
			matchLabels(sn.Metadata, req.GetLabelSelector())
	}, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &hv.ListSnapshotsResponse{Snapshots: cloneAll(items), NextPageToken: next, TotalCount: int32(total)}, nil
}

// UpdateSnapshot changes a non-empty name or description and a non-nil
// metadata (replaced whole).
func (s *storageService) UpdateSnapshot(_ context.Context, req *hv.UpdateSnapshotRequest) (*hv.Snapshot, error) {
	if err := s.checkVolumeFields(req.GetName(), req.GetDescription(), req.GetMetadata()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, err := s.snapshot(req.GetSnapshotId())
	if err != nil {
		return nil, err
	}
	if req.GetName() != "" {
		sn.Name = req.GetName()
	}
	if req.GetDescription() != "" {
		sn.Description = req.GetDescription()
	}
	if req.GetMetadata() != nil {
		sn.Metadata = clone(req.GetMetadata())
	}
	sn.UpdatedAt = timestampOf(s.srv)
	return clone(sn), nil
}

func (s *storageService) DeleteSnapshot(_ context.Context, req *hv.DeleteSnapshotRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, err := s.snapshot(req.GetSnapshotId())
	if err != nil {
		return nil, err
	}
	s.snapshots.remove(sn.Id)
	return &emptypb.Empty{}, nil
}
