package hypervisor

import (
	"context"

	"github.com/vmtestbed/vmtestbed/fakes/hypervisor/page"
	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// VXLAN tunnel endpoint constants: the IANA VXLAN port and the device name.
const (
	vtepPort      = 4789
	vtepInterface = "vxlan0"
	vtepStatusUp  = "UP"
)

// ListVTEPs returns one VTEP per READY node, at the node's IP, in node
// registration order.
func (n *networkService) ListVTEPs(context.Context, *hv.ListVTEPsRequest) (*hv.ListVTEPsResponse, error) {
	out := &hv.ListVTEPsResponse{}
	for _, node := range n.readyNodes() {
		out.Vteps = append(out.Vteps, &hv.VTEP{
			NodeId: node.GetId(), Ip: node.GetIp(), Port: vtepPort, Interface: vtepInterface,
			Status: vtepStatusUp, UpdatedAt: node.GetLastSeen(),
		})
	}
	return out, nil
}

// readyNodes snapshots the READY nodes under the server's lock. It never
// runs with n.mu held (lock order is n.mu before srv.mu).
func (n *networkService) readyNodes() []*hv.Node {
	s := n.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	var ready []*node
	for _, nd := range s.nodes {
		if nd.pb.GetStatus() == hv.NodeStatus_NODE_STATUS_READY {
			ready = append(ready, nd)
		}
	}
	page.Sort(ready, (*node).key)
	out := make([]*hv.Node, len(ready))
	for i, nd := range ready {
		out[i] = nd.snapshot()
	}
	return out
}
