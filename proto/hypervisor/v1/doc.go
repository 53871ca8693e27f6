// Package hypervisorv1 is the generated Go for the hypervisor.v1 gRPC API
// (Cluster, Compute, Agent, Network and Storage services). The .proto files
// mirror the wire contract copied in testdata/hypervisor.v1.wire.txt;
// descriptor_test.go fails when the two drift. Regenerate with `make proto`.
package hypervisorv1
