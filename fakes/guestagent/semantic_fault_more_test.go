package guestagent

import (
	"strings"
	"testing"
)

// TestMoreSemanticFaults: the fault modes added for the kill matrices each do
// their one wrong thing, and the agent keeps answering everything else.
func TestMoreSemanticFaults(t *testing.T) {
	t.Run("ping-every-other", func(t *testing.T) {
		ch := startPTY(t, Options{Fault: FaultPingEveryOther, Protocol: ProtocolLine})
		if a, b := call(t, ch, "ping"), call(t, ch, "ping"); a != "pong" || b != "pang" {
			t.Fatalf("two pings under ping-every-other = %q, %q", a, b)
		}
	})
	t.Run("seed-ping-wrong", func(t *testing.T) {
		ch := startPTY(t, Options{Fault: FaultSeedPingWrong})
		if r := callJSON(t, ch, map[string]any{"data": "ping"}); r["result"] != "PONG" {
			t.Fatalf("seed ping = %v", r)
		}
		if r := callJSON(t, ch, map[string]any{"command": "ping"}); r["result"] != "pong" {
			t.Fatalf("ping = %v", r)
		}
	})
	t.Run("exit-zero", func(t *testing.T) {
		ch := startPTY(t, Options{Fault: FaultExitZero})
		if r := callJSON(t, ch, map[string]any{"command": "exec", "cmd": "false"}); r["code"] != float64(0) {
			t.Fatalf("exec false under exit-zero = %v", r)
		}
	})
	t.Run("app-status-stale", func(t *testing.T) {
		ch := startPTY(t, Options{Fault: FaultAppStatusStale})
		callJSON(t, ch, map[string]any{"action": "start", "app": "nginx"})
		r := callJSON(t, ch, map[string]any{"action": "status", "app": "nginx"})
		if r["result"].(map[string]any)["state"] != "stopped" {
			t.Fatalf("status of a started app under app-status-stale = %v", r)
		}
	})
	t.Run("app-accepts-all", func(t *testing.T) {
		ch := startPTY(t, Options{Fault: FaultAppAcceptsAll})
		if r := callJSON(t, ch, map[string]any{"action": "start", "app": "no-such-app"}); r["error"] != nil {
			t.Fatalf("start of an unknown app under app-accepts-all = %v", r)
		}
	})
	t.Run("malformed-ok", func(t *testing.T) {
		ch := startPTY(t, Options{Fault: FaultMalformedOK})
		if got := call(t, ch, `{"command":`); got != `{"result":"ok"}` {
			t.Fatalf("malformed request under malformed-ok = %q", got)
		}
	})
	t.Run("unknown-ok", func(t *testing.T) {
		ch := startPTY(t, Options{Fault: FaultUnknownOK})
		if r := callJSON(t, ch, map[string]any{"command": "frobnicate"}); r["result"] != "ok" {
			t.Fatalf("unknown command under unknown-ok = %v", r)
		}
	})
	t.Run("path-escape", func(t *testing.T) {
		ch := startPTY(t, Options{Fault: FaultPathEscape, Root: t.TempDir()})
		if r := callJSON(t, ch, map[string]any{"command": "file_begin", "path": "../escape.bin", "size": 1, "sha256": strings.Repeat("0", 64)}); r["error"] != nil {
			t.Fatalf("file_begin outside the root under path-escape = %v", r)
		}
	})
}
