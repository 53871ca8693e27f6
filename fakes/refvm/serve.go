package refvm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	runtimepb "github.com/ava-labs/avalanchego/proto/pb/vm/runtime"

	"github.com/vmtestbed/vmtestbed/transport"
)

// HandshakeTimeout bounds the runtime Initialize call (the node waits 5 s too).
const HandshakeTimeout = 5 * time.Second

// drainTimeout bounds the graceful stop of the VM server after Shutdown.
const drainTimeout = 5 * time.Second

// serverOptions are those of real plugins: unlimited message sizes and
// keepalive enforcement MinTime 5 s, PermitWithoutStream.
func serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(math.MaxInt),
		grpc.MaxSendMsgSize(math.MaxInt),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	}
}

// Serve is the whole plugin: it listens on cfg.Transport, serves vm.VM there,
// calls vm.runtime.Runtime/Initialize at engineAddr and blocks until Shutdown
// was served (returns nil), the ctx is done (returns the ctx error), or the
// a crash variant crashed (returns an error).
func Serve(ctx context.Context, engineAddr string, cfg Config) error {
	if cfg.Transport == nil {
		return errors.New("refvm: Config.Transport is nil")
	}
	if !knownVariant(cfg.Variant) {
		return fmt.Errorf("refvm: unknown variant %q", cfg.Variant)
	}
	if engineAddr == "" {
		return errors.New("refvm: no runtime engine address (AVALANCHE_VM_RUNTIME_ENGINE_ADDR is empty)")
	}
	v := newVM(ctx, cfg)
	lis, addr, err := cfg.Transport.Listen("refvm")
	if err != nil {
		return fmt.Errorf("refvm: listen: %w", err)
	}
	srv := grpc.NewServer(serverOptions()...)
	vmpb.RegisterVMServer(srv, v)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	stop := func() {
		srv.Stop()
		<-served
		v.teardown()
	}

	// The VM server already serves: under load a node can run the whole
	// session, Shutdown included, before the handshake's answer arrives. A
	// handshake cut short because we were told to terminate (ctx) is no
	// error: the select below ends as after any termination.
	if err := handshake(ctx, cfg.Transport, engineAddr, v.protocol(), addr); err != nil && ctx.Err() == nil {
		stop()
		return err // the caller reports it (cmd/refvm prints it once)
	}

	select {
	case <-v.shutdown:
	case <-v.crashed:
		stop()
		return fmt.Errorf("refvm: crashed: %s", v.crashMsg)
	case <-ctx.Done():
		select {
		case <-v.shutdown: // Shutdown was served first: end as after Shutdown
		default:
			stop()
			return ctx.Err()
		}
	case err := <-served:
		served <- err
		stop()
		return fmt.Errorf("refvm: VM server stopped: %w", err)
	}
	drained := make(chan struct{})
	go func() { srv.GracefulStop(); close(drained) }()
	timer := time.NewTimer(drainTimeout)
	defer timer.Stop()
	select {
	case <-drained:
	case <-timer.C:
	case <-ctx.Done():
	}
	if cfg.Variant == VariantDBAfterShutdown {
		select { // told to terminate: SIGTERM, or in-process the ctx
		case <-cfg.Terminate:
		case <-ctx.Done():
		}
		v.lateWrite()
	}
	stop()
	return nil
}

// handshake announces the VM server address to the node's runtime engine.
func handshake(ctx context.Context, tr transport.Transport, engineAddr string, protocol uint, addr string) error {
	conn, err := transport.Dial(tr, engineAddr)
	if err != nil {
		return fmt.Errorf("runtime handshake with %s: %w", engineAddr, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, HandshakeTimeout)
	defer cancel()
	_, err = runtimepb.NewRuntimeClient(conn).Initialize(ctx, &runtimepb.InitializeRequest{
		ProtocolVersion: uint32(protocol),
		Addr:            addr,
	})
	if err != nil {
		return fmt.Errorf("runtime handshake with %s (protocol %d, addr %s): %w", engineAddr, protocol, addr, err)
	}
	return nil
}

// exit is cfg.Exit or os.Exit.
func (v *vm) exit(code int) {
	if v.cfg.Exit != nil {
		v.cfg.Exit(code)
		return
	}
	os.Exit(code)
}
