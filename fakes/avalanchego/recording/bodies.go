package recording

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	// Registered so messages decode by method.
	_ "github.com/ava-labs/avalanchego/proto/pb/aliasreader"
	_ "github.com/ava-labs/avalanchego/proto/pb/appsender"
	_ "github.com/ava-labs/avalanchego/proto/pb/http"
	_ "github.com/ava-labs/avalanchego/proto/pb/http/responsewriter"
	_ "github.com/ava-labs/avalanchego/proto/pb/io/reader"
	_ "github.com/ava-labs/avalanchego/proto/pb/io/writer"
	_ "github.com/ava-labs/avalanchego/proto/pb/net/conn"
	_ "github.com/ava-labs/avalanchego/proto/pb/rpcdb"
	_ "github.com/ava-labs/avalanchego/proto/pb/sharedmemory"
	_ "github.com/ava-labs/avalanchego/proto/pb/validatorstate"
	_ "github.com/ava-labs/avalanchego/proto/pb/vm"
	_ "github.com/ava-labs/avalanchego/proto/pb/vm/runtime"
	_ "github.com/ava-labs/avalanchego/proto/pb/warp"
	_ "google.golang.org/grpc/health/grpc_health_v1"

	_ "github.com/vmtestbed/vmtestbed/proto/messenger"
)

// MethodInfo is what the registry knows about a full gRPC method name.
type MethodInfo struct {
	Input, Output protoreflect.MessageType
	ClientStream  bool
	ServerStream  bool
}

// Streaming reports whether either side streams.
func (m MethodInfo) Streaming() bool { return m.ClientStream || m.ServerStream }

// LookupMethod finds a full method ("/vm.VM/Initialize") in the global
// protobuf registry.
func LookupMethod(method string) (MethodInfo, error) {
	svc, name, ok := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	if !ok || svc == "" || name == "" || !strings.HasPrefix(method, "/") {
		return MethodInfo{}, fmt.Errorf("method %q: want /package.Service/Method", method)
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return MethodInfo{}, fmt.Errorf("method %s: service %s: %w", method, svc, err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return MethodInfo{}, fmt.Errorf("method %s: %s is not a service", method, svc)
	}
	md := sd.Methods().ByName(protoreflect.Name(name))
	if md == nil {
		return MethodInfo{}, fmt.Errorf("method %s: service %s has no method %s", method, svc, name)
	}
	in, err := protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName())
	if err != nil {
		return MethodInfo{}, fmt.Errorf("method %s: input type: %w", method, err)
	}
	out, err := protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName())
	if err != nil {
		return MethodInfo{}, fmt.Errorf("method %s: output type: %w", method, err)
	}
	return MethodInfo{Input: in, Output: out, ClientStream: md.IsStreamingClient(), ServerStream: md.IsStreamingServer()}, nil
}

var marshalOpts = protojson.MarshalOptions{UseProtoNames: true}

// MarshalJSON renders m as compact protojson with proto field names.
// protojson varies its whitespace on purpose; compacting makes the output
// byte-for-byte repeatable.
func MarshalJSON(m proto.Message) (json.RawMessage, error) {
	b, err := marshalOpts.Marshal(m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// encodeBody decodes a wire message of method's input (request) or output
// type into protojson; when that is impossible it returns the raw bytes.
func encodeBody(method string, request bool, wire []byte) (json.RawMessage, []byte) {
	info, err := LookupMethod(method)
	if err != nil {
		return nil, wire
	}
	mt := info.Output
	if request {
		mt = info.Input
	}
	m := mt.New().Interface()
	if err := proto.Unmarshal(wire, m); err != nil {
		return nil, wire
	}
	j, err := MarshalJSON(m)
	if err != nil {
		return nil, wire
	}
	return j, nil
}

// NewRequest decodes a recorded request body into a message of method's
// input type; NewResponse does the same for the output type.
func NewRequest(method string, body json.RawMessage) (proto.Message, error) {
	return decodeBody(method, true, body)
}

// NewResponse decodes a recorded response body (see NewRequest).
func NewResponse(method string, body json.RawMessage) (proto.Message, error) {
	return decodeBody(method, false, body)
}

// EmptyResponse is a new, empty message of method's output type.
func EmptyResponse(method string) (proto.Message, error) {
	info, err := LookupMethod(method)
	if err != nil {
		return nil, err
	}
	return info.Output.New().Interface(), nil
}

func decodeBody(method string, request bool, body json.RawMessage) (proto.Message, error) {
	info, err := LookupMethod(method)
	if err != nil {
		return nil, err
	}
	mt, what := info.Output, "response"
	if request {
		mt, what = info.Input, "request"
	}
	m := mt.New().Interface()
	if len(body) == 0 {
		return m, nil
	}
	if err := protojson.Unmarshal(body, m); err != nil {
		return nil, fmt.Errorf("%s %s as %s: %w", method, what, mt.Descriptor().FullName(), err)
	}
	return m, nil
}
