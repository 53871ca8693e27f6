package main

import (
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	fakehv "github.com/vmtestbed/vmtestbed/fakes/hypervisor"
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
	f.IntVar(&serveHypervisorFlags.nodes, "nodes", 0, "READY worker nodes (16 cores, 64 GiB, 1 TiB each) the fake registers at start and keeps alive itself, whatever status a client sets")
	f.Int64Var(&serveHypervisorFlags.seed, "seed", 1, "seed for deterministic ids")
	f.StringVar(&serveHypervisorFlags.cluster, "cluster-name", "vmtestbed", "cluster name GetClusterInfo reports")
	f.DurationVar(&serveHypervisorFlags.leaseTTL, "lease-ttl", 30*time.Second, "how long a node stays READY without a heartbeat (whole seconds)")
	f.DurationVar(&serveHypervisorFlags.beats, "heartbeat-interval", 10*time.Second, "heartbeat interval nodes are told to use (whole seconds, at most --lease-ttl)")
	serveCmd.AddCommand(serveHypervisorCmd)
}

// graceTimeout bounds a graceful stop; RPCs still running after it are cut.
const graceTimeout = 5 * time.Second

func runServeHypervisor(cmd *cobra.Command, _ []string) error {
	fl := serveHypervisorFlags
	if fl.nodes < 0 {
		return withCode(exitUsage, fmt.Errorf("--nodes %d: must be >= 0", fl.nodes))
	}
	if fl.beats < time.Second || fl.leaseTTL < fl.beats || fl.leaseTTL%time.Second != 0 || fl.beats%time.Second != 0 {
		return withCode(exitUsage, fmt.Errorf("--lease-ttl %s and --heartbeat-interval %s: whole seconds, 1s <= interval <= TTL", fl.leaseTTL, fl.beats))
	}
	ctx := cmd.Context() // cancelled on SIGINT/SIGTERM (run)
	lis, err := net.Listen("tcp", fl.listen)
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("listen on %s: %w", fl.listen, err))
	}
	// The fake registers the --nodes workers itself and keeps their leases
	// alive on its clock, leaving whatever status a client gives them.
	served, err := fakehv.Serve(fakehv.Options{
		Seed: fl.seed, ClusterName: fl.cluster, LeaseTTL: fl.leaseTTL, HeartbeatInterval: fl.beats, Workers: fl.nodes,
	}, fakehv.ServeOptions{Listener: lis, GraceTimeout: graceTimeout})
	if err != nil {
		return withCode(exitFailed, err)
	}
	defer served.Stop()
	addr := served.Addr()
	fmt.Fprintf(cmd.OutOrStdout(), "hypervisor.v1 fake listening on %s (%d nodes, seed %d)\n", addr, fl.nodes, fl.seed)

	select {
	case <-ctx.Done():
	case <-served.Done():
		served.Stop()
		return withCode(exitFailed, fmt.Errorf("serve %s: %w", addr, served.Err()))
	}
	served.Stop()
	fmt.Fprintln(cmd.OutOrStdout(), "hypervisor.v1 fake stopped")
	return nil
}
