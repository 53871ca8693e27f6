package hypervisor_test

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// A fault breaks the fake on purpose, through grpc server interceptors, so a
// test can prove that the specs that check the broken behaviour fail.
type fault struct {
	name string
	// semantic: the server stays up and answers, wrong in meaning (a wrong
	// value or status code, a lost event or object); not semantic: whole
	// services unimplemented or failing.
	semantic bool
	// what says in one line what the fault breaks.
	what string
	// focus limits the child run to the spec groups the fault concerns.
	focus string
	// wantFail are spec IDs that MUST fail under the fault.
	wantFail []string
	// wantSkip are spec IDs that MUST be skipped (a precondition the broken
	// server cannot meet).
	wantSkip []string
	// wantMethods maps methods to the status the method table MUST show.
	wantMethods map[string]string
	// wantMessage maps spec IDs to text their failure message MUST contain.
	wantMessage map[string]string
	// wantClean: after the run the server MUST hold no node, instance,
	// network or volume (what it wrongly accepted was cleaned up too).
	wantClean bool
	opts      []grpc.ServerOption
}

const (
	svcCluster = "/hypervisor.v1.ClusterService/"
	svcCompute = "/hypervisor.v1.ComputeService/"
	svcStorage = "/hypervisor.v1.StorageService/"
	svcNetwork = "/hypervisor.v1.NetworkService/"
	svcAgent   = "/hypervisor.v1.AgentService/"
)

var faults = []fault{{
	name:        "notfound-becomes-internal",
	semantic:    true,
	what:        "NotFound is answered as Internal",
	focus:       `HV-(CLU|ERR)-`,
	wantFail:    []string{"HV-CLU-004", "HV-CLU-005", "HV-ERR-001", "HV-CLU-010"},
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
	semantic: true,
	what:     "AlreadyExists is answered as InvalidArgument",
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
	semantic:    true,
	what:        "every list ignores page_token (each page is the first)",
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
	what:     "every StorageService method answers Unimplemented",
	focus:    `HV-(STO|PAG)-`,
	wantSkip: []string{"HV-STO-001", "HV-STO-002", "HV-STO-003", "HV-STO-004", "HV-STO-005", "HV-STO-006", "HV-STO-007", "HV-PAG-001"},
	wantMethods: map[string]string{
		svcStorage + "CreateVolume":  "unimplemented",
		svcNetwork + "CreateNetwork": "conformant",
	},
	opts: []grpc.ServerOption{grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if strings.HasPrefix(info.FullMethod, svcStorage) {
			return nil, status.Error(codes.Unimplemented, "no storage here")
		}
		return h(ctx, req)
	})},
}, {
	name:     "state-check-skipped",
	semantic: true,
	what:     "Start of a RUNNING and Stop of a STOPPED instance answer OK with the unchanged instance",
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
	semantic:    true,
	what:        "WatchNodes never sends MODIFIED events",
	focus:       `HV-WAT-00[12]`,
	wantFail:    []string{"HV-WAT-001", "HV-WAT-002"},
	wantMethods: map[string]string{svcCluster + "WatchNodes": "failing"},
	opts: []grpc.ServerOption{grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, dropModified{ss})
	})},
}, {
	name:        "watch-nodes-unimplemented",
	what:        "WatchNodes answers Unimplemented",
	focus:       `HV-WAT-`,
	wantSkip:    []string{"HV-WAT-001", "HV-WAT-002"},
	wantMethods: map[string]string{svcCluster + "WatchNodes": "unimplemented", svcCompute + "WatchInstance": "conformant"},
	opts: []grpc.ServerOption{grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if info.FullMethod == svcCluster+"WatchNodes" {
			return status.Error(codes.Unimplemented, "no node watch")
		}
		return h(srv, ss)
	})},
}, {
	// WatchInstance never sends DELETED and stays open: the wait times out and MUST
	// say what it waited for, not only that the spec timed out.
	name:        "watch-drops-deleted",
	semantic:    true,
	what:        "WatchInstance never sends the DELETED event and stays open",
	focus:       `HV-WAT-003`,
	wantFail:    []string{"HV-WAT-003"},
	wantMethods: map[string]string{svcCompute + "WatchInstance": "failing"},
	wantMessage: map[string]string{"HV-WAT-003": "for the DELETED event on ComputeService.WatchInstance in vain (it delivered"},
	opts: []grpc.ServerOption{grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, dropDeleted{ss})
	})},
}, {
	// The server accepts what it must refuse: duplicates get another name,
	// hostname or VNI, an invalid volume gets 1 GiB and no source.
	name:      "accepts-what-it-must-refuse",
	semantic:  true,
	what:      "duplicates get another name, hostname or VNI, an invalid volume gets 1 GiB: all accepted",
	focus:     `HV-(CLU-002|CMP-004|NET-003|STO-00[26])`,
	wantFail:  []string{"HV-CLU-002", "HV-CMP-004", "HV-NET-003", "HV-STO-002", "HV-STO-006"},
	wantClean: true,
	opts: []grpc.ServerOption{grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		code := status.Code(err)
		switch r := req.(type) {
		case *hv.RegisterNodeRequest:
			if code == codes.AlreadyExists {
				r.Hostname += "-dup"
				return h(ctx, r)
			}
		case *hv.CreateInstanceRequest:
			if code == codes.AlreadyExists {
				r.Name += "-dup"
				return h(ctx, r)
			}
		case *hv.CreateNetworkRequest:
			if code == codes.AlreadyExists {
				r.Vni = r.GetVni()%1_000_000 + 15_000_000
				return h(ctx, r)
			}
		case *hv.CreateVolumeRequest:
			if code == codes.InvalidArgument || code == codes.NotFound {
				r.SizeBytes, r.SourceSnapshotId = 1<<30, ""
				return h(ctx, r)
			}
		}
		return resp, err
	})},
}, {
	// Heartbeat answers accepted without renewing the lease.
	name:        "heartbeat-does-not-renew",
	semantic:    true,
	what:        "Heartbeat answers accepted without renewing the lease",
	focus:       `HV-CLU-00[69]`,
	wantFail:    []string{"HV-CLU-006"},
	wantMethods: map[string]string{svcCluster + "Heartbeat": "failing", svcCluster + "GetNode": "conformant", svcCluster + "RegisterNode": "conformant"},
	opts: []grpc.ServerOption{grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if info.FullMethod == svcCluster+"Heartbeat" {
			if _, err := info.Server.(hv.ClusterServiceServer).GetNode(ctx, &hv.GetNodeRequest{NodeId: req.(*hv.HeartbeatRequest).GetNodeId()}); err != nil {
				return nil, err
			}
			return &hv.HeartbeatResponse{Accepted: true, NextHeartbeatSeconds: 10}, nil
		}
		return h(ctx, req)
	})},
}, {
	// A node whose lease lapsed is shown READY.
	name:        "lease-never-expires",
	semantic:    true,
	what:        "a node whose lease lapsed is shown READY",
	focus:       `HV-CLU-00[69]`,
	wantFail:    []string{"HV-CLU-009"},
	wantMethods: map[string]string{svcCluster + "Heartbeat": "failing"},
	opts: []grpc.ServerOption{grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		if n, ok := resp.(*hv.Node); ok && n.GetStatus() == hv.NodeStatus_NODE_STATUS_NOT_READY {
			n.Status = hv.NodeStatus_NODE_STATUS_READY
		}
		return resp, err
	})},
}, {
	// A subnet without gateway_ip gets the last address as its gateway.
	name:     "subnet-gateway-last",
	semantic: true,
	what:     "a subnet without gateway_ip gets the last address as its gateway",
	focus:    `HV-NET-0(04|16)`,
	wantFail: []string{"HV-NET-016"},
	opts: []grpc.ServerOption{grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if r, ok := req.(*hv.CreateSubnetRequest); ok && r.GetGatewayIp() == "" {
			if p, err := netip.ParsePrefix(r.GetCidr()); err == nil && p.Addr().Is4() && p.Bits() == 24 {
				b := p.Addr().As4()
				b[3] = 254
				r.GatewayIp = netip.AddrFrom4(b).String()
			}
		}
		return h(ctx, req)
	})},
}, {
	// AllocateIP without an address skips one free address (and keeps it).
	name:     "allocation-skips-an-address",
	semantic: true,
	what:     "AllocateIP without an address skips one free address",
	focus:    `HV-NET-0(06|17)`,
	wantFail: []string{"HV-NET-017"},
	opts: []grpc.ServerOption{grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if r, ok := req.(*hv.AllocateIPRequest); ok && r.GetIpAddress() == "" && r.GetSubnetId() != "" {
			if _, err := h(ctx, proto.Clone(r)); err != nil {
				return nil, err
			}
		}
		return h(ctx, req)
	})},
}, {
	name:     "failed-precondition-becomes-internal",
	semantic: true,
	what:     "FailedPrecondition is answered as Internal",
	focus:    `HV-NET-`,
	wantFail: []string{"HV-NET-009", "HV-NET-012", "HV-NET-013", "HV-NET-018"},
	opts: []grpc.ServerOption{grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		if status.Code(err) == codes.FailedPrecondition {
			return nil, status.Error(codes.Internal, "boom")
		}
		return resp, err
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
		what:        "every " + strings.TrimPrefix(strings.Trim(svc, "/"), "hypervisor.v1.") + " method answers Unimplemented",
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

// serviceInternal answers every RPC of the service with Internal: the
// service is there (the probe finds it implemented) and broken.
func serviceInternal(name, svc string) fault {
	f := serviceUnimplemented(name, svc)
	f.name = strings.TrimSuffix(f.name, "-unimplemented") + "-internal"
	f.what = "every " + strings.TrimPrefix(strings.Trim(svc, "/"), "hypervisor.v1.") + " method answers Internal"
	f.wantMethods = map[string]string{svc + name: "failing"}
	refuse := func(method string) error {
		if strings.HasPrefix(method, svc) {
			return status.Error(codes.Internal, "service broken")
		}
		return nil
	}
	f.opts = []grpc.ServerOption{
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
	}
	return f
}

// Whole services missing are skipped, not failed; whole services broken
// fail. With the faults above, every spec fails under at least one fault
// (TestFaults checks that).
func init() {
	faults = append(faults,
		serviceUnimplemented("RegisterNode", svcCluster),
		serviceUnimplemented("ListImages", svcCompute),
		serviceInternal("RegisterNode", svcCluster),
		serviceInternal("ListImages", svcCompute),
		serviceInternal("CreateInstance", "/hypervisor.v1.AgentService/"),
		serviceInternal("CreateNetwork", svcNetwork),
		serviceInternal("CreateVolume", svcStorage),
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

// dropDeleted swallows the DELETED instance event and then holds the stream
// open until the client goes away.
type dropDeleted struct{ grpc.ServerStream }

func (d dropDeleted) SendMsg(m any) error {
	if ev, ok := m.(*hv.InstanceEvent); ok && ev.GetType() == hv.EventType_EVENT_TYPE_DELETED {
		<-d.Context().Done()
		return d.Context().Err()
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

// variants change the fake without breaking it: the suite MUST pass.
var variants = []fault{dialsNodes()}

// dialsNodes is a control plane that dials its nodes: CreateInstance also
// creates the instance through the AgentService at the chosen node's ip and
// port (as RegisterNode gave them), and fails Unavailable when that node
// agent cannot be reached.
func dialsNodes() fault {
	var mu sync.Mutex
	addrs := map[string]string{} // node id -> host:port
	return fault{
		name:  "dials-nodes",
		focus: `HV-CMP-`,
		opts: []grpc.ServerOption{grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			resp, err := h(ctx, req)
			if err != nil {
				return resp, err
			}
			switch info.FullMethod {
			case svcCluster + "RegisterNode":
				r := req.(*hv.RegisterNodeRequest)
				mu.Lock()
				addrs[resp.(*hv.RegisterNodeResponse).GetNodeId()] = net.JoinHostPort(r.GetIp(), strconv.Itoa(int(r.GetPort())))
				mu.Unlock()
			case svcCompute + "CreateInstance":
				inst := resp.(*hv.Instance)
				mu.Lock()
				addr := addrs[inst.GetNodeId()]
				mu.Unlock()
				cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
				if err != nil {
					return nil, status.Errorf(codes.Unavailable, "node %s at %q: %v", inst.GetNodeId(), addr, err)
				}
				defer cc.Close()
				dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				_, err = hv.NewAgentServiceClient(cc).CreateInstance(dctx, &hv.AgentCreateInstanceRequest{InstanceId: inst.GetId(), Name: inst.GetName(), Type: inst.GetType(), Spec: inst.GetSpec()})
				if err != nil {
					return nil, status.Errorf(codes.Unavailable, "node agent of node %s at %s: %v", inst.GetNodeId(), addr, err)
				}
			}
			return resp, nil
		})},
	}
}

func variantByName(name string) (fault, bool) {
	for _, f := range variants {
		if f.name == name {
			return f, true
		}
	}
	return fault{}, false
}
