package hypervisor

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/vmtestbed/vmtestbed/transport"
)

// ServeOptions say where and how Serve serves a fake.
type ServeOptions struct {
	// Listener is what the gRPC server accepts on (loopback TCP, a unix
	// socket, a caller's bufconn). nil means a private in-memory bufconn
	// listener that only the handle's DialOptions reach.
	Listener net.Listener
	// DialOptions reach Listener (for example a bufconn address book's
	// options). Default: insecure credentials, which suit TCP and unix sockets.
	DialOptions []grpc.DialOption
	// ServerOptions go to grpc.NewServer (interceptors, limits).
	ServerOptions []grpc.ServerOption
	// GraceTimeout bounds the graceful part of Stop; RPCs still running
	// after it are cut. Default 5s.
	GraceTimeout time.Duration
}

// DefaultGraceTimeout is ServeOptions.GraceTimeout's default.
const DefaultGraceTimeout = 5 * time.Second

// Served is a fake behind a running gRPC server: the five hypervisor.v1
// services, gRPC reflection (grpcurl works) and gRPC health (SERVING until
// Stop). Create it with Serve and end it with Stop.
type Served struct {
	fake     *Server
	g        *grpc.Server
	health   *health.Server
	lis      net.Listener
	addr     string
	dialOpts []grpc.DialOption
	conn     *grpc.ClientConn
	grace    time.Duration

	serveDone chan struct{} // closed when g.Serve returns
	serveErr  error         // what g.Serve returned; read after serveDone

	stopOnce sync.Once
}

// Serve creates a fake with opts and serves it as so says. Every test and
// command that needs the fake behind gRPC starts it here, so they all stop
// it the same way (see Stop).
func Serve(opts Options, so ServeOptions) (*Served, error) {
	lis, dial := so.Listener, so.DialOptions
	if lis == nil {
		bn := transport.NewBufnet() // a private address book: only dial reaches it
		lis, _, _ = bn.Listen("hypervisor")
		dial = append(bn.DialOptions(), dial...)
	} else if len(dial) == 0 {
		dial = transport.TCP{}.DialOptions() // insecure credentials: TCP and unix sockets
	}
	addr := lis.Addr().String()
	target := "passthrough:///" + addr
	if lis.Addr().Network() == "unix" {
		target = "unix://" + addr
	}
	conn, err := grpc.NewClient(target, dial...)
	if err != nil {
		lis.Close()
		return nil, fmt.Errorf("serve hypervisor fake: dial %s: %w", addr, err)
	}
	h := &Served{
		fake: New(opts), lis: lis, addr: addr, dialOpts: dial, conn: conn,
		g: grpc.NewServer(so.ServerOptions...), health: health.NewServer(),
		grace: so.GraceTimeout, serveDone: make(chan struct{}),
	}
	if h.grace <= 0 {
		h.grace = DefaultGraceTimeout
	}
	h.fake.Register(h.g)
	reflection.Register(h.g)
	healthpb.RegisterHealthServer(h.g, h.health)
	h.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	go func() {
		defer close(h.serveDone)
		h.serveErr = h.g.Serve(lis)
	}()
	return h, nil
}

// Fake is the served fake, for test hooks (clock, commands, counters).
func (h *Served) Fake() *Server { return h.fake }

// Addr is the listener's address ("bufnet:hypervisor-1" for the private listener).
func (h *Served) Addr() string { return h.addr }

// DialOptions reach Addr.
func (h *Served) DialOptions() []grpc.DialOption { return h.dialOpts }

// Conn is a client connection to the fake, owned by the handle: Stop closes it.
func (h *Served) Conn() *grpc.ClientConn { return h.conn }

// Done is closed when the gRPC server stops serving, by Stop or because
// its listener failed; Err then says why.
func (h *Served) Done() <-chan struct{} { return h.serveDone }

// Err is what serving ended with: nil after Stop or while still serving.
func (h *Served) Err() error {
	select {
	case <-h.serveDone:
		if errors.Is(h.serveErr, grpc.ErrServerStopped) {
			return nil
		}
		return h.serveErr
	default:
		return nil
	}
}

// Stop ends everything in one order: health turns NOT_SERVING; the gRPC
// server stops taking RPCs and the fake ends its watch and console streams
// (Unavailable), so the graceful stop only waits for unary calls in flight,
// at most GraceTimeout before the rest is cut; then the fake's background
// work (lease and provisioning timers, keep-alive, consoles and their ptys)
// stops; then the listener and the handle's Conn close. Safe to call more
// than once; it returns when everything has stopped.
func (h *Served) Stop() {
	h.stopOnce.Do(func() {
		h.health.Shutdown()
		graceful := make(chan struct{})
		go func() { defer close(graceful); h.g.GracefulStop() }()
		h.fake.endStreams()
		t := time.NewTimer(h.grace)
		select {
		case <-graceful:
		case <-t.C:
			h.g.Stop()
			<-graceful
		}
		t.Stop()
		<-h.serveDone
		h.fake.Close()
		_ = h.lis.Close() // usually closed by the server already
		_ = h.conn.Close()
	})
}
