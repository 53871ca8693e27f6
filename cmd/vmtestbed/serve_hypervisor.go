package main

import (
	"context"
	"fmt"
	"net"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	fakehv "github.com/vmtestbed/vmtestbed/fakes/hypervisor"
	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

var serveHypervisorFlags struct {
	listen          string
	nodes           int
	seed            int64
	cluster         string
	leaseTTL, beats time.Duration
}

var serveHypervisorCmd = &cobra.Command{
	Use:   "hypervisor",
	Short: "Serve the hypervisor.v1 fake (with gRPC reflection and health) until SIGINT/SIGTERM",
	Args:  cobra.NoArgs,
	RunE:  runServeHypervisor,
}

func init() {
	f := serveHypervisorCmd.Flags()
	f.StringVar(&serveHypervisorFlags.listen, "listen", "127.0.0.1:50051", "TCP address to serve on (port 0 picks one; the address is printed)")
	f.IntVar(&serveHypervisorFlags.nodes, "nodes", 0, "READY worker nodes to register at start (kept alive with heartbeats)")
	f.Int64Var(&serveHypervisorFlags.seed, "seed", 1, "seed for deterministic ids")
	f.StringVar(&serveHypervisorFlags.cluster, "cluster-name", "vmtestbed", "cluster name GetClusterInfo reports")
	f.DurationVar(&serveHypervisorFlags.leaseTTL, "lease-ttl", 30*time.Second, "how long a node stays READY without a heartbeat (whole seconds)")
	f.DurationVar(&serveHypervisorFlags.beats, "heartbeat-interval", 10*time.Second, "heartbeat interval nodes are told to use (whole seconds, at most --lease-ttl)")
	serveCmd.AddCommand(serveHypervisorCmd)
}

// graceTimeout bounds a graceful stop; open watch streams are cut after it.
const graceTimeout = 5 * time.Second

func runServeHypervisor(cmd *cobra.Command, _ []string) error {
	fl := serveHypervisorFlags
	if fl.nodes < 0 {
		return withCode(exitUsage, fmt.Errorf("--nodes %d: must be >= 0", fl.nodes))
	}
	if fl.beats < time.Second || fl.leaseTTL < fl.beats || fl.leaseTTL%time.Second != 0 || fl.beats%time.Second != 0 {
		return withCode(exitUsage, fmt.Errorf("--lease-ttl %s and --heartbeat-interval %s: whole seconds, 1s <= interval <= TTL", fl.leaseTTL, fl.beats))
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	lis, err := net.Listen("tcp", fl.listen)
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("listen on %s: %w", fl.listen, err))
	}
	fake := fakehv.New(fakehv.Options{Seed: fl.seed, ClusterName: fl.cluster, LeaseTTL: fl.leaseTTL, HeartbeatInterval: fl.beats})
	defer fake.Close()
	g := grpc.NewServer()
	fake.Register(g)
	reflection.Register(g)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(g, hs)
	served := make(chan error, 1)
	go func() { served <- g.Serve(lis) }()

	addr := lis.Addr().String()
	beats, err := registerWorkers(ctx, addr, fl.nodes)
	if err != nil {
		g.Stop()
		<-served
		return withCode(exitFailed, err)
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	fmt.Fprintf(cmd.OutOrStdout(), "hypervisor.v1 fake listening on %s (%d nodes, seed %d)\n", addr, fl.nodes, fl.seed)

	select {
	case <-ctx.Done():
	case err := <-served:
		beats()
		return withCode(exitFailed, fmt.Errorf("serve %s: %w", addr, err))
	}
	beats()
	hs.Shutdown()
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(graceTimeout):
		g.Stop()
		<-stopped
	}
	<-served
	fmt.Fprintln(cmd.OutOrStdout(), "hypervisor.v1 fake stopped")
	return nil
}

// registerWorkers registers n READY workers through the served API and keeps
// their leases alive with heartbeats until the returned stop is called.
func registerWorkers(ctx context.Context, addr string, n int) (stop func(), err error) {
	if n == 0 {
		return func() {}, nil
	}
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("dial own server %s: %w", addr, err)
	}
	cluster := hv.NewClusterServiceClient(cc)
	ids := make([]string, 0, n)
	interval := int64(10)
	for i := range n {
		resp, err := cluster.RegisterNode(ctx, &hv.RegisterNodeRequest{
			Hostname:               fmt.Sprintf("worker-%d", i+1),
			Ip:                     fmt.Sprintf("10.0.%d.%d", (i+1)/250, (i+1)%250+1),
			Port:                   7000,
			Role:                   hv.NodeRole_NODE_ROLE_WORKER,
			Region:                 "region-1",
			Zone:                   fmt.Sprintf("zone-%c", 'a'+i%3),
			Capacity:               &hv.Resources{CpuCores: 16, MemoryBytes: 64 << 30, DiskBytes: 1 << 40},
			SupportedInstanceTypes: []string{"INSTANCE_TYPE_VM", "INSTANCE_TYPE_CONTAINER", "INSTANCE_TYPE_MICROVM"},
		})
		if err != nil {
			cc.Close()
			return nil, fmt.Errorf("register worker-%d: %w", i+1, err)
		}
		ids = append(ids, resp.GetNodeId())
		interval = max(1, resp.GetHeartbeatIntervalSeconds())
		beat := &hv.HeartbeatRequest{NodeId: resp.GetNodeId(), Status: hv.NodeStatus_NODE_STATUS_READY}
		if _, err := cluster.Heartbeat(ctx, beat); err != nil {
			cc.Close()
			return nil, fmt.Errorf("heartbeat worker-%d: %w", i+1, err)
		}
	}
	hctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Duration(interval) * time.Second)
		defer t.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
				for _, id := range ids {
					// A failed beat is retried on the next tick; the lease outlives one miss.
					_, _ = cluster.Heartbeat(hctx, &hv.HeartbeatRequest{NodeId: id, Status: hv.NodeStatus_NODE_STATUS_READY})
				}
			}
		}
	}()
	return func() { cancel(); <-done; cc.Close() }, nil
}
