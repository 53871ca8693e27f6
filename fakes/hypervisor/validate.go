package hypervisor

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

var (
	hostnameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
	// instanceNameRE is a DNS label: instance names become guest hostnames.
	instanceNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	// labelKeyRE is [DNS subdomain prefix/]name as Kubernetes has label keys;
	// validMetadata also bounds the whole key to 317 bytes (253 + 1 + 63).
	labelKeyRE   = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$`)
	labelValueRE = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)?$`)
)

// invalid is an InvalidArgument status; see errf for how args are clipped.
func invalid(format string, args ...any) error {
	return errf(codes.InvalidArgument, format, args...)
}

// errf is a status with a formatted message. A string argument longer than
// maxEcho bytes is clipped to a short prefix and its length, so an error
// never echoes a huge field back to the client.
func errf(c codes.Code, format string, args ...any) error {
	args = append([]any(nil), args...) // never rewrite a caller's slice
	for i, a := range args {
		if s, ok := a.(string); ok && len(s) > maxEcho {
			args[i] = clip(s)
		}
	}
	return status.Error(c, fmt.Sprintf(format, args...))
}

// maxList bounds the repeated string fields an object keeps
// (security_groups, dns_servers, allocation_pools, supported_instance_types).
const maxList = 64

// validList refuses more than maxList entries in a repeated field.
func validList(field string, n int) error {
	if n > maxList {
		return invalid("%s has %d entries, more than %d", field, n, maxList)
	}
	return nil
}

// maxEcho is the longest client string an error message repeats whole.
const maxEcho = 64

// clip shortens s to its first maxEcho bytes (on a rune boundary) and notes
// how long it was.
func clip(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	cut := maxEcho
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s...(%d bytes)", s[:cut], len(s))
}

// validName checks an object name against the rule instance names follow:
// a lowercase DNS label (RFC 1123: a-z, 0-9 and '-', at most 63, starting and
// ending with a letter or digit). The contract gives no rule of its own for
// other objects; one rule for all keeps NUL, bidi overrides, path
// separators and kilobytes out of every name. An empty name is refused
// when required and otherwise allowed.
func validName(field, name string, required bool) error {
	if name == "" {
		if required {
			return invalid("%s is required", field)
		}
		return nil
	}
	if len(name) > 63 || !instanceNameRE.MatchString(name) {
		return invalid("%s %q must be a lowercase DNS label (a-z, 0-9, '-', at most 63)", field, name)
	}
	return nil
}

// validToken checks a free-form identifier that a client chooses (tenant_id,
// region, zone): at most 253 bytes of printable ASCII without spaces or
// '/' (no control characters, no bidi overrides, no paths). "" is allowed.
func validToken(field, v string) error {
	if len(v) > 253 {
		return invalid("%s %q is longer than 253 bytes", field, v)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f || c == '/' || c == '\\' {
			return invalid("%s %q may hold only printable ASCII without spaces, '/' or '\\'", field, v)
		}
	}
	return nil
}

// validDescription bounds a description (Limits.MaxDescriptionBytes) and
// keeps NUL and other control characters but tab and newline out of it.
func (s *Server) validDescription(field, v string) error {
	if max := s.opts.Limits.MaxDescriptionBytes; len(v) > max {
		return invalid("%s is %d bytes, more than %d (Limits.MaxDescriptionBytes)", field, len(v), max)
	}
	for _, r := range v {
		if (r < ' ' && r != '\t' && r != '\n') || r == 0x7f || isBidiControl(r) {
			return invalid("%s holds control character %U", field, r)
		}
	}
	return nil
}

// isBidiControl reports the Unicode bidirectional formatting characters
// (U+202A..U+202E, U+2066..U+2069, U+200E, U+200F, U+061C), which can make a
// name display as something it is not.
func isBidiControl(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f || r == 0x061c
}

// maxLabelKey is a DNS subdomain prefix, '/', and a 63-byte name.
const maxLabelKey = 253 + 1 + 63

// validMetadata checks labels and annotations: keys are label keys
// ([prefix/]name, as Kubernetes has them), label values at most 63 bytes of
// [A-Za-z0-9._-], at most Limits.MaxLabels of each, and at most
// Limits.MaxMetadataBytes of keys and values together.
func (s *Server) validMetadata(field string, labels, annotations map[string]string) error {
	lim := s.opts.Limits
	if len(labels) > lim.MaxLabels {
		return invalid("%s.labels has %d entries, more than %d (Limits.MaxLabels)", field, len(labels), lim.MaxLabels)
	}
	if len(annotations) > lim.MaxLabels {
		return invalid("%s.annotations has %d entries, more than %d (Limits.MaxLabels)", field, len(annotations), lim.MaxLabels)
	}
	size := 0
	for k, v := range labels {
		if len(k) > maxLabelKey || !labelKeyRE.MatchString(k) {
			return invalid("%s.labels key %q is not a valid label key", field, k)
		}
		if len(v) > 63 || !labelValueRE.MatchString(v) {
			return invalid("%s.labels value for %q must be at most 63 of [A-Za-z0-9._-], starting and ending alphanumeric", field, k)
		}
		size += len(k) + len(v)
	}
	for k, v := range annotations {
		if len(k) > maxLabelKey || !labelKeyRE.MatchString(k) {
			return invalid("%s.annotations key %q is not a valid annotation key", field, k)
		}
		size += len(k) + len(v)
	}
	if size > lim.MaxMetadataBytes {
		return invalid("%s is %d bytes of keys and values, more than %d (Limits.MaxMetadataBytes)", field, size, lim.MaxMetadataBytes)
	}
	return nil
}

// validPB checks a Metadata message (nil is fine).
func (s *Server) validPB(field string, md interface {
	GetLabels() map[string]string
	GetAnnotations() map[string]string
}) error {
	return s.validMetadata(field, md.GetLabels(), md.GetAnnotations())
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

func validInstanceName(name string) error { return validName("name", name, true) }

func validResources(field string, r *hv.Resources) error {
	if r.GetCpuCores() < 0 || r.GetMemoryBytes() < 0 || r.GetDiskBytes() < 0 || r.GetGpuCount() < 0 {
		return invalid("%s has a negative value", field)
	}
	return nil
}

func validNodeStatus(st hv.NodeStatus) error {
	if _, ok := hv.NodeStatus_name[int32(st)]; !ok {
		return invalid("unknown node status %d", st)
	}
	return nil
}

func validInstanceType(t hv.InstanceType, required bool) error {
	if _, ok := hv.InstanceType_name[int32(t)]; !ok {
		return invalid("unknown instance type %d", t)
	}
	if required && t == hv.InstanceType_INSTANCE_TYPE_UNSPECIFIED {
		return invalid("type is required (VM, CONTAINER or MICROVM)")
	}
	return nil
}

// parseInstanceType reads a supported_instance_types entry. Both the enum
// name ("INSTANCE_TYPE_VM") and its short form ("VM") are accepted, in any case.
func parseInstanceType(s string) (hv.InstanceType, bool) {
	u := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(u, "INSTANCE_TYPE_") {
		u = "INSTANCE_TYPE_" + u
	}
	v, ok := hv.InstanceType_value[u]
	if !ok || v == 0 {
		return 0, false
	}
	return hv.InstanceType(v), true
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
