package hypervisor

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/vmtestbed/vmtestbed/fakes/hypervisor/ipam"
	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

func (n *networkService) CreateSecurityGroup(_ context.Context, req *hv.CreateSecurityGroupRequest) (*hv.CreateSecurityGroupResponse, error) {
	if err := validName("name", req.GetName(), true); err != nil {
		return nil, err
	}
	if err := n.srv.validDescription("description", req.GetDescription()); err != nil {
		return nil, err
	}
	if err := validToken("tenant_id", req.GetTenantId()); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.full("security groups", len(n.groups.byID)); err != nil {
		return nil, err
	}
	now := n.stamp()
	g := &hv.SecurityGroup{
		Id: n.srv.newID("sg"), Name: req.GetName(), Description: req.GetDescription(),
		TenantId: req.GetTenantId(), CreatedAt: now, UpdatedAt: now,
	}
	n.groups.put(g.Id, g)
	return &hv.CreateSecurityGroupResponse{SecurityGroup: clone(g)}, nil
}

func (n *networkService) GetSecurityGroup(_ context.Context, req *hv.GetSecurityGroupRequest) (*hv.GetSecurityGroupResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	g, err := n.group(req.GetSecurityGroupId())
	if err != nil {
		return nil, err
	}
	return &hv.GetSecurityGroupResponse{SecurityGroup: clone(g)}, nil
}

// group looks a security group up; the caller holds n.mu.
func (n *networkService) group(id string) (*hv.SecurityGroup, error) {
	if err := required("security_group_id", id); err != nil {
		return nil, err
	}
	g, ok := n.groups.get(id)
	if !ok {
		return nil, errf(codes.NotFound, "security group %s not found", id)
	}
	return g, nil
}

func (n *networkService) ListSecurityGroups(_ context.Context, req *hv.ListSecurityGroupsRequest) (*hv.ListSecurityGroupsResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	all := n.groups.all(func(g *hv.SecurityGroup) bool {
		return req.GetTenantId() == "" || g.TenantId == req.GetTenantId()
	})
	return &hv.ListSecurityGroupsResponse{SecurityGroups: cloneAll(all)}, nil
}

func (n *networkService) DeleteSecurityGroup(_ context.Context, req *hv.DeleteSecurityGroupRequest) (*hv.DeleteSecurityGroupResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	g, err := n.group(req.GetSecurityGroupId())
	if err != nil {
		return nil, err
	}
	if ports := n.ports.all(func(p *hv.Port) bool { return slices.Contains(p.SecurityGroups, g.Id) }); len(ports) > 0 {
		return nil, errf(codes.FailedPrecondition, "security group %s is used by %d port(s), first %s", g.Id, len(ports), ports[0].Id)
	}
	for _, other := range n.groups.all(func(o *hv.SecurityGroup) bool { return o.Id != g.Id }) {
		for _, r := range other.Rules {
			if r.RemoteGroupId == g.Id {
				return nil, errf(codes.FailedPrecondition, "security group %s is the remote group of rule %s in group %s", g.Id, r.Id, other.Id)
			}
		}
	}
	n.groups.remove(g.Id)
	return &hv.DeleteSecurityGroupResponse{}, nil
}

// AddSecurityRule checks a rule. An unspecified ether_type means IPv4 and an
// empty protocol means "any"; ports 0..0 mean all ports.
func (n *networkService) AddSecurityRule(_ context.Context, req *hv.AddSecurityRuleRequest) (*hv.AddSecurityRuleResponse, error) {
	rule, err := checkRule(req)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	g, err := n.group(req.GetSecurityGroupId())
	if err != nil {
		return nil, err
	}
	if id := rule.RemoteGroupId; id != "" && id != g.Id {
		if _, ok := n.groups.get(id); !ok {
			return nil, errf(codes.NotFound, "remote security group %s not found", id)
		}
	}
	if err := n.full("rules in security group "+g.Id, len(g.Rules)); err != nil {
		return nil, err
	}
	rule.SecurityGroupId = g.Id
	for _, r := range g.Rules {
		if sameRule(r, rule) {
			return nil, errf(codes.AlreadyExists, "security group %s already has this rule as %s", g.Id, r.Id)
		}
	}
	rule.Id = n.srv.newID("sgr")
	g.Rules = append(g.Rules, rule)
	g.UpdatedAt = n.stamp()
	return &hv.AddSecurityRuleResponse{Rule: clone(rule)}, nil
}

func sameRule(a, b *hv.SecurityGroupRule) bool {
	x, y := clone(a), clone(b)
	x.Id, y.Id = "", ""
	return proto.Equal(x, y)
}

// checkRule validates and normalises a rule request.
func checkRule(req *hv.AddSecurityRuleRequest) (*hv.SecurityGroupRule, error) {
	switch req.GetDirection() {
	case hv.SecurityRuleDirection_SECURITY_RULE_DIRECTION_INGRESS, hv.SecurityRuleDirection_SECURITY_RULE_DIRECTION_EGRESS:
	default:
		return nil, errf(codes.InvalidArgument, "direction %v is not INGRESS or EGRESS", req.GetDirection())
	}
	ether := req.GetEtherType()
	switch ether {
	case hv.EtherType_ETHER_TYPE_UNSPECIFIED:
		ether = hv.EtherType_ETHER_TYPE_IPV4
	case hv.EtherType_ETHER_TYPE_IPV4, hv.EtherType_ETHER_TYPE_IPV6:
	default:
		return nil, errf(codes.InvalidArgument, "ether_type %v is not IPV4 or IPV6", ether)
	}
	protocol, ported, err := checkProtocol(req.GetProtocol())
	if err != nil {
		return nil, err
	}
	lo, hi := req.GetPortRangeMin(), req.GetPortRangeMax()
	switch {
	case (lo != 0 || hi != 0) && !ported:
		return nil, errf(codes.InvalidArgument, "port range %d-%d given for protocol %q; only tcp and udp have ports", lo, hi, protocol)
	case lo > hi:
		return nil, errf(codes.InvalidArgument, "port_range_min %d is above port_range_max %d", lo, hi)
	case hi > 65535:
		return nil, errf(codes.InvalidArgument, "port_range_max %d is above 65535", hi)
	}
	prefix := req.GetRemoteIpPrefix()
	if prefix != "" {
		p, err := ipam.ParsePrefix(prefix)
		if err != nil {
			return nil, errf(codes.InvalidArgument, "remote_ip_prefix: %v", err)
		}
		if p.Addr().Is4() != (ether == hv.EtherType_ETHER_TYPE_IPV4) {
			return nil, errf(codes.InvalidArgument, "remote_ip_prefix %s does not match ether_type %v", p, ether)
		}
		prefix = p.String()
		if req.GetRemoteGroupId() != "" {
			return nil, errf(codes.InvalidArgument, "give remote_ip_prefix or remote_group_id, not both")
		}
	}
	return &hv.SecurityGroupRule{
		Direction: req.GetDirection(), EtherType: ether, Protocol: protocol,
		PortRangeMin: lo, PortRangeMax: hi, RemoteIpPrefix: prefix, RemoteGroupId: req.GetRemoteGroupId(),
	}, nil
}

// checkProtocol accepts tcp, udp, icmp, any ("" is any) or an IP protocol
// number 0..255, and reports whether the protocol has ports.
func checkProtocol(p string) (string, bool, error) {
	p = strings.ToLower(p)
	switch p {
	case "", "any":
		return "any", false, nil
	case "tcp", "udp":
		return p, true, nil
	case "icmp":
		return p, false, nil
	}
	num, err := strconv.ParseUint(p, 10, 8)
	if err != nil {
		return "", false, errf(codes.InvalidArgument, "protocol %q is not tcp, udp, icmp, any or a number 0..255", p)
	}
	return p, num == 6 || num == 17, nil
}

func (n *networkService) RemoveSecurityRule(_ context.Context, req *hv.RemoveSecurityRuleRequest) (*hv.RemoveSecurityRuleResponse, error) {
	if err := required("rule_id", req.GetRuleId()); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	g, err := n.group(req.GetSecurityGroupId())
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(g.Rules, func(r *hv.SecurityGroupRule) bool { return r.Id == req.GetRuleId() })
	if i < 0 {
		return nil, errf(codes.NotFound, "rule %s not found in security group %s", req.GetRuleId(), g.Id)
	}
	g.Rules = slices.Delete(g.Rules, i, i+1)
	g.UpdatedAt = n.stamp()
	return &hv.RemoveSecurityRuleResponse{}, nil
}
