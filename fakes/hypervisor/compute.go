package hypervisor

import hypervisorv1 "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"

// computeService implements hypervisorv1.ComputeServiceServer over Server state.
type computeService struct {
	hypervisorv1.UnimplementedComputeServiceServer
	s *Server
}
