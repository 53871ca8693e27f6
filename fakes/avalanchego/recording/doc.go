// Package recording is the session file format of vmtestbed's rpcchainvm
// recorder: every gRPC call between an AvalancheGo node and a VM plugin, in
// both directions, with timing, status, and messages as protojson.
//
// A session file is JSON Lines (docs/RECORDING.md describes every field):
//
//	{"format":"vmtestbed-rpcchainvm-recording","version":1,"plugin":"myvm",...}   header
//	{"kind":"call","seq":1,"id":"vm#1","dir":"node->plugin",...}                  one line per call
//	{"kind":"end","end_ns":123456789,"exit":"exit status 0"}                       trailer (absent if the recorder was killed)
//
// Writer appends calls as they finish (safe for concurrent use; calls still
// open at Close are written with "pending":true). Decode/Open read a
// session and validate every line, reporting errors with line numbers; List
// and ReadDir find the sessions of a recording directory; Normalize rewrites
// run-specific values (loopback addresses, the chain data dir, pids, the
// wall-clock start) so sessions can be committed and compared; Encode writes
// a session deterministically in seq order.
//
// Messages are decoded by method through the global protobuf registry; this
// package imports every avalanchego proto package the rpcchainvm protocol
// uses so their descriptors are registered.
package recording
