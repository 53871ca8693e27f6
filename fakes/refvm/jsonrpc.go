package refvm

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/ava-labs/avalanchego/database"
	"github.com/ava-labs/avalanchego/ids"
)

// JSON-RPC 2.0 error codes.
const (
	rpcParseError     = -32700
	rpcInvalidRequest = -32600
	rpcMethodNotFound = -32601
	rpcInvalidParams  = -32602
	rpcInternal       = -32603
)

type rpcRequest struct {
	JSONRPC string          `json:"jsonrpc"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	ID      json.RawMessage `json:"id"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
	ID      json.RawMessage `json:"id"`
}

// IssueTxReply, GetReply, LastAcceptedReply and BlockReply are the results of
// the refvm.* JSON-RPC methods.
type (
	IssueTxReply struct {
		TxID string `json:"txID"`
	}
	GetReply struct {
		Value string `json:"value"`
		Found bool   `json:"found"`
	}
	LastAcceptedReply struct {
		ID     string `json:"id"`
		Height uint64 `json:"height"`
	}
	BlockReply struct {
		ID        string `json:"id"`
		ParentID  string `json:"parentID"`
		Height    uint64 `json:"height"`
		Timestamp int64  `json:"timestamp"`
		Status    string `json:"status"`
		Txs       []Tx   `json:"txs"`
	}
)

// GetBlockArgs selects a block by hex id or by height.
type GetBlockArgs struct {
	ID     string  `json:"id,omitempty"`
	Height *uint64 `json:"height,omitempty"`
}

// serveJSONRPC answers one HTTP request carrying a JSON-RPC 2.0 call.
func (v *vm) serveJSONRPC(ctx context.Context, method string, body []byte) (int, http.Header, []byte) {
	hdr := http.Header{"Content-Type": {"application/json"}}
	if method != http.MethodPost {
		hdr.Set("Allow", http.MethodPost)
		return http.StatusMethodNotAllowed, hdr, []byte(`{"error":"refvm JSON-RPC needs POST"}` + "\n")
	}
	var req rpcRequest
	resp := rpcResponse{JSONRPC: "2.0", ID: json.RawMessage("null")}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		resp.Error = &rpcError{rpcParseError, fmt.Sprintf("parse JSON-RPC request: %v", err)}
	} else {
		if len(req.ID) > 0 {
			resp.ID = req.ID
		}
		if req.JSONRPC != "2.0" || req.Method == "" {
			resp.Error = &rpcError{rpcInvalidRequest, `want {"jsonrpc":"2.0","method":...}`}
		} else {
			resp.Result, resp.Error = v.call(ctx, req.Method, req.Params)
		}
	}
	out, err := json.Marshal(resp)
	if err != nil {
		return http.StatusInternalServerError, hdr, []byte(`{"jsonrpc":"2.0","error":{"code":-32603,"message":"encode response"},"id":null}`)
	}
	return http.StatusOK, hdr, append(out, '\n')
}

// decodeParams accepts params as an object or as a one-element array (gorilla style).
func decodeParams(raw json.RawMessage, dst any) *rpcError {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		raw = []byte("{}")
	}
	if raw[0] == '[' {
		var arr []json.RawMessage
		if err := json.Unmarshal(raw, &arr); err != nil || len(arr) != 1 {
			return &rpcError{rpcInvalidParams, "params must be an object or a one-element array"}
		}
		raw = arr[0]
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return &rpcError{rpcInvalidParams, fmt.Sprintf("params: %v", err)}
	}
	return nil
}

func (v *vm) call(ctx context.Context, method string, params json.RawMessage) (any, *rpcError) {
	switch method {
	case "refvm.issueTx":
		var tx Tx
		if e := decodeParams(params, &tx); e != nil {
			return nil, e
		}
		return v.issueTx(ctx, tx)
	case "refvm.get":
		var args struct {
			Key string `json:"key"`
		}
		if e := decodeParams(params, &args); e != nil {
			return nil, e
		}
		return v.get(args.Key)
	case "refvm.lastAccepted":
		var args struct{}
		if e := decodeParams(params, &args); e != nil {
			return nil, e
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		c, err := v.ready()
		if err != nil {
			return nil, &rpcError{rpcInternal, err.Error()}
		}
		return LastAcceptedReply{ID: hex.EncodeToString(c.reported.ID[:]), Height: c.reported.Height}, nil
	case "refvm.getBlock":
		var args GetBlockArgs
		if e := decodeParams(params, &args); e != nil {
			return nil, e
		}
		return v.getBlockRPC(args)
	default:
		return nil, &rpcError{rpcMethodNotFound, fmt.Sprintf("unknown method %q", method)}
	}
}

func (v *vm) issueTx(ctx context.Context, tx Tx) (any, *rpcError) {
	if err := tx.validate(); err != nil {
		return nil, &rpcError{rpcInvalidParams, err.Error()}
	}
	v.mu.Lock()
	if _, err := v.ready(); err != nil {
		v.mu.Unlock()
		return nil, &rpcError{rpcInternal, err.Error()}
	}
	wasEmpty := len(v.mempool.txs) == 0
	added, err := v.mempool.add(tx)
	if added {
		v.metrics.txsIssued++
	}
	v.mu.Unlock()
	v.notifyBuild(ctx, added && wasEmpty)
	if err != nil {
		return nil, &rpcError{rpcInternal, err.Error()}
	}
	id := tx.ID()
	if added {
		if err := v.gossip(ctx, []Tx{tx}); err != nil {
			v.logf("refvm: issueTx %s: %v", id, err)
		}
	}
	return IssueTxReply{TxID: hex.EncodeToString(id[:])}, nil
}

func (v *vm) get(key string) (any, *rpcError) {
	if key == "" {
		return nil, &rpcError{rpcInvalidParams, "key is empty"}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	c, err := v.ready()
	if err != nil {
		return nil, &rpcError{rpcInternal, err.Error()}
	}
	val, err := c.db.Get(stateKey(key))
	if errors.Is(err, database.ErrNotFound) {
		return GetReply{}, nil
	}
	if err != nil {
		return nil, &rpcError{rpcInternal, fmt.Sprintf("read %q: %v", key, err)}
	}
	return GetReply{Value: string(val), Found: true}, nil
}

func (v *vm) getBlockRPC(args GetBlockArgs) (any, *rpcError) {
	if (args.ID == "") == (args.Height == nil) {
		return nil, &rpcError{rpcInvalidParams, `give exactly one of "id" and "height"`}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	c, err := v.ready()
	if err != nil {
		return nil, &rpcError{rpcInternal, err.Error()}
	}
	var id ids.ID
	if args.Height != nil {
		if id, err = c.idAtHeight(*args.Height); err != nil {
			return nil, &rpcError{rpcInvalidParams, fmt.Sprintf("height %d: %v", *args.Height, err)}
		}
	} else {
		b, err := hex.DecodeString(args.ID)
		if err != nil || len(b) != len(id) {
			return nil, &rpcError{rpcInvalidParams, "id must be 64 hex digits"}
		}
		id = ids.ID(b)
	}
	blk, st, err := c.get(id)
	if err != nil {
		return nil, &rpcError{rpcInvalidParams, fmt.Sprintf("block %x: %v", id[:], err)}
	}
	txs := blk.Txs
	if txs == nil {
		txs = []Tx{}
	}
	return BlockReply{
		ID: hex.EncodeToString(blk.ID[:]), ParentID: hex.EncodeToString(blk.Parent[:]),
		Height: blk.Height, Timestamp: blk.Timestamp.Unix(), Status: st.String(), Txs: txs,
	}, nil
}
