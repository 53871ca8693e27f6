package hypervisor

import hypervisorv1 "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"

// Temporary stand-ins so the package builds until network*.go and storage*.go
// land (their author deletes this file). No logic lives here.

type networkService struct {
	hypervisorv1.UnimplementedNetworkServiceServer
}

func newNetworkService(*Server) *networkService { return &networkService{} }

type storageService struct {
	hypervisorv1.UnimplementedStorageServiceServer
}

func newStorageService(*Server) *storageService { return &storageService{} }
