package avalanche_test

import (
	"context"
	"fmt"
	"sync"

	runtimepb "github.com/ava-labs/avalanchego/proto/pb/vm/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/emptypb"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"

	"github.com/vmtestbed/vmtestbed/transport"
)

// The fault proxy is a test-only wrapper: an in-process plugin that runs a
// correct refvm behind a transparent vm.VM proxy which corrupts chosen
// replies. It makes the specs no broken refvm variant breaks fail.

// frame is an undecoded gRPC message.
type frame struct{ b []byte }

// rawCodec passes frames through untouched.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.(*frame).b, nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	v.(*frame).b = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// fault corrupts one VM method's reply. edit gets the decoded request and
// reply (reply nil and err set when refvm failed) and returns what the
// node sees. A nil edit drops the call: refvm never sees it, and the node
// gets an empty reply.
type fault struct {
	method string
	edit   func(st *proxyState, req, resp proto.Message, err error) (proto.Message, error)
}

// drop is the fault that keeps method's calls from the VM.
func drop(method string) fault { return fault{method: method} }

// proxyState is memory shared by the stateful faults.
type proxyState struct {
	mu       sync.Mutex
	verified map[string]int    // BlockVerify count per block bytes
	lastPref string            // last SetPreference id
	parents  map[string]string // block bytes -> parent id, from BuildBlock
	children map[string]string // parent id -> first verified child bytes
	rejected []byte            // last rejected block id
	backend  vmpb.VMClient     // the refvm behind the proxy, for faults that call it
}

func newProxyState() *proxyState {
	return &proxyState{verified: map[string]int{}, parents: map[string]string{}, children: map[string]string{}}
}

var vmService = vmpb.File_vm_vm_proto.Services().ByName("VM")

func newMessage(d protoreflect.MessageDescriptor) (proto.Message, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(d.FullName())
	if err != nil {
		return nil, fmt.Errorf("message type %s: %w", d.FullName(), err)
	}
	return mt.New().Interface(), nil
}

// catcher is a private runtime engine: it learns refvm's VM address.
type catcher struct {
	runtimepb.UnimplementedRuntimeServer
	addr chan string
}

func (c *catcher) Initialize(_ context.Context, req *runtimepb.InitializeRequest) (*emptypb.Empty, error) {
	c.addr <- req.GetAddr()
	return &emptypb.Empty{}, nil
}

// faultyPlugin serves plugin (a correct in-process plugin over bn) behind a
// proxy that applies faults, and hands the proxy's address to the node.
func faultyPlugin(bn *transport.Bufnet, plugin func(context.Context, string) error, faults []fault) func(context.Context, string) error {
	byMethod := map[string]fault{}
	for _, f := range faults {
		byMethod["/vm.VM/"+f.method] = f
	}
	return func(ctx context.Context, engineAddr string) error {
		st := newProxyState()
		l, privAddr, err := bn.Listen("fault-runtime")
		if err != nil {
			return err
		}
		c := &catcher{addr: make(chan string, 1)}
		rt := grpc.NewServer()
		runtimepb.RegisterRuntimeServer(rt, c)
		go func() { _ = rt.Serve(l) }()
		done := make(chan error, 1)
		go func() { done <- plugin(ctx, privAddr) }()
		var vmAddr string
		select {
		case vmAddr = <-c.addr:
		case err := <-done:
			rt.Stop()
			return fmt.Errorf("inner plugin ended before its handshake: %w", err)
		}
		// Graceful: the handshake reply must reach the inner plugin.
		rt.GracefulStop()
		backend, err := transport.Dial(bn, vmAddr, grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
		if err != nil {
			return err
		}
		defer backend.Close()
		plain, err := transport.Dial(bn, vmAddr)
		if err != nil {
			return err
		}
		defer plain.Close()
		st.backend = vmpb.NewVMClient(plain)
		pl, proxyAddr, err := bn.Listen("fault-vm")
		if err != nil {
			return err
		}
		srv := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
			return relay(ss, backend, byMethod, st)
		}))
		go func() { _ = srv.Serve(pl) }()
		defer srv.GracefulStop() // relayed replies (Shutdown's) still go out
		eng, err := transport.Dial(bn, engineAddr)
		if err != nil {
			return err
		}
		_, err = runtimepb.NewRuntimeClient(eng).Initialize(ctx, &runtimepb.InitializeRequest{ProtocolVersion: 46, Addr: proxyAddr})
		_ = eng.Close()
		if err != nil {
			return fmt.Errorf("proxy handshake: %w", err)
		}
		return <-done
	}
}

// relay forwards one unary call and applies its method's fault.
func relay(ss grpc.ServerStream, backend *grpc.ClientConn, faults map[string]fault, st *proxyState) error {
	method, _ := grpc.MethodFromServerStream(ss)
	var in frame
	if err := ss.RecvMsg(&in); err != nil {
		return err
	}
	if f, ok := faults[method]; ok && f.edit == nil {
		return ss.SendMsg(&frame{}) // an empty message of any type
	}
	var out frame
	callErr := backend.Invoke(ss.Context(), method, &in, &out)
	f, ok := faults[method]
	if !ok {
		if callErr != nil {
			return callErr
		}
		return ss.SendMsg(&out)
	}
	md := vmService.Methods().ByName(protoreflect.Name(method[len("/vm.VM/"):]))
	req, err := newMessage(md.Input())
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	if err := proto.Unmarshal(in.b, req); err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	var resp proto.Message
	if callErr == nil {
		if resp, err = newMessage(md.Output()); err != nil {
			return status.Error(codes.Internal, err.Error())
		}
		if err := proto.Unmarshal(out.b, resp); err != nil {
			return status.Error(codes.Internal, err.Error())
		}
	}
	resp, err = f.edit(st, req, resp, callErr)
	if err != nil {
		return err
	}
	b, err := proto.Marshal(resp)
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	return ss.SendMsg(&frame{b: b})
}
