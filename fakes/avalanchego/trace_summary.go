package avalanchego

import (
	"encoding/hex"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Summarize renders a message briefly: set fields only, ids (20 or 32
// bytes) as the first 8 hex digits, other bytes as lengths, nested messages
// one level deep, lists as counts.
func Summarize(m any) string {
	switch v := m.(type) {
	case nil:
		return ""
	case string:
		return shorten(v, 80)
	case proto.Message:
		return summarizeMsg(v.ProtoReflect(), 0)
	default:
		return shorten(fmt.Sprint(v), 80)
	}
}

func summarizeMsg(m protoreflect.Message, depth int) string {
	if !m.IsValid() {
		return "{}"
	}
	full := m.Descriptor().FullName()
	if full == "google.protobuf.Timestamp" || full == "google.protobuf.Duration" {
		return timeLike(m)
	}
	if depth > 1 {
		return "{…}"
	}
	// Fields in declaration order: Range's order is unspecified (protobuf-go
	// varies it from one binary to the next), and traces must be repeatable.
	var parts []string
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if m.Has(fd) {
			parts = append(parts, string(fd.Name())+"="+summarizeValue(fd, m.Get(fd), depth))
		}
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func summarizeValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, depth int) string {
	switch {
	case fd.IsList():
		return fmt.Sprintf("[%d]", v.List().Len())
	case fd.IsMap():
		return fmt.Sprintf("map[%d]", v.Map().Len())
	}
	switch fd.Kind() {
	case protoreflect.BytesKind:
		return summarizeBytes(v.Bytes())
	case protoreflect.StringKind:
		return fmt.Sprintf("%q", shorten(v.String(), 40))
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return summarizeMsg(v.Message(), depth+1)
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return fmt.Sprint(v.Enum())
	default:
		return fmt.Sprint(v.Interface())
	}
}

func summarizeBytes(b []byte) string {
	if len(b) == 20 || len(b) == 32 {
		return hex.EncodeToString(b[:4])
	}
	return fmt.Sprintf("<%dB>", len(b))
}

func timeLike(m protoreflect.Message) string {
	fields := m.Descriptor().Fields()
	secs := m.Get(fields.ByName("seconds")).Int()
	nanos := m.Get(fields.ByName("nanos")).Int()
	if m.Descriptor().FullName() == "google.protobuf.Duration" {
		return fmt.Sprintf("%ds", secs)
	}
	if nanos == 0 {
		return fmt.Sprintf("t%d", secs)
	}
	return fmt.Sprintf("t%d.%09d", secs, nanos)
}

func shorten(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
