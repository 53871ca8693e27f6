package hypervisor

import (
	"net"
	"regexp"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hypervisorv1 "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

var (
	hostnameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
	// instanceNameRE is a DNS label: instance names become guest hostnames.
	instanceNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	labelKeyRE     = regexp.MustCompile(`^([a-z0-9.-]{1,253}/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$`)
)

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func validHostname(h string) error {
	if h == "" {
		return invalid("hostname is required")
	}
	if len(h) > 253 || !hostnameRE.MatchString(h) {
		return invalid("hostname %q is not a valid lowercase DNS name", h)
	}
	return nil
}

func validIP(ip string) error {
	if ip == "" {
		return invalid("ip is required")
	}
	if net.ParseIP(ip) == nil {
		return invalid("ip %q is not an IPv4 or IPv6 address", ip)
	}
	return nil
}

func validInstanceName(name string) error {
	if name == "" {
		return invalid("name is required")
	}
	if !instanceNameRE.MatchString(name) {
		return invalid("name %q must be a lowercase DNS label (a-z, 0-9, '-', at most 63)", name)
	}
	return nil
}

func validLabels(field string, labels map[string]string) error {
	for k, v := range labels {
		if !labelKeyRE.MatchString(k) {
			return invalid("%s key %q is not a valid label key", field, k)
		}
		if len(v) > 63 {
			return invalid("%s value for %q is longer than 63 characters", field, k)
		}
	}
	return nil
}

func validResources(field string, r *hypervisorv1.Resources) error {
	if r.GetCpuCores() < 0 || r.GetMemoryBytes() < 0 || r.GetDiskBytes() < 0 || r.GetGpuCount() < 0 {
		return invalid("%s has a negative value", field)
	}
	return nil
}

func validNodeStatus(st hypervisorv1.NodeStatus) error {
	if _, ok := hypervisorv1.NodeStatus_name[int32(st)]; !ok {
		return invalid("unknown node status %d", st)
	}
	return nil
}

func validInstanceType(t hypervisorv1.InstanceType, required bool) error {
	if _, ok := hypervisorv1.InstanceType_name[int32(t)]; !ok {
		return invalid("unknown instance type %d", t)
	}
	if required && t == hypervisorv1.InstanceType_INSTANCE_TYPE_UNSPECIFIED {
		return invalid("type is required (VM, CONTAINER or MICROVM)")
	}
	return nil
}

// parseInstanceType reads a supported_instance_types entry. Both the enum
// name ("INSTANCE_TYPE_VM") and its short form ("VM") are accepted, in any case.
func parseInstanceType(s string) (hypervisorv1.InstanceType, bool) {
	u := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(u, "INSTANCE_TYPE_") {
		u = "INSTANCE_TYPE_" + u
	}
	v, ok := hypervisorv1.InstanceType_value[u]
	if !ok || v == 0 {
		return 0, false
	}
	return hypervisorv1.InstanceType(v), true
}

// labelsMatch reports whether every selector pair is present in labels.
func labelsMatch(labels, selector map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
