// Package avalanche is the conformance suite for Avalanche chain-VM plugins:
// ginkgo specs that drive a plugin through the rpcchainvm contract (see the
// contract notes copied into testdata/contract.md) the way AvalancheGo does,
// and check every answer.
//
// The suite is a library without package-global state: Register adds the
// specs for one target to the caller's ginkgo suite, Run runs a whole suite
// inside a Go test, and Main runs one suite per process for the CLI
// (`vmtestbed conform avalanche`). Every top-level container launches a fresh
// plugin and a fresh fake node (fakes/avalanchego) and stops both when it is
// done, even after a failure.
//
// Files, one job each:
//   - config.go: Config, Workload and their defaults.
//   - target.go: one launched plugin plus its node; call helpers with timeouts.
//   - blocks.go: Block and the build/parse/verify/accept helpers specs use.
//   - workload_refvm.go: the refvm workload (auto-detected).
//   - specs_*.go: the specs, one file per area; each spec has a stable ID
//     ([AVA-AREA-NNN]) and RFC 2119 wording.
//   - run.go: Register, Run and Main (reports: JUnit, JSON, RPC trace).
package avalanche
