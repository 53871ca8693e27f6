package refvm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/ava-labs/avalanchego/ids"
)

// Genesis is the JSON form of refvm genesis bytes.
type Genesis struct {
	Timestamp int64             `json:"timestamp"` // unix seconds
	State     map[string]string `json:"state,omitempty"`
}

// DefaultGenesis is used when the node sends empty genesis bytes.
var DefaultGenesis = Genesis{Timestamp: 1700000000, State: map[string]string{"refvm": "genesis"}}

// parseGenesis decodes genesis bytes strictly (unknown fields are errors).
func parseGenesis(b []byte) (Genesis, error) {
	if len(b) == 0 {
		return DefaultGenesis, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var g Genesis
	if err := dec.Decode(&g); err != nil {
		return Genesis{}, fmt.Errorf("parse genesis JSON: %w", err)
	}
	if dec.More() {
		return Genesis{}, fmt.Errorf("parse genesis JSON: trailing data")
	}
	if g.Timestamp < 0 || g.Timestamp > 1<<40 {
		return Genesis{}, fmt.Errorf("genesis timestamp %d out of range", g.Timestamp)
	}
	if len(g.State) > maxBlockTxs {
		return Genesis{}, fmt.Errorf("genesis state has %d entries, limit %d", len(g.State), maxBlockTxs)
	}
	for k, v := range g.State {
		if err := (Tx{Key: k, Value: v}).validate(); err != nil {
			return Genesis{}, fmt.Errorf("genesis state entry %q: %w", k, err)
		}
	}
	return g, nil
}

// block is the genesis block: zero parent, height 0, the genesis state as
// its transactions in key order.
func (g Genesis) block() *Block {
	keys := make([]string, 0, len(g.State))
	for k := range g.State {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	txs := make([]Tx, 0, len(keys))
	for _, k := range keys {
		txs = append(txs, Tx{Key: k, Value: g.State[k]})
	}
	return newBlock(ids.Empty, 0, time.Unix(g.Timestamp, 0), txs)
}
