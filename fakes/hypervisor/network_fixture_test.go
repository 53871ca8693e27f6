package hypervisor

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// netFixture is a Server served over bufconn with clients for the services
// the network and storage tests use.
type netFixture struct {
	srv     *Server
	net     hv.NetworkServiceClient
	sto     hv.StorageServiceClient
	cluster hv.ClusterServiceClient
	compute hv.ComputeServiceClient
}

func newNetFixture(tb testing.TB) *netFixture {
	tb.Helper()
	return newNetFixtureWith(tb, Options{Seed: 7})
}

func newNetFixtureWith(tb testing.TB, opts Options) *netFixture {
	tb.Helper()
	served, err := Serve(opts, ServeOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(served.Stop)
	srv, conn := served.Fake(), served.Conn()
	return &netFixture{
		srv: srv, net: hv.NewNetworkServiceClient(conn), sto: hv.NewStorageServiceClient(conn),
		cluster: hv.NewClusterServiceClient(conn), compute: hv.NewComputeServiceClient(conn),
	}
}

// wantCode fails unless err carries code c (codes.OK means no error).
func wantCode(tb testing.TB, err error, c codes.Code, what string) {
	tb.Helper()
	if got := status.Code(err); got != c {
		tb.Fatalf("%s: code %v (%v), want %v", what, got, err, c)
	}
}

// result carries a call's two return values so ok can check them inline:
// call(client.X(ctx, req)).ok(t).
type result[T any] struct {
	v   T
	err error
}

func call[T any](v T, err error) result[T] { return result[T]{v, err} }

func (r result[T]) ok(tb testing.TB) T {
	tb.Helper()
	if r.err != nil {
		tb.Fatalf("unexpected error: %v", r.err)
	}
	return r.v
}

var ctx = context.Background()

// node registers a READY node at ip.
func (f *netFixture) node(tb testing.TB, ip string) string {
	tb.Helper()
	resp := call(f.cluster.RegisterNode(ctx, &hv.RegisterNodeRequest{
		Hostname: "host-" + ip, Ip: ip, Port: 7000, Role: hv.NodeRole_NODE_ROLE_WORKER,
		Capacity: &hv.Resources{CpuCores: 64, MemoryBytes: 64 << 30, DiskBytes: 1 << 40},
	})).ok(tb)
	return resp.GetNodeId()
}

// instance creates an instance placed on node and returns its id.
func (f *netFixture) instance(tb testing.TB, node, name string) string {
	tb.Helper()
	in := call(f.compute.CreateInstance(ctx, &hv.CreateInstanceRequest{
		Name: name, Type: hv.InstanceType_INSTANCE_TYPE_VM, PreferredNodeId: node,
		Spec: &hv.InstanceSpec{Image: "ubuntu:22.04", CpuCores: 1, MemoryBytes: 256 << 20},
	})).ok(tb)
	return in.GetId()
}

func (f *netFixture) network(tb testing.TB, req *hv.CreateNetworkRequest) *hv.Network {
	tb.Helper()
	if req.Name == "" {
		req.Name = "net"
	}
	if req.Type == hv.NetworkType_NETWORK_TYPE_UNSPECIFIED {
		req.Type = hv.NetworkType_NETWORK_TYPE_FLAT
	}
	return call(f.net.CreateNetwork(ctx, req)).ok(tb).GetNetwork()
}

func (f *netFixture) subnet(tb testing.TB, networkID, cidr string) *hv.Subnet {
	tb.Helper()
	return call(f.net.CreateSubnet(ctx, &hv.CreateSubnetRequest{Name: dnsLabel(cidr), NetworkId: networkID, Cidr: cidr})).ok(tb).GetSubnet()
}

// flatSubnet makes a FLAT network with one subnet.
func (f *netFixture) flatSubnet(tb testing.TB, cidr string, external bool) (*hv.Network, *hv.Subnet) {
	tb.Helper()
	nw := f.network(tb, &hv.CreateNetworkRequest{Name: "net-" + dnsLabel(cidr), External: external})
	return nw, f.subnet(tb, nw.Id, cidr)
}

// dnsLabel turns a CIDR into a name the fake accepts ("10-0-0-0-24").
func dnsLabel(cidr string) string {
	return strings.NewReplacer(".", "-", "/", "-", ":", "-").Replace(cidr)
}
