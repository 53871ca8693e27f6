package xsvm

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/transport"
)

// Detect reports whether the plugin binary at path is xsvm: it launches the
// plugin once, initializes it with this workload's genesis (other VMs reject
// those bytes) and asks every handler for xsvm.network. It gives up, and
// reports false, after timeout. The probe's plugin and node are always
// stopped before it returns.
func (w *Workload) Detect(ctx context.Context, path string, protocol uint, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	genesis, err := w.Genesis()
	if err != nil {
		return false
	}
	// Short Shutdown and grace limits: a plugin that hangs in Shutdown costs
	// the probe two seconds, and the suite reports the hang itself. Any
	// protocol of the same wire will do to tell what the plugin is; the
	// suite judges the protocol itself.
	p, err := avalanchego.LaunchProcess(ctx, path, avalanchego.LaunchConfig{
		Protocol: protocol, SameWire: true, HandshakeTimeout: timeout, ShutdownTimeout: time.Second, GracefulTimeout: time.Second,
	})
	if err != nil {
		return false
	}
	node, err := avalanchego.NewNode(ctx, avalanchego.NodeConfig{Transport: transport.TCP{}, Genesis: genesis})
	if err != nil {
		_ = p.Stop(context.Background())
		return false
	}
	defer func() { // as AvalancheGo stops a chain, then the node
		_ = avalanchego.StopChain(context.Background(), p, node)
		_ = node.Close()
	}()
	if protocol == 0 {
		protocol = avalanchego.NewestProtocol
	}
	if _, err := p.VM.Initialize(ctx, node.InitializeRequest(protocol)); err != nil {
		return false
	}
	handlers, err := p.VM.CreateHandlers(ctx, &emptypb.Empty{})
	if err != nil {
		return false
	}
	for _, h := range handlers.GetHandlers() {
		c, err := node.HandlerHTTP(p, h)
		if err != nil {
			continue
		}
		var reply networkReply
		err = c.JSONRPC(ctx, "", "xsvm.network", struct{}{}, &reply)
		_ = c.Close()
		if err == nil {
			return true
		}
	}
	return false
}
