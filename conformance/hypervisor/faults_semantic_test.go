package hypervisor_test

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	conform "github.com/vmtestbed/vmtestbed/conformance/hypervisor"
	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// Semantic faults: the server stays up and answers every call, and some
// answers are wrong in meaning. Each is one interceptor on the fake.

// unary is a fault made of one unary interceptor.
func unary(f grpc.UnaryServerInterceptor) []grpc.ServerOption {
	return []grpc.ServerOption{grpc.UnaryInterceptor(f)}
}

// afterOK is a fault made of one unary interceptor that runs the handler
// and, when it answered without an error, lets edit change the reply; edit
// gets the bare method name, the request and the reply.
func afterOK(edit func(name string, req, resp any)) []grpc.ServerOption {
	return unary(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		if err == nil {
			edit(method(info.FullMethod), req, resp)
		}
		return resp, err
	})
}

// answerEmpty is a fault made of one unary interceptor: the methods match
// takes (by bare name) answer an empty reply without running the handler.
func answerEmpty(match func(name string) bool) []grpc.ServerOption {
	return unary(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if match(method(info.FullMethod)) {
			return emptyReply(info.FullMethod)
		}
		return h(ctx, req)
	})
}

// streamWrap is a fault made of one stream interceptor that wraps the
// server stream of the method with the bare name name.
func streamWrap(name string, wrap func(grpc.ServerStream) grpc.ServerStream) []grpc.ServerOption {
	return []grpc.ServerOption{grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if method(info.FullMethod) == name {
			return h(srv, wrap(ss))
		}
		return h(srv, ss)
	})}
}

// method is the bare method name of a full one ("/pkg.Svc/Name" -> "Name").
func method(full string) string { return full[strings.LastIndexByte(full, '/')+1:] }

// emptyReply returns an empty message of the reply type of the full method.
func emptyReply(full string) (proto.Message, error) {
	md, err := conform.MethodDescriptor(full)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "fault: %v", err)
	}
	m, err := conform.NewMessage(md.Output())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "fault: %v", err)
	}
	return m, nil
}

// listField is the repeated message field of a list reply (its items).
func listField(m protoreflect.Message) protoreflect.FieldDescriptor {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		if f := fields.Get(i); f.IsList() && f.Kind() == protoreflect.MessageKind {
			return f
		}
	}
	return nil
}

// setString sets the string field name of m, when m has one.
func setString(m protoreflect.Message, name string, edit func(string) string) bool {
	f := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if f == nil || f.Kind() != protoreflect.StringKind || f.IsList() {
		return false
	}
	m.Set(f, protoreflect.ValueOfString(edit(m.Get(f).String())))
	return true
}

// consoleGarbled flips the case of every letter the console sends.
type consoleGarbled struct{ grpc.ServerStream }

func (c consoleGarbled) SendMsg(m any) error {
	if pm, ok := m.(proto.Message); ok {
		r := pm.ProtoReflect()
		if f := r.Descriptor().Fields().ByName("data"); f != nil && f.Kind() == protoreflect.BytesKind {
			b := append([]byte(nil), r.Get(f).Bytes()...)
			for i, c := range b {
				if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
					b[i] = c ^ 0x20
				}
			}
			r.Set(f, protoreflect.ValueOfBytes(b))
		}
	}
	return c.ServerStream.SendMsg(m)
}

// pullStopsShort ends a pull one byte short of its total.
type pullStopsShort struct{ grpc.ServerStream }

func (p pullStopsShort) SendMsg(m any) error {
	if pr, ok := m.(*hv.PullImageProgress); ok && pr.GetCompleted() && pr.GetTotal() > 0 {
		pr.Current = pr.GetTotal() - 1
	}
	return p.ServerStream.SendMsg(m)
}

// notFoundEndsCleanly ends a watch of an unknown object without an error.
func notFoundEndsCleanly(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	err := h(srv, ss)
	if status.Code(err) == codes.NotFound {
		return nil
	}
	return err
}

func init() {
	var reads atomic.Int64
	faults = append(faults, fault{
		name: "list-drops-last", semantic: true,
		wantFail: []string{"HV-CLU-008", "HV-CMP-013", "HV-CMP-014", "HV-AGT-001", "HV-NET-001", "HV-NET-004", "HV-NET-006", "HV-NET-010", "HV-NET-014", "HV-NET-015", "HV-STO-005", "HV-STO-007", "HV-PAG-001", "HV-PAG-003", "HV-PAG-005", "HV-PAG-007"},
		what:     "every list reply loses its last item",
		opts: afterOK(func(name string, _, resp any) {
			if m, ok := resp.(proto.Message); ok && strings.HasPrefix(name, "List") {
				r := m.ProtoReflect()
				if f := listField(r); f != nil && r.Get(f).List().Len() > 0 {
					l := r.Mutable(f).List()
					l.Truncate(l.Len() - 1)
				}
			}
		}),
	}, fault{
		name: "total-count-is-page-length", semantic: true,
		wantFail: []string{"HV-PAG-001", "HV-PAG-005"},
		what:     "total_count counts the items of the page, not every match",
		opts: afterOK(func(_ string, _, resp any) {
			if m, ok := resp.(proto.Message); ok {
				r := m.ProtoReflect()
				if tc, items := r.Descriptor().Fields().ByName("total_count"), listField(r); tc != nil && items != nil {
					switch tc.Kind() {
					case protoreflect.Int32Kind:
						r.Set(tc, protoreflect.ValueOfInt32(int32(r.Get(items).List().Len())))
					case protoreflect.Int64Kind:
						r.Set(tc, protoreflect.ValueOfInt64(int64(r.Get(items).List().Len())))
					}
				}
			}
		}),
	}, fault{
		name: "invalid-argument-accepted", semantic: true,
		wantFail: []string{"HV-CLU-003", "HV-CMP-005", "HV-NET-002", "HV-NET-005", "HV-NET-011", "HV-STO-002", "HV-STO-004", "HV-STO-006", "HV-PAG-004", "HV-PAG-006", "HV-ERR-003"},
		what:     "what the server refuses with InvalidArgument is answered OK (an empty reply)",
		opts: unary(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			resp, err := h(ctx, req)
			if status.Code(err) == codes.InvalidArgument {
				return emptyReply(info.FullMethod)
			}
			return resp, err
		}),
	}, fault{
		name: "delete-is-noop", semantic: true,
		wantFail: []string{"HV-CLU-004", "HV-CMP-009", "HV-AGT-006", "HV-NET-001", "HV-NET-004", "HV-STO-001", "HV-ERR-001"},
		// Nothing is ever deleted: cleanup and waits for a deletion fail
		// slowly, so only the delete specs run.
		focus: `HV-(CLU-004|CMP-009|NET-001|NET-004|STO-001|AGT-006|ERR-001)`,
		what:  "Delete and Deregister answer OK and keep the object",
		opts: answerEmpty(func(name string) bool {
			return strings.HasPrefix(name, "Delete") || name == "DeregisterNode"
		}),
	}, fault{
		name: "delete-unknown-ok", semantic: true,
		wantFail: []string{"HV-AGT-006", "HV-ERR-001", "HV-CLU-010"},
		what:     "Delete and Deregister of an unknown id answer OK, not NotFound",
		opts: unary(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			resp, err := h(ctx, req)
			if m := method(info.FullMethod); status.Code(err) == codes.NotFound && (strings.HasPrefix(m, "Delete") || m == "DeregisterNode") {
				return emptyReply(info.FullMethod)
			}
			return resp, err
		}),
	}, fault{
		name: "get-renames", semantic: true,
		wantFail: []string{"HV-CLU-001", "HV-CMP-001", "HV-AGT-001"},
		what:     "Get replies carry another name or hostname than the object has",
		opts: afterOK(func(name string, _, resp any) {
			if m, ok := resp.(proto.Message); ok && strings.HasPrefix(name, "Get") {
				r := m.ProtoReflect()
				if !setString(r, "hostname", func(s string) string { return s + "-stale" }) {
					setString(r, "name", func(s string) string { return s + "-stale" })
				}
			}
		}),
	}, fault{
		name: "reads-alternate", semantic: true,
		wantFail: []string{"HV-ERR-004"},
		what:     "every other GetNode, GetInstance and GetVolume reply carries another name",
		opts: afterOK(func(name string, _, resp any) {
			switch name {
			case "GetNode", "GetInstance", "GetVolume":
				if m, ok := resp.(proto.Message); ok && reads.Add(1)%2 == 0 {
					r := m.ProtoReflect()
					if !setString(r, "hostname", func(s string) string { return s + "~" }) {
						setString(r, "name", func(s string) string { return s + "~" })
					}
				}
			}
		}),
	}, fault{
		name: "transitions-ignored", semantic: true,
		wantFail: []string{"HV-CMP-002", "HV-CMP-003", "HV-AGT-003"},
		focus:    `HV-(CMP-00[23]|AGT-003)`,
		what:     "Start, Stop and Restart of an instance answer OK and change nothing",
		opts: unary(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			switch method(info.FullMethod) {
			case "StartInstance", "StopInstance", "RestartInstance":
				id, _ := req.(interface{ GetInstanceId() string })
				if compute, ok := info.Server.(hv.ComputeServiceServer); ok && id != nil {
					return compute.GetInstance(ctx, &hv.GetInstanceRequest{InstanceId: id.GetInstanceId()})
				}
				if agent, ok := info.Server.(hv.AgentServiceServer); ok && id != nil {
					return agent.GetInstance(ctx, &hv.AgentInstanceRequest{InstanceId: id.GetInstanceId()})
				}
			}
			return h(ctx, req)
		}),
	}, fault{
		name: "stats-name-another-instance", semantic: true,
		wantFail: []string{"HV-CMP-010", "HV-AGT-004"},
		what:     "GetInstanceStats names another instance",
		opts: afterOK(func(_ string, _, resp any) {
			if s, ok := resp.(*hv.InstanceStats); ok {
				s.InstanceId += "-other"
			}
		}),
	}, fault{
		name: "console-garbled", semantic: true,
		wantFail: []string{"HV-AGT-005"},
		focus:    `HV-(CMP-011|AGT-005)`,
		what:     "AttachConsole output has the case of every letter flipped",
		opts:     streamWrap("AttachConsole", func(ss grpc.ServerStream) grpc.ServerStream { return consoleGarbled{ss} }),
	}, fault{
		name: "pull-stops-short", semantic: true,
		wantFail: []string{"HV-CMP-013"},
		what:     "PullImage reports completed one byte short of the total",
		opts:     streamWrap("PullImage", func(ss grpc.ServerStream) grpc.ServerStream { return pullStopsShort{ss} }),
	}, fault{
		name: "watch-unknown-ends-ok", semantic: true,
		wantFail: []string{"HV-WAT-004"},
		what:     "a watch of an unknown object ends with OK, not NotFound",
		opts:     []grpc.ServerOption{grpc.StreamInterceptor(notFoundEndsCleanly)},
	}, fault{
		name: "resource-exhausted-becomes-unavailable", semantic: true,
		wantFail: []string{"HV-CMP-006", "HV-NET-007"},
		what:     "ResourceExhausted is answered as Unavailable",
		opts: unary(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			resp, err := h(ctx, req)
			if status.Code(err) == codes.ResourceExhausted {
				return nil, status.Error(codes.Unavailable, "try again later")
			}
			return resp, err
		}),
	}, fault{
		name: "allocation-not-shown", semantic: true,
		wantFail: []string{"HV-CMP-008"},
		what:     "nodes and the cluster show nothing allocated",
		opts: afterOK(func(_ string, _, resp any) {
			switch r := resp.(type) {
			case *hv.Node:
				r.Allocated = &hv.Resources{}
			case *hv.ListNodesResponse:
				for _, n := range r.GetNodes() {
					n.Allocated = &hv.Resources{}
				}
			case *hv.ClusterInfo:
				r.TotalAllocated = &hv.Resources{}
			}
		}),
	}, fault{
		name: "cluster-info-miscounts", semantic: true,
		wantFail: []string{"HV-CLU-007"},
		what:     "GetClusterInfo counts one READY node too many",
		opts: afterOK(func(_ string, _, resp any) {
			if c, ok := resp.(*hv.ClusterInfo); ok {
				c.ReadyNodes++
			}
		}),
	}, fault{
		name: "preferred-node-ignored", semantic: true,
		wantFail: []string{"HV-CMP-007"},
		what:     "CreateInstance ignores preferred_node_id",
		opts: unary(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if r, ok := req.(*hv.CreateInstanceRequest); ok {
				r = proto.Clone(r).(*hv.CreateInstanceRequest)
				r.PreferredNodeId = ""
				return h(ctx, r)
			}
			return h(ctx, req)
		}),
	}, fault{
		name: "vteps-at-wrong-ip", semantic: true,
		wantFail: []string{"HV-NET-015"},
		what:     "ListVTEPs reports every VTEP at 192.0.2.1",
		opts: afterOK(func(_ string, _, resp any) {
			if r, ok := resp.(*hv.ListVTEPsResponse); ok {
				for _, v := range r.GetVteps() {
					v.Ip = "192.0.2.1"
				}
			}
		}),
	}, fault{
		name: "undo-is-noop", semantic: true,
		wantFail: []string{"HV-NET-006", "HV-NET-008", "HV-NET-010", "HV-NET-013", "HV-STO-003", "HV-NET-017"},
		what:     "Remove, Unbind, Detach, Disassociate and Release calls answer OK and change nothing",
		opts: answerEmpty(func(name string) bool {
			return slices.ContainsFunc([]string{"Remove", "Unbind", "Detach", "Disassociate", "Release"}, func(p string) bool { return strings.HasPrefix(name, p) })
		}),
	}, fault{
		name: "update-is-noop", semantic: true,
		wantFail: []string{"HV-CLU-005", "HV-STO-001", "HV-STO-004", "HV-STO-005"},
		what:     "Update and Resize calls answer OK with an empty object and change nothing",
		opts: answerEmpty(func(name string) bool {
			return strings.HasPrefix(name, "Update") || strings.HasPrefix(name, "Resize")
		}),
	}, fault{
		name: "attach-without-device", semantic: true,
		wantFail: []string{"HV-STO-003"},
		what:     "AttachVolume answers a volume without a device path",
		opts: afterOK(func(name string, _, resp any) {
			if v, ok := resp.(*hv.Volume); ok && name == "AttachVolume" {
				v.DevicePath = ""
			}
		}),
	}, fault{
		name: "refused-create-leaves-instance", semantic: true,
		wantFail: []string{"HV-ERR-002", "HV-CMP-006"},
		what:     "a CreateInstance refused (InvalidArgument, ResourceExhausted) still creates an instance of 1 cpu",
		opts: unary(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			resp, err := h(ctx, req)
			if r, ok := req.(*hv.CreateInstanceRequest); ok && r.GetName() != "" && (status.Code(err) == codes.InvalidArgument || status.Code(err) == codes.ResourceExhausted) {
				ghost := proto.Clone(r).(*hv.CreateInstanceRequest)
				ghost.Name += "-ghost"
				if ghost.GetType() == hv.InstanceType_INSTANCE_TYPE_UNSPECIFIED {
					ghost.Type = hv.InstanceType_INSTANCE_TYPE_VM
				}
				ghost.Spec = &hv.InstanceSpec{}
				if r.GetSpec() != nil {
					ghost.Spec = proto.Clone(r.GetSpec()).(*hv.InstanceSpec)
				}
				ghost.Spec.CpuCores, ghost.Spec.MemoryBytes = 1, 64<<20
				_, _ = h(ctx, ghost)
			}
			return resp, err
		}),
	}, fault{
		name: "empty-id-accepted", semantic: true,
		wantFail: []string{"HV-ERR-003"},
		what:     "a refused request that has an empty *_id field is answered OK (an empty reply)",
		opts: unary(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			resp, err := h(ctx, req)
			if m, ok := req.(proto.Message); ok && err != nil {
				fields := m.ProtoReflect().Descriptor().Fields()
				for i := range fields.Len() {
					f := fields.Get(i)
					if strings.HasSuffix(string(f.Name()), "_id") && f.Kind() == protoreflect.StringKind && m.ProtoReflect().Get(f).String() == "" {
						return emptyReply(info.FullMethod)
					}
				}
			}
			return resp, err
		}),
	}, fault{
		name: "label-selector-ignored", semantic: true,
		wantFail: []string{"HV-CLU-008", "HV-CMP-014", "HV-STO-007"},
		what:     "lists ignore label_selector",
		opts: unary(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if m, ok := req.(proto.Message); ok {
				r := proto.Clone(m).ProtoReflect()
				if f := r.Descriptor().Fields().ByName("label_selector"); f != nil {
					r.Clear(f)
					return h(ctx, r.Interface())
				}
			}
			return h(ctx, req)
		}),
	}, fault{
		name: "console-leads-with-empty-chunk", semantic: true,
		what:     "AttachConsole sends an empty chunk before the console's bytes",
		focus:    `HV-(CMP-011|AGT-005)`,
		wantFail: []string{"HV-CMP-011"},
		opts: []grpc.ServerOption{grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if info.FullMethod == svcCompute+"AttachConsole" {
				if err := ss.SendMsg(&hv.ConsoleData{}); err != nil {
					return err
				}
			}
			return h(srv, ss)
		})},
	}, fault{
		name: "image-type-filter-ignored", semantic: true,
		what:     "ListImages ignores its type filter",
		wantFail: []string{"HV-CMP-012"},
		opts: unary(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if r, ok := req.(*hv.ListImagesRequest); ok {
				r = proto.Clone(r).(*hv.ListImagesRequest)
				r.Type = hv.InstanceType_INSTANCE_TYPE_UNSPECIFIED
				return h(ctx, r)
			}
			return h(ctx, req)
		}),
	}, fault{
		name: "clamped-page-is-last", semantic: true,
		what:     "a page clamped to 100 items claims to be the last (no next_page_token)",
		wantFail: []string{"HV-PAG-002"},
		opts: afterOK(func(_ string, req, resp any) {
			m, ok := req.(proto.Message)
			out, ok2 := resp.(proto.Message)
			if !ok || !ok2 {
				return
			}
			if f := m.ProtoReflect().Descriptor().Fields().ByName("page_size"); f != nil && m.ProtoReflect().Get(f).Int() > 100 {
				if t := out.ProtoReflect().Descriptor().Fields().ByName("next_page_token"); t != nil {
					out.ProtoReflect().Clear(t)
				}
			}
		}),
	})
}
