// Package recorder is a pass-through proxy that records an rpcchainvm
// session. To the node (a real AvalancheGo or the fake one) it IS the
// plugin: started with AVALANCHE_VM_RUNTIME_ENGINE_ADDR, it starts the real
// plugin binary behind its own runtime engine, learns the plugin's VM
// address and protocol, serves a VM endpoint of its own that forwards every
// call, and hands the node its own address with the plugin's protocol.
//
// Every address that crosses the proxy is replaced by a proxy of its own,
// so calls in both directions are recorded (see rewrite.go):
//   - vm.VM/Initialize request: db_server_addr ("rpcdb") and server_addr
//     ("node"), served by the node, called by the plugin;
//   - vm.VM/CreateHandlers and vm.VM/NewHTTPHandler replies: the plugin's
//     HTTP handler servers ("handler:PREFIX", "http");
//   - http.HTTP/Handle request: response_writer.server_addr
//     ("http-writer:N", the node's Writer and Reader for that request);
//   - http.responsewriter.Writer/Hijack reply: server_addr ("hijack:N", the
//     node's Conn, Reader and Writer of a hijacked connection).
//
// Forwarding is generic (grpc.UnknownServiceHandler with a raw-bytes
// codec): unary and streaming calls, metadata, deadlines, cancellation and
// status details pass through unchanged; only the address fields above are
// rewritten, and recordings show the messages as their sender sent them.
// Each process writes one session file (package recording).
package recorder
