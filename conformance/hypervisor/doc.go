// Package hypervisor is the conformance suite for the hypervisor.v1 gRPC API
// (ClusterService, ComputeService, AgentService, NetworkService and
// StorageService, 79 methods; contract: specs/hypervisor.v1.wire.txt plus the
// API doc's semantics).
//
// It is a library without package-global state: Register adds the specs to a
// caller's ginkgo suite (as csi-sanity's GinkgoTest does), Run runs them as a
// whole suite inside a Go test, and RunSuite runs them for the CLI and returns
// a report.Result with a per-method table.
//
// Every spec carries an ID such as [HV-CMP-004] and RFC 2119 wording, registers
// the nodes it schedules onto, and deletes what it creates in reverse order
// even when it fails (see resources.go). The RPCs each spec makes are recorded
// by a wrapper around the client connection (recorder.go) and attached to the
// spec's report, so a partial server still gets a useful method table.
package hypervisor
