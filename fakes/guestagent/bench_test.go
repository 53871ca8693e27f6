package guestagent

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"testing"
)

// BenchmarkPingPTY is one request/response exchange with the JSON agent over
// a raw pty pair (virtio.Channel on the master, the agent on the slave).
func BenchmarkPingPTY(b *testing.B) {
	ch := startPTY(b, Options{})
	for b.Loop() {
		if got := call(b, ch, `{"command":"ping"}`); got != `{"result":"pong"}` {
			b.Fatalf("ping: %s", got)
		}
	}
}

// BenchmarkFileTransfer1MiB uploads 1 MiB in 32 KiB chunks with a checksum
// over a pty pair and reports throughput.
func BenchmarkFileTransfer1MiB(b *testing.B) {
	ch := startPTY(b, Options{Root: b.TempDir()})
	data := bytes.Repeat([]byte("vmtestbed-guest!"), 1<<16) // 1 MiB
	sum := sha(data)
	b.SetBytes(int64(len(data)))
	i := 0
	for b.Loop() {
		i++
		path := fmt.Sprintf("f%d.bin", i)
		if r := callJSON(b, ch, map[string]any{"command": "file_begin", "path": path, "size": len(data), "sha256": sum}); r["error"] != nil {
			b.Fatal(r)
		}
		for seq, off := 0, 0; off < len(data); seq++ {
			n := min(32<<10, len(data)-off)
			r := callJSON(b, ch, map[string]any{"command": "file_chunk", "seq": seq, "data": base64.StdEncoding.EncodeToString(data[off : off+n])})
			if r["error"] != nil {
				b.Fatal(r)
			}
			off += n
		}
		if r := callJSON(b, ch, map[string]any{"command": "file_end"}); r["error"] != nil {
			b.Fatal(r)
		}
	}
}
