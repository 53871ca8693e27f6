package hypervisor_test

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// A fault breaks the fake on purpose, through grpc server interceptors, so a
// test can prove that the specs that check the broken behaviour fail.
type fault struct {
	name string
	// focus limits the child run to the spec groups the fault concerns.
	focus string
	// wantFail are spec IDs that MUST fail under the fault.
	wantFail []string
	// wantMethods maps methods to the status the method table MUST show.
	wantMethods map[string]string
	opts        []grpc.ServerOption
}

const (
	svcCluster = "/hypervisor.v1.ClusterService/"
	svcCompute = "/hypervisor.v1.ComputeService/"
	svcStorage = "/hypervisor.v1.StorageService/"
)

var faults = []fault{{
	name:        "notfound-becomes-internal",
	focus:       `HV-(CLU|ERR)-`,
	wantFail:    []string{"HV-CLU-004", "HV-CLU-005", "HV-ERR-001"},
	wantMethods: map[string]string{svcCluster + "DeregisterNode": "failing"},
	opts: []grpc.ServerOption{grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		if status.Code(err) == codes.NotFound {
			return nil, status.Error(codes.Internal, "boom")
		}
		return resp, err
	})},
}, {
	name:     "already-exists-becomes-invalid-argument",
	focus:    `HV-(CLU|CMP|NET|AGT)-`,
	wantFail: []string{"HV-CLU-002", "HV-CMP-004", "HV-NET-003", "HV-NET-006", "HV-NET-011", "HV-NET-013", "HV-AGT-002"},
	opts: []grpc.ServerOption{grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		if status.Code(err) == codes.AlreadyExists {
			return nil, status.Error(codes.InvalidArgument, "not a duplicate, just bad")
		}
		return resp, err
	})},
}, {
	name:        "page-token-ignored",
	focus:       `HV-PAG-`,
	wantFail:    []string{"HV-PAG-003", "HV-PAG-004", "HV-PAG-007"},
	wantMethods: map[string]string{"/hypervisor.v1.NetworkService/ListNetworks": "failing"},
	opts: []grpc.ServerOption{grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if m, ok := req.(proto.Message); ok {
			r := m.ProtoReflect()
			if f := r.Descriptor().Fields().ByName("page_token"); f != nil {
				r.Set(f, protoreflect.ValueOfString(""))
			}
		}
		return h(ctx, req)
	})},
}, {
	name:     "storage-unimplemented",
	focus:    `HV-(STO|PAG)-`,
	wantFail: []string{"HV-STO-001", "HV-STO-002", "HV-STO-003", "HV-STO-004", "HV-STO-005", "HV-STO-006", "HV-STO-007", "HV-PAG-001"},
	wantMethods: map[string]string{
		svcStorage + "CreateVolume":                   "unimplemented",
		"/hypervisor.v1.NetworkService/CreateNetwork": "conformant",
	},
	opts: []grpc.ServerOption{grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if strings.HasPrefix(info.FullMethod, svcStorage) {
			return nil, status.Error(codes.Unimplemented, "no storage here")
		}
		return h(ctx, req)
	})},
}, {
	name:     "state-check-skipped",
	focus:    `HV-CMP-00[23]`,
	wantFail: []string{"HV-CMP-003"},
	opts: []grpc.ServerOption{grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		compute, ok := info.Server.(hv.ComputeServiceServer)
		if status.Code(err) != codes.FailedPrecondition || !ok || !strings.HasPrefix(info.FullMethod, svcCompute) {
			return resp, err
		}
		// Pretend the transition happened: answer with the unchanged instance.
		id, _ := req.(interface{ GetInstanceId() string })
		return compute.GetInstance(ctx, &hv.GetInstanceRequest{InstanceId: id.GetInstanceId()})
	})},
}, {
	name:        "watch-drops-modified",
	focus:       `HV-WAT-00[12]`,
	wantFail:    []string{"HV-WAT-001", "HV-WAT-002"},
	wantMethods: map[string]string{svcCluster + "WatchNodes": "failing"},
	opts: []grpc.ServerOption{grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, dropModified{ss})
	})},
}, {
	name:        "watch-nodes-unimplemented",
	focus:       `HV-WAT-`,
	wantFail:    []string{"HV-WAT-001", "HV-WAT-002"},
	wantMethods: map[string]string{svcCluster + "WatchNodes": "unimplemented", svcCompute + "WatchInstance": "conformant"},
	opts: []grpc.ServerOption{grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if info.FullMethod == svcCluster+"WatchNodes" {
			return status.Error(codes.Unimplemented, "no node watch")
		}
		return h(srv, ss)
	})},
}}

// serviceUnimplemented answers every RPC of the service with Unimplemented.
func serviceUnimplemented(name, svc string) fault {
	refuse := func(method string) error {
		if strings.HasPrefix(method, svc) {
			return status.Error(codes.Unimplemented, "service not served")
		}
		return nil
	}
	return fault{
		name:        strings.ToLower(strings.TrimPrefix(strings.Trim(svc, "/"), "hypervisor.v1.")) + "-unimplemented",
		wantMethods: map[string]string{svc + name: "unimplemented"},
		opts: []grpc.ServerOption{
			grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				if err := refuse(info.FullMethod); err != nil {
					return nil, err
				}
				return h(ctx, req)
			}),
			grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
				if err := refuse(info.FullMethod); err != nil {
					return err
				}
				return h(srv, ss)
			}),
		},
	}
}

// Whole services missing: with the faults above, every spec fails under at
// least one fault (TestFaults checks that).
func init() {
	faults = append(faults,
		serviceUnimplemented("RegisterNode", svcCluster),
		serviceUnimplemented("ListImages", svcCompute),
		serviceUnimplemented("CreateInstance", "/hypervisor.v1.AgentService/"),
		serviceUnimplemented("CreateNetwork", "/hypervisor.v1.NetworkService/"),
	)
}

// dropModified swallows every MODIFIED node event a stream sends.
type dropModified struct{ grpc.ServerStream }

func (d dropModified) SendMsg(m any) error {
	if ev, ok := m.(*hv.NodeEvent); ok && ev.GetType() == hv.EventType_EVENT_TYPE_MODIFIED {
		return nil
	}
	return d.ServerStream.SendMsg(m)
}

func faultByName(name string) (fault, bool) {
	for _, f := range faults {
		if f.name == name {
			return f, true
		}
	}
	return fault{}, false
}
