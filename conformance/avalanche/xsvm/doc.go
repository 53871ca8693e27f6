// Package xsvm lets the Avalanche conformance suite drive xsvm, avalanchego's
// example VM, as a real third-party plugin: Build compiles a pinned xsvm
// release from the Go module proxy (cached between runs) and Workload makes
// it want blocks by issuing signed transfer transactions through its own
// JSON-RPC API, exactly as a user of a real node would.
//
// xsvm's Verify rejects empty blocks, so every block the suite builds needs a
// transaction. Each transaction is sent from its own pre-funded key with
// nonce 0, so transactions never depend on each other: a block built on any
// parent (including a conflicting sibling) stays valid.
package xsvm
