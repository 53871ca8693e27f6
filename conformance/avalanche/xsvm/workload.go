package xsvm

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	"github.com/ava-labs/avalanchego/ids"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
)

// Funded keys in the genesis this workload writes; one is spent per transaction.
const (
	NumKeys        = 512
	initialBalance = 1_000_000_000
	maxFee         = 1_000
)

// Workload issues xsvm Transfer transactions. It is safe for concurrent use.
type Workload struct {
	mu     sync.Mutex
	keys   []key
	next   int
	chains map[*avalanchego.HTTPClient]ids.ID // chain id per client (see chain)
	// GenesisTime is the genesis block's timestamp (default 2024-01-01 UTC,
	// before every upgrade the fake node schedules).
	GenesisTime time.Time
}

// NewWorkload derives NumKeys deterministic keys.
func NewWorkload() (*Workload, error) {
	w := &Workload{GenesisTime: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	for i := range NumKeys {
		seed := sha256.Sum256(fmt.Appendf(nil, "vmtestbed/xsvm/key/%d", i))
		w.keys = append(w.keys, newKey(seed[:]))
	}
	return w, nil
}

// Name names the workload in reports.
func (*Workload) Name() string { return "xsvm" }

// Genesis funds every key with the chain's native asset.
func (w *Workload) Genesis() ([]byte, error) {
	allocs := make([]genesisAlloc, len(w.keys))
	for i, k := range w.keys {
		allocs[i] = genesisAlloc{addr: k.addr, balance: initialBalance}
	}
	return encodeGenesis(w.GenesisTime.Unix(), allocs), nil
}

type networkReply struct {
	NetworkID uint32 `json:"networkID"`
	SubnetID  ids.ID `json:"subnetID"`
	ChainID   ids.ID `json:"chainID"`
}

type issueTxArgs struct {
	Tx []byte `json:"tx"`
}

type issueTxReply struct {
	TxID ids.ID `json:"txID"`
}

// IssueTx sends n transfers, each from a fresh funded key, through xsvm's
// JSON-RPC handler (xsvm.network once per client, then xsvm.issueTx).
func (w *Workload) IssueTx(ctx context.Context, c *avalanchego.HTTPClient, n int) error {
	chainID, err := w.chain(ctx, c)
	if err != nil {
		return err
	}
	for range n {
		key, err := w.takeKey()
		if err != nil {
			return err
		}
		tf := transfer{chainID: chainID, maxFee: maxFee, assetID: chainID, amount: 1, to: w.keys[0].addr}
		raw := tf.signedTx(key)
		var reply issueTxReply
		if err := c.JSONRPC(ctx, "", "xsvm.issueTx", &issueTxArgs{Tx: raw}, &reply); err != nil {
			return fmt.Errorf("xsvm workload: xsvm.issueTx (%s): %w", tf, err)
		}
		if want := txID(raw); reply.TxID != want {
			return fmt.Errorf("xsvm workload: xsvm.issueTx answered tx id %s, the bytes hash to %s", reply.TxID, want)
		}
	}
	return nil
}

// chain asks the chain's id (xsvm.network) once per client: the same
// workload issues on several chains (the single-node target's, then each
// node's of a multi-node network, which has its own chain id), and a client
// reaches one chain.
func (w *Workload) chain(ctx context.Context, c *avalanchego.HTTPClient) (ids.ID, error) {
	w.mu.Lock()
	id, ok := w.chains[c]
	w.mu.Unlock()
	if ok {
		return id, nil
	}
	var reply networkReply
	if err := c.JSONRPC(ctx, "", "xsvm.network", struct{}{}, &reply); err != nil {
		return ids.Empty, fmt.Errorf("xsvm workload: xsvm.network: %w", err)
	}
	w.mu.Lock()
	if w.chains == nil {
		w.chains = map[*avalanchego.HTTPClient]ids.ID{}
	}
	w.chains[c] = reply.ChainID
	w.mu.Unlock()
	return reply.ChainID, nil
}

func (w *Workload) takeKey() (key, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.next >= len(w.keys) {
		return key{}, fmt.Errorf("xsvm workload: all %d funded keys spent", len(w.keys))
	}
	k := w.keys[w.next]
	w.next++
	return k, nil
}
