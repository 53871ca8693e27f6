package hypervisor

import (
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// placement is what an instance asks of a node.
type placement struct {
	typ          hv.InstanceType
	cpu          int32
	mem          int64
	region, zone string
}

// fits explains why n cannot take p: a FailedPrecondition reason (wrong
// status, role, type, region or zone) or a ResourceExhausted one (not enough
// free cpu or memory). It returns codes.OK when n fits.
//
// A node supports a type when supported_instance_types lists it, by enum
// name ("INSTANCE_TYPE_VM") or short name ("VM"), in any case; a node with an
// empty list supports every type.
func fits(n *hv.Node, p placement) (codes.Code, string) {
	switch {
	case n.Status != hv.NodeStatus_NODE_STATUS_READY:
		return codes.FailedPrecondition, fmt.Sprintf("node %s is %v, not READY", n.Id, n.Status)
	case n.Role != hv.NodeRole_NODE_ROLE_WORKER:
		return codes.FailedPrecondition, fmt.Sprintf("node %s is not a WORKER", n.Id)
	case !supportsType(n, p.typ):
		return codes.FailedPrecondition, fmt.Sprintf("node %s does not support %v", n.Id, p.typ)
	case p.region != "" && n.Region != p.region:
		return codes.FailedPrecondition, fmt.Sprintf("node %s is in region %q, not %q", n.Id, n.Region, clip(p.region))
	case p.zone != "" && n.Zone != p.zone:
		return codes.FailedPrecondition, fmt.Sprintf("node %s is in zone %q, not %q", n.Id, n.Zone, clip(p.zone))
	}
	cpu, mem := freeResources(n)
	if cpu < p.cpu || mem < p.mem {
		return codes.ResourceExhausted, fmt.Sprintf("node %s has %d cores and %d bytes free, need %d and %d", n.Id, cpu, mem, p.cpu, p.mem)
	}
	return codes.OK, ""
}

func supportsType(n *hv.Node, t hv.InstanceType) bool {
	if len(n.SupportedInstanceTypes) == 0 {
		return true
	}
	for _, name := range n.SupportedInstanceTypes {
		if got, ok := parseInstanceType(name); ok && got == t {
			return true
		}
	}
	return false
}

// schedule picks a node for p. With a preferred node it is that node or an
// error (NotFound, FailedPrecondition, ResourceExhausted). Otherwise it is
// the fitting node with the most free memory (ties: earliest registered),
// or ResourceExhausted when none fits. Call with s.mu held.
func (s *Server) schedule(p placement, preferred string) (*node, error) {
	if preferred != "" {
		n, ok := s.nodes[preferred]
		if !ok {
			return nil, errf(codes.NotFound, "preferred node %q not found", preferred)
		}
		if code, why := fits(n.pb, p); code != codes.OK {
			return nil, status.Error(code, "preferred "+why)
		}
		return n, nil
	}
	var best *node
	var bestMem int64
	for _, n := range s.nodes {
		if code, _ := fits(n.pb, p); code != codes.OK {
			continue
		}
		_, mem := freeResources(n.pb)
		if best == nil || mem > bestMem || (mem == bestMem && n.seq < best.seq) {
			best, bestMem = n, mem
		}
	}
	if best == nil {
		return nil, errf(codes.ResourceExhausted,
			"no READY WORKER node supporting %v in region %q zone %q has %d cores and %d bytes free",
			p.typ, p.region, p.zone, p.cpu, p.mem)
	}
	return best, nil
}
