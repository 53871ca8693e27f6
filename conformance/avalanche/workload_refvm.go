package avalanche

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
)

// refvmPath is the URL path the refvm JSON-RPC API answers on, inside the
// handler it registers under the "/rpc" prefix.
const refvmPath = "/"

// RefVMWorkload issues refvm transactions (refvm.issueTx) through the VM's
// JSON-RPC handler. The suite picks it on its own when a handler answers
// refvm.lastAccepted.
func RefVMWorkload() Workload { return &refvmWorkload{} }

type refvmWorkload struct{ n atomic.Uint64 }

func (*refvmWorkload) Name() string { return "refvm" }

// Genesis is refvm's genesis: opaque bytes, hashed into the genesis block.
func (*refvmWorkload) Genesis() ([]byte, error) { return []byte("vmtestbed conformance genesis"), nil }

func (w *refvmWorkload) IssueTx(ctx context.Context, http *avalanchego.HTTPClient, n int) error {
	for range n {
		i := w.n.Add(1)
		params := map[string]string{"key": fmt.Sprintf("conform-%d", i), "value": fmt.Sprintf("v%d", i)}
		var res struct {
			TxID string `json:"txID"`
		}
		if err := http.JSONRPC(ctx, refvmPath, "refvm.issueTx", params, &res); err != nil {
			return fmt.Errorf("refvm.issueTx %d: %w", i, err)
		}
		if res.TxID == "" {
			return fmt.Errorf("refvm.issueTx %d: reply without txID", i)
		}
	}
	return nil
}

// isRefVM reports whether the handler behind http speaks the refvm API.
func isRefVM(ctx context.Context, http *avalanchego.HTTPClient) bool {
	var res struct {
		ID string `json:"id"`
	}
	return http.JSONRPC(ctx, refvmPath, "refvm.lastAccepted", struct{}{}, &res) == nil && res.ID != ""
}
