package hypervisor

import (
	"google.golang.org/grpc"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// Methods lists the full names ("/hypervisor.v1.ClusterService/RegisterNode")
// of every RPC in the contract, service by service, from the generated service
// descriptors.
func Methods() []string {
	var out []string
	for _, d := range []grpc.ServiceDesc{
		hv.ClusterService_ServiceDesc, hv.ComputeService_ServiceDesc, hv.AgentService_ServiceDesc,
		hv.NetworkService_ServiceDesc, hv.StorageService_ServiceDesc,
	} {
		for _, m := range d.Methods {
			out = append(out, "/"+d.ServiceName+"/"+m.MethodName)
		}
		for _, s := range d.Streams {
			out = append(out, "/"+d.ServiceName+"/"+s.StreamName)
		}
	}
	return out
}
