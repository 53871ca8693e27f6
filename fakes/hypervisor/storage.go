package hypervisor

import (
	"sync"

	"google.golang.org/grpc/codes"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// storageService is the in-memory StorageService.
//
// Transient states (volume CREATING and EXTENDING, snapshot CREATING) are
// shown in the response of the call that starts them and settle as soon as
// the call returns: every later read sees AVAILABLE (or IN_USE), and a
// snapshot's progress_percent 100. This keeps the fake deterministic
// without a background clock while clients still see the transition.
type storageService struct {
	hv.UnimplementedStorageServiceServer

	srv *Server
	mu  sync.Mutex

	volumes   *table[*hv.Volume]
	snapshots *table[*hv.Snapshot]
	used      int64 // bytes of all volumes (Limits.StorageCapacityBytes)
	// names indexes named volumes by tenant and name (unique, see nameFree).
	names map[volumeName]string
}

type volumeName struct{ tenant, name string }

func newStorageService(s *Server) *storageService {
	return &storageService{
		srv:       s,
		volumes:   newTable[*hv.Volume](),
		snapshots: newTable[*hv.Snapshot](),
		names:     map[volumeName]string{},
	}
}

var _ hv.StorageServiceServer = (*storageService)(nil)

// volume looks a volume up; the caller holds s.mu.
func (s *storageService) volume(id string) (*hv.Volume, error) {
	if err := required("volume_id", id); err != nil {
		return nil, err
	}
	v, ok := s.volumes.get(id)
	if !ok {
		return nil, errf(codes.NotFound, "volume %s not found", id)
	}
	return v, nil
}

// snapshot looks a snapshot up; the caller holds s.mu.
func (s *storageService) snapshot(id string) (*hv.Snapshot, error) {
	if err := required("snapshot_id", id); err != nil {
		return nil, err
	}
	sn, ok := s.snapshots.get(id)
	if !ok {
		return nil, errf(codes.NotFound, "snapshot %s not found", id)
	}
	return sn, nil
}

// matchLabels reports whether md carries every label of sel.
func matchLabels(md *hv.Metadata, sel map[string]string) bool {
	for k, v := range sel {
		if got, ok := md.GetLabels()[k]; !ok || got != v {
			return false
		}
	}
	return true
}
