package avalanchego

import (
	"math"
	"slices"
	"time"

	"github.com/ava-labs/avalanchego/vms/rpcchainvm/grpcutils"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/vmtestbed/vmtestbed/transport"
)

// newServer builds a gRPC server with AvalancheGo's server options
// (unlimited sizes, keepalive MinTime 5 s, PermitWithoutStream), traced as
// plugin->node when tr is non-nil.
func newServer(tr *Trace) *grpc.Server {
	opts := slices.Clone(grpcutils.DefaultServerOptions)
	if tr != nil {
		opts = append(opts,
			grpc.ChainUnaryInterceptor(tr.UnaryServerInterceptor()),
			grpc.ChainStreamInterceptor(tr.StreamServerInterceptor()))
	}
	return grpc.NewServer(opts...)
}

// dialPlugin opens a client to an address the plugin announced, with
// AvalancheGo's client options (unlimited sizes, calls wait for the
// connection to be ready, keepalive ping every 30 s),
// traced as node->plugin when tr is non-nil.
func dialPlugin(t transport.Transport, addr string, tr *Trace) (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt), grpc.MaxCallSendMsgSize(math.MaxInt), grpc.WaitForReady(true)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                30 * time.Second,
			Timeout:             10 * time.Second,
			PermitWithoutStream: true,
		}),
	}
	if tr != nil {
		opts = append(opts, grpc.WithChainUnaryInterceptor(tr.UnaryClientInterceptor()))
	}
	return transport.Dial(t, addr, opts...)
}
