// Package hypervisor is the conformance suite for the hypervisor.v1 gRPC API
// (ClusterService, ComputeService, AgentService, NetworkService and
// StorageService, 79 methods; contract: specs/hypervisor.v1.wire.txt plus the
// API doc's semantics).
//
// It is a library without package-global state: Register adds the specs to a
// caller's ginkgo suite (as csi-sanity's GinkgoTest does), Run runs them as a
// whole suite inside a Go test, and RunSuite runs them for the CLI and returns
// a report.Result with a per-method table (MethodTable).
//
// Before the first spec the suite probes every method once (probe.go) and
// classifies it implemented, unimplemented or unreachable; a spec that needs
// a method the server lacks is skipped with that reason instead of failing.
// AgentService is called at Config.AgentAddr (a node's agent), and every node
// the suite registers points at a node agent the suite serves itself
// (nodeagent.go), so a control plane that dials its nodes can schedule onto
// them.
//
// Every spec carries an ID such as [HV-CMP-004] and RFC 2119 wording; specs
// that state only a SHOULD check documented conventions and do not fail a
// run (IsConvention). Specs run in declared order; a spec with several cases
// runs them in order and reports every failing one (check.go). Every wait is
// bounded below the spec's timeout and says what it awaited. Names and VNIs
// are unique per run and totals are checked by membership, so several suites
// can run against one server at once. Each spec deletes what it creates, and
// whatever a broken server wrongly accepted, in reverse order even when it
// fails (resources.go). The RPCs each spec makes are recorded by a wrapper
// around the client connection (recorder.go), which also names the one
// method a failure is about, so the method table blames only that method.
package hypervisor
