package avalanchego

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// JSONRPCError is an error object a JSON-RPC 2.0 server answered with.
type JSONRPCError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *JSONRPCError) Error() string {
	return fmt.Sprintf("json-rpc error %d: %s", e.Code, e.Message)
}

// JSONRPC posts a JSON-RPC 2.0 call to path through HandleSimple and decodes
// the result into result (may be nil). A JSON-RPC error is a *JSONRPCError.
func (c *HTTPClient) JSONRPC(ctx context.Context, path, method string, params, result any) error {
	if params == nil {
		params = struct{}{}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": c.jsonrpcID.Add(1), "method": method, "params": params})
	if err != nil {
		return fmt.Errorf("json-rpc %s: encode params: %w", method, err)
	}
	h := http.Header{"Content-Type": {"application/json"}}
	code, _, respBody, err := c.Simple(ctx, http.MethodPost, path, h, body)
	if err != nil {
		return fmt.Errorf("json-rpc %s: %w", method, err)
	}
	var resp struct {
		Result json.RawMessage `json:"result"`
		Error  *JSONRPCError   `json:"error"`
	}
	if err := json.Unmarshal(respBody, &resp); err != nil {
		return fmt.Errorf("json-rpc %s: http %d, body %q: %w", method, code, shorten(string(respBody), 200), err)
	}
	if resp.Error != nil {
		return fmt.Errorf("json-rpc %s: %w", method, resp.Error)
	}
	if result != nil {
		if err := json.Unmarshal(resp.Result, result); err != nil {
			return fmt.Errorf("json-rpc %s: decode result %s: %w", method, shorten(string(resp.Result), 200), err)
		}
	}
	return nil
}
