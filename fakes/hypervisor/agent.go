package hypervisor

import hypervisorv1 "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"

// agentService implements hypervisorv1.AgentServiceServer: the node-local
// view of the same instances the ComputeService manages.
type agentService struct {
	hypervisorv1.UnimplementedAgentServiceServer
	s *Server
}
