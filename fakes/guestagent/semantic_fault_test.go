package guestagent

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/sim"
	"github.com/vmtestbed/vmtestbed/virtio"
)

// TestSemanticFaults: each fault that is wrong in meaning does its one wrong thing and nothing
// else (ping still answers).
func TestSemanticFaults(t *testing.T) {
	t.Run("ignore-allowlist", func(t *testing.T) {
		ch := startPTY(t, Options{Fault: FaultIgnoreAllowList})
		r := callJSON(t, ch, map[string]any{"command": "exec", "cmd": "rm", "args": []string{"-rf", "/nonexistent"}})
		if r["error"] != nil || r["code"] != float64(0) {
			t.Fatalf("exec rm under ignore-allowlist = %v, want a claimed success", r)
		}
	})
	t.Run("bad-checksum", func(t *testing.T) {
		ch := startPTY(t, Options{Fault: FaultBadChecksum, Root: t.TempDir()})
		wrong := sha256.Sum256([]byte("other"))
		callJSON(t, ch, map[string]any{"command": "file_begin", "path": "f.bin", "size": 1, "sha256": hex.EncodeToString(wrong[:])})
		callJSON(t, ch, map[string]any{"command": "file_chunk", "seq": 0, "data": base64.StdEncoding.EncodeToString([]byte("x"))})
		if r := callJSON(t, ch, map[string]any{"command": "file_end"}); r["error"] != nil {
			t.Fatalf("file_end with a wrong checksum under bad-checksum = %v, want it kept", r)
		}
	})
	t.Run("constant-status", func(t *testing.T) {
		ch := startPTY(t, Options{Fault: FaultConstantStatus, Clock: &steppingClock{now: time.Unix(1000, 0), step: 10 * time.Second}})
		a, b := callJSON(t, ch, map[string]any{"command": "status"}), callJSON(t, ch, map[string]any{"command": "status"})
		if a["uptime"] != b["uptime"] {
			t.Fatalf("uptime moved under constant-status: %v then %v", a, b)
		}
	})
	t.Run("constant-metrics", func(t *testing.T) {
		ch := startPTY(t, Options{Fault: FaultConstantMetrics})
		a, b := callJSON(t, ch, map[string]any{"command": "get_metrics"}), callJSON(t, ch, map[string]any{"command": "get_metrics"})
		if !reflect.DeepEqual(a, b) || a["result"].(map[string]any)["source"] != "simulated" {
			t.Fatalf("metrics under constant-metrics: %v then %v", a, b)
		}
	})
	t.Run("no-id", func(t *testing.T) {
		ch := startPTY(t, Options{Fault: FaultNoID})
		if r := callJSON(t, ch, map[string]any{"command": "ping", "id": 5}); r["id"] != nil || r["result"] != "pong" {
			t.Fatalf("ping under no-id = %v", r)
		}
	})
	t.Run("no-version", func(t *testing.T) {
		ch := startPTY(t, Options{Fault: FaultNoVersion, Protocol: ProtocolLine})
		if got := call(t, ch, "version"); got != AgentName {
			t.Fatalf("version under no-version = %q", got)
		}
		js := startPTY(t, Options{Fault: FaultNoVersion})
		if r := callJSON(t, js, map[string]any{"command": "hello"}); r["result"].(map[string]any)["protocol"] != float64(0) {
			t.Fatalf("hello under no-version = %v", r)
		}
	})
	t.Run("escapes", func(t *testing.T) {
		ch := startPTY(t, Options{Fault: FaultEscapes, Protocol: ProtocolLine})
		if got := call(t, ch, "ping"); got != "pong" {
			t.Fatalf("ping = %q", got)
		}
		if got := call(t, ch, "version"); !strings.HasPrefix(got, "\x1b[2J") {
			t.Fatalf("version under escapes = %q", got)
		}
	})
}

// TestSingleClient: a second client is served only after the first hangs up, as with QEMU.
func TestSingleClient(t *testing.T) {
	a, err := New(Options{SingleClient: true})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "a.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.ServeListener(ctx, ln) }()
	defer func() { cancel(); <-done }()
	first := virtio.NewUnixChannel("one", sock)
	second := virtio.NewUnixChannel("two", sock)
	defer second.Close()
	for _, ch := range []virtio.Channel{first, second} {
		if err := ch.Connect(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := call(t, first, `{"command":"ping"}`); got != `{"result":"pong"}` {
		t.Fatalf("first client: %q", got)
	}
	qctx, qcancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer qcancel()
	if err := second.SendString(qctx, `{"command":"ping"}`+"\n"); err != nil {
		t.Fatal(err)
	}
	if got, err := second.ReceiveLine(qctx); err == nil {
		t.Fatalf("second client served while the first is connected: %q", got)
	}
	first.Close()
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	defer rcancel()
	if got, err := second.ReceiveLine(rctx); err != nil || got != `{"result":"pong"}` {
		t.Fatalf("second client after the first left: %q, %v", got, err)
	}
}

// steppingClock moves step forward at every Now: time passes between any
// two reads.
type steppingClock struct {
	sim.RealClock // AfterFunc and Sleep are not used here
	mu            sync.Mutex
	now           time.Time
	step          time.Duration
}

func (c *steppingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(c.step)
	return c.now
}
