package recorder

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	httppb "github.com/ava-labs/avalanchego/proto/pb/http"
	responsewriterpb "github.com/ava-labs/avalanchego/proto/pb/http/responsewriter"
	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recording"
)

// swap replaces *addr with a proxy's address; the proxy is named name,
// forwards calls made in direction dir, and is noted on the call.
type swap func(addr *string, name string, dir recording.Direction, scoped bool) error

// rewriter changes the address fields of one method's message.
type rewriter struct {
	request bool
	newMsg  func() proto.Message
	apply   func(h *hub, m proto.Message, swap swap) error
}

// rewrites lists every message that carries an address across the proxy
// (avalanchego v1.15.0 protos: vm, http, http/responsewriter; io/reader,
// io/writer and net/conn carry none).
var rewrites = map[string]rewriter{
	"/vm.VM/Initialize": {true, func() proto.Message { return &vmpb.InitializeRequest{} }, func(_ *hub, m proto.Message, swap swap) error {
		r := m.(*vmpb.InitializeRequest)
		if err := swap(&r.DbServerAddr, recording.EndpointRPCDB, recording.PluginToNode, false); err != nil {
			return err
		}
		return swap(&r.ServerAddr, recording.EndpointNode, recording.PluginToNode, false)
	}},
	"/vm.VM/CreateHandlers": {false, func() proto.Message { return &vmpb.CreateHandlersResponse{} }, func(_ *hub, m proto.Message, swap swap) error {
		for _, hd := range m.(*vmpb.CreateHandlersResponse).GetHandlers() {
			if err := swap(&hd.ServerAddr, recording.EndpointHandler+hd.GetPrefix(), recording.NodeToPlugin, false); err != nil {
				return err
			}
		}
		return nil
	}},
	"/vm.VM/NewHTTPHandler": {false, func() proto.Message { return &vmpb.NewHTTPHandlerResponse{} }, func(_ *hub, m proto.Message, swap swap) error {
		return swap(&m.(*vmpb.NewHTTPHandlerResponse).ServerAddr, recording.EndpointHTTP, recording.NodeToPlugin, false)
	}},
	"/http.HTTP/Handle": {true, func() proto.Message { return &httppb.HTTPRequest{} }, func(h *hub, m proto.Message, swap swap) error {
		w := m.(*httppb.HTTPRequest).GetResponseWriter()
		if w == nil {
			return nil
		}
		return swap(&w.ServerAddr, h.nextName(recording.EndpointHTTPWriter), recording.PluginToNode, true)
	}},
	"/http.responsewriter.Writer/Hijack": {false, func() proto.Message { return &responsewriterpb.HijackResponse{} }, func(h *hub, m proto.Message, swap swap) error {
		return swap(&m.(*responsewriterpb.HijackResponse).ServerAddr, h.nextName(recording.EndpointHijack), recording.PluginToNode, false)
	}},
}

// rewrite returns wire with its address fields pointing at proxies (wire
// itself for messages without any), and a func releasing proxies scoped
// to this call.
func (h *hub) rewrite(method string, request bool, wire []byte, call *recording.CallRecorder) ([]byte, func(), error) {
	var releases []func()
	release := func() {
		for _, r := range releases {
			r()
		}
	}
	rw, ok := rewrites[method]
	if !ok || rw.request != request {
		return wire, release, nil
	}
	m := rw.newMsg()
	if err := proto.Unmarshal(wire, m); err != nil {
		// Not ours to judge: forward as is, the receiver will complain.
		return wire, release, nil
	}
	swap := func(addr *string, name string, dir recording.Direction, scoped bool) error {
		if *addr == "" {
			return nil
		}
		p, rel, err := h.proxyFor(name, dir, *addr, scoped)
		if err != nil {
			return err
		}
		releases = append(releases, rel)
		call.Endpoint(name, *addr)
		*addr = p
		return nil
	}
	if err := rw.apply(h, m, swap); err != nil {
		release()
		return nil, func() {}, fmt.Errorf("%s: %w", method, err)
	}
	out, err := proto.Marshal(m)
	if err != nil {
		release()
		return nil, func() {}, fmt.Errorf("%s: re-encode: %w", method, err)
	}
	return out, release, nil
}
