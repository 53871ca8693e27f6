package hypervisorv1_test

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const pkg = "hypervisor.v1"

// contract reads testdata/hypervisor.v1.wire.txt: the file order (from the
// "### name.proto" headers) and the non-comment lines of each file.
func contract(t *testing.T) (order []string, lines map[string][]string) {
	t.Helper()
	f, err := os.Open("testdata/hypervisor.v1.wire.txt")
	if err != nil {
		t.Fatalf("open contract: %v", err)
	}
	defer f.Close()
	lines = map[string][]string{}
	cur := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if name, ok := strings.CutPrefix(l, "### "); ok {
			cur = strings.TrimSpace(name)
			order = append(order, cur)
			continue
		}
		if strings.HasPrefix(l, "#") || strings.TrimSpace(l) == "" {
			continue
		}
		if cur == "" {
			t.Fatalf("contract line before any ### header: %q", l)
		}
		lines[cur] = append(lines[cur], l)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read contract: %v", err)
	}
	return order, lines
}

// typeName renders a message or enum name the way the contract does: short
// inside hypervisor.v1, full otherwise; Empty is spelled "Empty" in RPC lines.
func typeName(full protoreflect.FullName) string {
	if full.Parent() == pkg {
		return string(full.Name())
	}
	return string(full)
}

func kindName(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return typeName(fd.Message().FullName())
	case protoreflect.EnumKind:
		return typeName(fd.Enum().FullName())
	default:
		return fd.Kind().String()
	}
}

func renderField(fd protoreflect.FieldDescriptor) string {
	var typ string
	switch {
	case fd.IsMap():
		typ = fmt.Sprintf("map<%s,%s>", kindName(fd.MapKey()), kindName(fd.MapValue()))
	case fd.IsList():
		typ = "rep " + kindName(fd)
	default:
		typ = kindName(fd)
	}
	s := fmt.Sprintf("%d %s:%s", fd.Number(), fd.Name(), typ)
	if oo := fd.ContainingOneof(); oo != nil && !oo.IsSynthetic() {
		s += fmt.Sprintf(" (oneof %s)", oo.Name())
	}
	return s
}

func rpcType(md protoreflect.MessageDescriptor, streaming bool) string {
	name := typeName(md.FullName())
	if md.FullName() == "google.protobuf.Empty" {
		name = "Empty"
	}
	if streaming {
		return "stream " + name
	}
	return name
}

// render turns one compiled file descriptor into contract lines:
// services with their RPCs, then enums, then messages.
func render(fd protoreflect.FileDescriptor) []string {
	var out []string
	for i := range fd.Services().Len() {
		sd := fd.Services().Get(i)
		out = append(out, fmt.Sprintf("service %s (%d)", sd.Name(), sd.Methods().Len()))
		for j := range sd.Methods().Len() {
			m := sd.Methods().Get(j)
			out = append(out, fmt.Sprintf("  %s(%s) -> %s", m.Name(),
				rpcType(m.Input(), m.IsStreamingClient()), rpcType(m.Output(), m.IsStreamingServer())))
		}
	}
	for i := range fd.Enums().Len() {
		ed := fd.Enums().Get(i)
		var vals []string
		for j := range ed.Values().Len() {
			v := ed.Values().Get(j)
			vals = append(vals, fmt.Sprintf("%s=%d", v.Name(), v.Number()))
		}
		out = append(out, fmt.Sprintf("enum %s: %s", ed.Name(), strings.Join(vals, " ")))
	}
	for i := range fd.Messages().Len() {
		md := fd.Messages().Get(i)
		var fields []string
		for j := range md.Fields().Len() {
			fields = append(fields, renderField(md.Fields().Get(j)))
		}
		out = append(out, fmt.Sprintf("msg %s{%s}", md.Name(), strings.Join(fields, "; ")))
	}
	return out
}

func TestDescriptorsMatchWireContract(t *testing.T) {
	order, want := contract(t)
	if len(order) == 0 {
		t.Fatal("contract has no ### file sections")
	}
	seen := map[string]bool{}
	for _, name := range order {
		seen[name] = true
		fd, err := protoregistry.GlobalFiles.FindFileByPath("hypervisor/v1/" + name)
		if err != nil {
			t.Errorf("contract file %s has no compiled descriptor: %v", name, err)
			continue
		}
		if fd.Package() != pkg {
			t.Errorf("%s: package %s, contract says %s", name, fd.Package(), pkg)
		}
		for _, p := range diffLines(name, want[name], render(fd)) {
			t.Error(p)
		}
	}
	// Every compiled hypervisor.v1 file must be in the contract.
	protoregistry.GlobalFiles.RangeFilesByPackage(pkg, func(fd protoreflect.FileDescriptor) bool {
		name := strings.TrimPrefix(fd.Path(), "hypervisor/v1/")
		if !seen[name] {
			t.Errorf("compiled file %s is not in the contract", fd.Path())
		}
		return true
	})
}

// diffLines lists lines missing from got, extra in got, and order drift.
func diffLines(file string, want, got []string) []string {
	var probs []string
	inGot := map[string]bool{}
	for _, l := range got {
		inGot[l] = true
	}
	inWant := map[string]bool{}
	for _, l := range want {
		inWant[l] = true
		if !inGot[l] {
			probs = append(probs, fmt.Sprintf("%s: contract line missing from descriptors:\n  %s", file, l))
		}
	}
	for _, l := range got {
		if !inWant[l] {
			probs = append(probs, fmt.Sprintf("%s: descriptor line not in contract:\n  %s", file, l))
		}
	}
	if len(probs) == 0 && strings.Join(want, "\n") != strings.Join(got, "\n") {
		probs = append(probs, file+": same lines but in a different order")
	}
	return probs
}

// TestDriftIsDetected proves the comparison can fail: a changed field number,
// a dropped RPC and swapped lines are each reported.
func TestDriftIsDetected(t *testing.T) {
	fd, err := protoregistry.GlobalFiles.FindFileByPath("hypervisor/v1/compute.proto")
	if err != nil {
		t.Fatal(err)
	}
	got := render(fd)
	mutations := map[string]func([]string) []string{
		"field number": func(w []string) []string {
			for i, l := range w {
				if strings.HasPrefix(l, "msg ConsoleData{") {
					w[i] = "msg ConsoleData{2 data:bytes}"
				}
			}
			return w
		},
		"dropped rpc": func(w []string) []string { return append(w[:1:1], w[2:]...) },
		"swapped":     func(w []string) []string { w[1], w[2] = w[2], w[1]; return w },
	}
	for name, mutate := range mutations {
		want := mutate(append([]string(nil), got...))
		if probs := diffLines("compute.proto", want, got); len(probs) == 0 {
			t.Errorf("%s: drift not detected", name)
		}
	}
}

func TestRPCCount(t *testing.T) {
	want := map[string]int{"ClusterService": 8, "ComputeService": 12, "AgentService": 9, "NetworkService": 37, "StorageService": 13}
	total := 0
	protoregistry.GlobalFiles.RangeFilesByPackage(pkg, func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			if n, ok := want[string(sd.Name())]; !ok || n != sd.Methods().Len() {
				t.Errorf("service %s has %d RPCs, want %d", sd.Name(), sd.Methods().Len(), n)
			}
			total += sd.Methods().Len()
		}
		return true
	})
	if total != 79 {
		t.Errorf("total RPCs %d, want 79", total)
	}
}
