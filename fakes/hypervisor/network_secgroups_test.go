package hypervisor

import (
	"testing"

	"google.golang.org/grpc/codes"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

func TestSecurityRules(t *testing.T) {
	f := newNetFixture(t)
	sg := call(f.net.CreateSecurityGroup(ctx, &hv.CreateSecurityGroupRequest{Name: "web", TenantId: "t1"})).ok(t).GetSecurityGroup()
	peer := call(f.net.CreateSecurityGroup(ctx, &hv.CreateSecurityGroupRequest{Name: "peer", TenantId: "t2"})).ok(t).GetSecurityGroup()
	const (
		in  = hv.SecurityRuleDirection_SECURITY_RULE_DIRECTION_INGRESS
		out = hv.SecurityRuleDirection_SECURITY_RULE_DIRECTION_EGRESS
		v4  = hv.EtherType_ETHER_TYPE_IPV4
		v6  = hv.EtherType_ETHER_TYPE_IPV6
	)
	tests := []struct {
		name string
		req  *hv.AddSecurityRuleRequest
		code codes.Code
	}{
		{"ssh from cidr", &hv.AddSecurityRuleRequest{Direction: in, EtherType: v4, Protocol: "tcp", PortRangeMin: 22, PortRangeMax: 22, RemoteIpPrefix: "0.0.0.0/0"}, codes.OK},
		{"duplicate", &hv.AddSecurityRuleRequest{Direction: in, EtherType: v4, Protocol: "TCP", PortRangeMin: 22, PortRangeMax: 22, RemoteIpPrefix: "0.0.0.0/0"}, codes.AlreadyExists},
		{"any egress v6", &hv.AddSecurityRuleRequest{Direction: out, EtherType: v6}, codes.OK},
		{"icmp from group", &hv.AddSecurityRuleRequest{Direction: in, Protocol: "icmp", RemoteGroupId: peer.Id}, codes.OK},
		{"protocol number with ports", &hv.AddSecurityRuleRequest{Direction: in, Protocol: "17", PortRangeMin: 53, PortRangeMax: 53}, codes.OK},
		{"no direction", &hv.AddSecurityRuleRequest{Protocol: "tcp"}, codes.InvalidArgument},
		{"bad ether type", &hv.AddSecurityRuleRequest{Direction: in, EtherType: 5}, codes.InvalidArgument},
		{"bad protocol", &hv.AddSecurityRuleRequest{Direction: in, Protocol: "sctp-ish"}, codes.InvalidArgument},
		{"protocol number too big", &hv.AddSecurityRuleRequest{Direction: in, Protocol: "256"}, codes.InvalidArgument},
		{"min above max", &hv.AddSecurityRuleRequest{Direction: in, Protocol: "tcp", PortRangeMin: 90, PortRangeMax: 80}, codes.InvalidArgument},
		{"port above 65535", &hv.AddSecurityRuleRequest{Direction: in, Protocol: "udp", PortRangeMin: 1, PortRangeMax: 70000}, codes.InvalidArgument},
		{"ports on icmp", &hv.AddSecurityRuleRequest{Direction: in, Protocol: "icmp", PortRangeMin: 1, PortRangeMax: 2}, codes.InvalidArgument},
		{"bad prefix", &hv.AddSecurityRuleRequest{Direction: in, RemoteIpPrefix: "10.0.0.0/99"}, codes.InvalidArgument},
		{"prefix family mismatch", &hv.AddSecurityRuleRequest{Direction: in, EtherType: v6, RemoteIpPrefix: "10.0.0.0/8"}, codes.InvalidArgument},
		{"prefix and group", &hv.AddSecurityRuleRequest{Direction: in, RemoteIpPrefix: "10.0.0.0/8", RemoteGroupId: peer.Id}, codes.InvalidArgument},
		{"unknown remote group", &hv.AddSecurityRuleRequest{Direction: in, RemoteGroupId: "sg-nope"}, codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.SecurityGroupId = sg.Id
			_, err := f.net.AddSecurityRule(ctx, tt.req)
			wantCode(t, err, tt.code, "AddSecurityRule")
		})
	}
	_, err := f.net.AddSecurityRule(ctx, &hv.AddSecurityRuleRequest{SecurityGroupId: "sg-nope", Direction: in})
	wantCode(t, err, codes.NotFound, "AddSecurityRule unknown group")
	got := call(f.net.GetSecurityGroup(ctx, &hv.GetSecurityGroupRequest{SecurityGroupId: sg.Id})).ok(t).GetSecurityGroup()
	if len(got.Rules) != 4 || got.Rules[1].Protocol != "any" || got.Rules[2].EtherType != v4 {
		t.Fatalf("rules = %v", got.Rules)
	}
	_, err = f.net.RemoveSecurityRule(ctx, &hv.RemoveSecurityRuleRequest{SecurityGroupId: sg.Id, RuleId: "sgr-nope"})
	wantCode(t, err, codes.NotFound, "RemoveSecurityRule unknown rule")
	call(f.net.RemoveSecurityRule(ctx, &hv.RemoveSecurityRuleRequest{SecurityGroupId: sg.Id, RuleId: got.Rules[0].Id})).ok(t)

	// peer is the remote group of a rule in sg: it cannot go yet.
	_, err = f.net.DeleteSecurityGroup(ctx, &hv.DeleteSecurityGroupRequest{SecurityGroupId: peer.Id})
	wantCode(t, err, codes.FailedPrecondition, "DeleteSecurityGroup referenced by a rule")
	if l := call(f.net.ListSecurityGroups(ctx, &hv.ListSecurityGroupsRequest{TenantId: "t2"})).ok(t).GetSecurityGroups(); len(l) != 1 || l[0].Id != peer.Id {
		t.Fatalf("ListSecurityGroups(t2) = %v", l)
	}
	_, err = f.net.CreateSecurityGroup(ctx, &hv.CreateSecurityGroupRequest{})
	wantCode(t, err, codes.InvalidArgument, "CreateSecurityGroup without name")
}

func TestDeleteSecurityGroupRefusedWhileUsed(t *testing.T) {
	f := newNetFixture(t)
	nw := f.network(t, &hv.CreateNetworkRequest{Name: "n"})
	sg := call(f.net.CreateSecurityGroup(ctx, &hv.CreateSecurityGroupRequest{Name: "web"})).ok(t).GetSecurityGroup()
	p := call(f.net.CreatePort(ctx, &hv.CreatePortRequest{NetworkId: nw.Id, SecurityGroups: []string{sg.Id}})).ok(t).GetPort()
	_, err := f.net.DeleteSecurityGroup(ctx, &hv.DeleteSecurityGroupRequest{SecurityGroupId: sg.Id})
	wantCode(t, err, codes.FailedPrecondition, "DeleteSecurityGroup used by a port")
	call(f.net.DeletePort(ctx, &hv.DeletePortRequest{PortId: p.Id})).ok(t)
	call(f.net.DeleteSecurityGroup(ctx, &hv.DeleteSecurityGroupRequest{SecurityGroupId: sg.Id})).ok(t)
	_, err = f.net.GetSecurityGroup(ctx, &hv.GetSecurityGroupRequest{SecurityGroupId: sg.Id})
	wantCode(t, err, codes.NotFound, "GetSecurityGroup after delete")
}
