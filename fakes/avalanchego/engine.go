package avalanchego

import (
	"context"
	"fmt"
	"time"

	"github.com/vmtestbed/vmtestbed/transport"
)

// AnyProtocol, as the protocol of a RuntimeEngine, accepts whatever
// protocol the plugin announces (a recording proxy passes it on to the real
// node, which decides).
const AnyProtocol uint = 0

// Handshake is what a plugin announced in vm.runtime.Runtime/Initialize.
type Handshake struct {
	Protocol uint   // rpcchainvm protocol version
	Addr     string // the plugin's VM server address
	Notice   string // set when the protocol differs from ours on an identical wire
}

// RuntimeEngine is the node's end of the runtime handshake for one plugin
// launch, for code that starts the plugin process itself (the recorder).
// LaunchProcess and LaunchInProcess use the same server.
type RuntimeEngine struct {
	eng *runtimeEngine
}

// StartRuntimeEngine serves vm.runtime.Runtime on a new listener of tr.
// protocol is the one the node emulates (AnyProtocol accepts any); path
// names the plugin in mismatch errors.
func StartRuntimeEngine(tr transport.Transport, protocol uint, path string) (*RuntimeEngine, error) {
	l, addr, err := tr.Listen("runtime")
	if err != nil {
		return nil, fmt.Errorf("runtime engine: %w", err)
	}
	return &RuntimeEngine{eng: startRuntimeEngine(l, addr, newHandshakeServer(protocol, false, path), nil)}, nil
}

// Addr is the address to hand the plugin in AVALANCHE_VM_RUNTIME_ENGINE_ADDR.
func (e *RuntimeEngine) Addr() string { return e.eng.addr }

// Await waits up to timeout for the handshake, returning early with
// ErrExitedBeforeHandshake once exited closes, or with ctx's error. A
// protocol mismatch is an error too (the plugin has been told).
func (e *RuntimeEngine) Await(ctx context.Context, exited <-chan struct{}, timeout time.Duration) (Handshake, error) {
	res, err := awaitHandshake(ctx, e.eng, exited, timeout)
	if err != nil {
		return Handshake{}, err
	}
	if res.err != nil {
		return Handshake{}, res.err
	}
	return Handshake{Protocol: res.protocol, Addr: res.addr, Notice: res.notice}, nil
}

// Stop ends the server gracefully (the plugin gets its answer), forced
// after a second. Call it once.
func (e *RuntimeEngine) Stop() { e.eng.stop() }
