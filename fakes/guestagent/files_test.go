package guestagent

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// sendFile sends data to path in chunks and returns file_end's reply.
func sendFile(t *testing.T, send func(v any) map[string]any, path string, data []byte, sum string) map[string]any {
	t.Helper()
	if r := send(map[string]any{"command": "file_begin", "path": path, "size": len(data), "sha256": sum}); r["error"] != nil {
		t.Fatalf("file_begin: %v", r)
	}
	for seq, off := 0, 0; off < len(data); seq++ {
		n := min(DefaultChunkMax, len(data)-off)
		r := send(map[string]any{"command": "file_chunk", "seq": seq, "data": base64.StdEncoding.EncodeToString(data[off : off+n])})
		if r["error"] != nil {
			t.Fatalf("file_chunk %d: %v", seq, r)
		}
		off += n
	}
	return send(map[string]any{"command": "file_end"})
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestFileTransfer(t *testing.T) {
	root := t.TempDir()
	ch := startPTY(t, Options{Root: root})
	send := func(v any) map[string]any { return callJSON(t, ch, v) }
	data := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320000 bytes, 7 chunks
	r := sendFile(t, send, "dir/big.bin", data, sha(data))
	if r["error"] != nil {
		t.Fatalf("file_end: %v", r)
	}
	got, err := os.ReadFile(filepath.Join(root, "dir", "big.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("uploaded file differs (err %v, %d bytes)", err, len(got))
	}
	st := send(map[string]any{"command": "file_stat", "path": "dir/big.bin"})["result"].(map[string]any)
	if st["sha256"] != sha(data) || st["size"] != float64(len(data)) {
		t.Fatalf("file_stat: %v", st)
	}
	var back []byte
	for off := 0; ; {
		rd := send(map[string]any{"command": "file_read", "path": "dir/big.bin", "offset": off})["result"].(map[string]any)
		b, _ := base64.StdEncoding.DecodeString(rd["data"].(string))
		back = append(back, b...)
		off += len(b)
		if rd["eof"] == true {
			break
		}
	}
	if !bytes.Equal(back, data) {
		t.Fatalf("file_read gave %d bytes, want %d", len(back), len(data))
	}
	wantError(t, send(map[string]any{"command": "file_delete", "path": "dir"}), "not a regular file")
	if r := send(map[string]any{"command": "file_delete", "path": "dir/big.bin"}); r["result"] != "deleted" {
		t.Fatalf("file_delete: %v", r)
	}
	wantError(t, send(map[string]any{"command": "file_delete", "path": "dir/big.bin"}), "no such file")
	wantError(t, send(map[string]any{"command": "file_delete", "path": "../x"}), "escapes the agent root")
}

func TestFileTransferRejects(t *testing.T) {
	root := t.TempDir()
	ch := startPTY(t, Options{Root: root, MaxFileSize: 1 << 20})
	send := func(v any) map[string]any { return callJSON(t, ch, v) }
	data := []byte("hello world")

	wantError(t, sendFile(t, send, "a.txt", data, sha([]byte("other"))), "checksum mismatch")
	if _, err := os.Stat(filepath.Join(root, "a.txt")); !os.IsNotExist(err) {
		t.Fatalf("file kept after checksum mismatch: %v", err)
	}
	wantError(t, send(map[string]any{"command": "file_stat", "path": "a.txt"}), "no such file")
	entries, _ := os.ReadDir(root)
	if len(entries) != 0 {
		t.Fatalf("root not empty after rejected upload: %v", entries)
	}

	cases := []struct {
		req  map[string]any
		want string
	}{
		{map[string]any{"command": "file_begin", "path": "../escape", "size": 1, "sha256": sha(data)}, "escapes the agent root"},
		{map[string]any{"command": "file_begin", "path": "/etc/passwd", "size": 1, "sha256": sha(data)}, "escapes the agent root"},
		{map[string]any{"command": "file_begin", "path": "x", "size": 2 << 20, "sha256": sha(data)}, "exceeds the limit"},
		{map[string]any{"command": "file_begin", "path": "x", "size": 1, "sha256": "zz"}, "64 hex digits"},
		{map[string]any{"command": "file_begin", "path": "x", "sha256": sha(data)}, "size must be given"},
		{map[string]any{"command": "file_chunk", "seq": 0, "data": "aGk="}, "no file transfer in progress"},
		{map[string]any{"command": "file_end"}, "no file transfer in progress"},
		{map[string]any{"command": "file_read", "path": "../../etc/passwd"}, "escapes the agent root"},
		{map[string]any{"command": "file_read", "path": "."}, "not a regular file"},
	}
	for _, c := range cases {
		wantError(t, send(c.req), c.want)
	}

	send(map[string]any{"command": "file_begin", "path": "b", "size": 2, "sha256": sha([]byte("hi"))})
	wantError(t, send(map[string]any{"command": "file_begin", "path": "c", "size": 2, "sha256": sha([]byte("hi"))}), "already in progress")
	wantError(t, send(map[string]any{"command": "file_chunk", "seq": 1, "data": "aGk="}), "want seq 0")
	wantError(t, send(map[string]any{"command": "file_chunk", "seq": 0, "data": "!!"}), "not base64")
	wantError(t, send(map[string]any{"command": "file_chunk", "seq": 0, "data": "aGkh"}), "exceed the announced size")
	wantError(t, send(map[string]any{"command": "file_end"}), "received 0 of 2 bytes")
	if r := send(map[string]any{"command": "ping"}); r["result"] != "pong" {
		t.Fatalf("ping after rejects: %v", r)
	}
}
