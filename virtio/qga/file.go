package qga

import (
	"context"
	"encoding/base64"
	"fmt"
)

// FileOpen opens path in the guest with an fopen mode ("r", "w+", ...) and returns a handle.
func (c *Client) FileOpen(ctx context.Context, path, mode string) (int64, error) {
	var h int64
	if err := c.Call(ctx, "guest-file-open", map[string]string{"path": path, "mode": mode}, &h); err != nil {
		return 0, err
	}
	return h, nil
}

// FileRead reads up to count bytes; eof reports the end of the file.
func (c *Client) FileRead(ctx context.Context, handle int64, count int) (data []byte, eof bool, err error) {
	var r struct {
		Count  int    `json:"count"`
		BufB64 string `json:"buf-b64"`
		EOF    bool   `json:"eof"`
	}
	if err := c.Call(ctx, "guest-file-read", map[string]int64{"handle": handle, "count": int64(count)}, &r); err != nil {
		return nil, false, err
	}
	data, err = base64.StdEncoding.DecodeString(r.BufB64)
	if err != nil {
		return nil, false, fmt.Errorf("qga guest-file-read %d: buf-b64: %w", handle, err)
	}
	return data, r.EOF, nil
}

// FileWrite writes data and returns how many bytes the agent wrote.
func (c *Client) FileWrite(ctx context.Context, handle int64, data []byte) (int, error) {
	var r struct {
		Count int  `json:"count"`
		EOF   bool `json:"eof"`
	}
	args := map[string]any{"handle": handle, "buf-b64": base64.StdEncoding.EncodeToString(data)}
	if err := c.Call(ctx, "guest-file-write", args, &r); err != nil {
		return 0, err
	}
	return r.Count, nil
}

// FileClose closes a handle from FileOpen.
func (c *Client) FileClose(ctx context.Context, handle int64) error {
	return c.Call(ctx, "guest-file-close", map[string]int64{"handle": handle}, nil)
}
