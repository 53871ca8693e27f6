package recorder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ava-labs/avalanchego/vms/rpcchainvm/grpcutils"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recording"
)

// frame is one message on the wire, undecoded.
type frame struct{ data []byte }

// rawCodec moves frames without decoding them. Its name is "proto" so the
// content type on both sides stays application/grpc.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	f, ok := v.(*frame)
	if !ok {
		return nil, fmt.Errorf("raw codec: cannot marshal %T", v)
	}
	return f.data, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	f, ok := v.(*frame)
	if !ok {
		return fmt.Errorf("raw codec: cannot unmarshal into %T", v)
	}
	f.data = slices.Clone(data)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// proxy is one recorded endpoint: a gRPC server on loopback forwarding
// every call to target.
type proxy struct {
	hub    *hub
	name   string              // endpoint name in the recording
	dir    recording.Direction // who calls through this proxy
	target string
	addr   string

	conn     *grpc.ClientConn
	server   *grpc.Server
	served   chan struct{}
	stopOnce sync.Once
}

func startProxy(h *hub, name string, dir recording.Direction, target string) (*proxy, error) {
	conn, err := grpcutils.Dial(target)
	if err != nil {
		return nil, fmt.Errorf("proxy %s: dial %s: %w", name, target, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("proxy %s: listen: %w", name, err)
	}
	p := &proxy{hub: h, name: name, dir: dir, target: target, addr: l.Addr().String(), conn: conn, served: make(chan struct{})}
	opts := append(slices.Clone(grpcutils.DefaultServerOptions),
		grpc.UnknownServiceHandler(p.handle),
		grpc.ForceServerCodec(rawCodec{}))
	p.server = grpc.NewServer(opts...)
	go func() {
		defer close(p.served)
		// Serve returns when stop is called; its error then carries no news.
		_ = p.server.Serve(l)
	}()
	return p, nil
}

// stopGrace bounds a proxy's graceful stop: answers already on their way
// (the reply to Shutdown, as the plugin exits) are flushed to the caller;
// calls still open after it are cut.
const stopGrace = time.Second

// stop ends the server gracefully, forced after stopGrace, closes the
// client and waits.
func (p *proxy) stop() {
	p.stopOnce.Do(func() {
		graceful := make(chan struct{})
		go func() {
			defer close(graceful)
			p.server.GracefulStop()
		}()
		t := time.NewTimer(stopGrace)
		defer t.Stop()
		select {
		case <-graceful:
		case <-t.C:
			p.server.Stop()
			<-graceful
		}
		<-p.served
		_ = p.conn.Close()
	})
}

// handle forwards one call of any method.
func (p *proxy) handle(_ any, ss grpc.ServerStream) error {
	method, ok := grpc.MethodFromServerStream(ss)
	if !ok {
		return status.Error(codes.Internal, "recorder: no method on the stream")
	}
	call, done := p.hub.begin(ss.Context(), p.dir, p.name, method)
	defer done()
	ctx := outgoing(ss.Context())
	var err error
	if info, lerr := recording.LookupMethod(method); lerr == nil && !info.Streaming() {
		err = p.unary(ctx, ss, method, call)
	} else {
		err = p.stream(ctx, ss, method, call)
	}
	call.Finish(err)
	return err
}

// outgoing forwards the caller's metadata, without the headers gRPC sets
// itself; the deadline and cancellation come with ctx.
func outgoing(ctx context.Context) context.Context {
	in, _ := metadata.FromIncomingContext(ctx)
	md := metadata.MD{}
	for k, v := range in {
		switch {
		case strings.HasPrefix(k, ":"), strings.HasPrefix(k, "grpc-"), k == "content-type", k == "user-agent", k == "te":
		default:
			md[k] = slices.Clone(v)
		}
	}
	return metadata.NewOutgoingContext(ctx, md)
}

func (p *proxy) unary(ctx context.Context, ss grpc.ServerStream, method string, call *recording.CallRecorder) error {
	var req frame
	if err := ss.RecvMsg(&req); err != nil {
		return err
	}
	call.Request(req.data)
	out, release, err := p.hub.rewrite(method, true, req.data, call)
	if err != nil {
		return status.Errorf(codes.Internal, "recorder: %v", err)
	}
	defer release()
	var resp frame
	var header, trailer metadata.MD
	err = p.conn.Invoke(ctx, method, &frame{data: out}, &resp,
		grpc.ForceCodec(rawCodec{}), grpc.Header(&header), grpc.Trailer(&trailer))
	if len(header) > 0 {
		_ = ss.SetHeader(header)
	}
	ss.SetTrailer(trailer)
	if err != nil {
		return err
	}
	call.Response(resp.data)
	back, _, err := p.hub.rewrite(method, false, resp.data, call)
	if err != nil {
		return status.Errorf(codes.Internal, "recorder: %v", err)
	}
	return ss.SendMsg(&frame{data: back})
}

// stream forwards a streaming call (or one of an unknown method) message
// by message in both directions.
func (p *proxy) stream(ctx context.Context, ss grpc.ServerStream, method string, call *recording.CallRecorder) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cs, err := p.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, method, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return err
	}
	go func() {
		for {
			var f frame
			if err := ss.RecvMsg(&f); err != nil {
				if errors.Is(err, io.EOF) {
					_ = cs.CloseSend() // the caller is done sending
				} else {
					cancel() // the caller went away
				}
				return
			}
			call.StreamMessage(true, f.data)
			if cs.SendMsg(&f) != nil {
				return // the server ended the call; RecvMsg below reports why
			}
		}
	}()
	if md, err := cs.Header(); err == nil && len(md) > 0 {
		_ = ss.SendHeader(md)
	}
	for {
		var f frame
		if err := cs.RecvMsg(&f); err != nil {
			ss.SetTrailer(cs.Trailer())
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		call.StreamMessage(false, f.data)
		if err := ss.SendMsg(&f); err != nil {
			return err
		}
	}
}
