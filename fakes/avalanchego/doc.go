// Package avalanchego is the fake AvalancheGo node: the other side of the
// rpcchainvm contract (the project's rpcchainvm spec; its facts live in this
// package's code and testdata, and recordings of a real node keep it honest).
//
// It has four parts, one per file group:
//   - protocol.go: the rpcchainvm protocol table (33..46), same-wire rules and
//     the mismatch message.
//   - launcher.go, process.go, inprocess.go, handshake.go: start a plugin
//     exactly as AvalancheGo does (minimal environment, Runtime/Initialize
//     handshake with a timeout, stdout/stderr capture, Shutdown -> SIGTERM ->
//     SIGKILL) either as a subprocess over loopback TCP or as a goroutine
//     over a bufconn address book.
//   - node.go, services_*.go, http.go: the node-side gRPC services a plugin
//     dials back (rpcdb, shared memory, alias reader, app sender, validator
//     state, warp signer, health) and the InitializeRequest that names them.
//   - sequencer.go: AvalancheGo's call sequence (pre-init, Initialize, state
//     sync, bootstrapping, normal operation, block building).
//
// trace.go and trace_render.go record every RPC in both directions and render
// the record as JSON, text or a Mermaid sequence diagram.
//
// Record and replay live in subpackages: recording (the session file
// format), recorder (a proxy a node starts as its plugin, built on this
// package's RuntimeEngine, engine.go) and replay (a recorded chain session
// driven through this fake node).
package avalanchego
