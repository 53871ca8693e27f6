package guestagent

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/virtio"
)

// startPTY serves a new agent on the slave of a fresh pty pair and returns a
// connected host channel on its master. Cleanup stops the agent and closes both ends.
func startPTY(t testing.TB, opts Options) virtio.Channel {
	t.Helper()
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	master, slave, _, err := virtio.OpenPTYPair()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, slave) }()
	ch := virtio.NewPTYChannel("com.vmagent.sock", master)
	if err := ch.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		<-done
		ch.Close()
	})
	return ch
}

// call sends line and returns the reply line, failing t after 5s.
func call(t testing.TB, ch virtio.Channel, line string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ch.SendString(ctx, line+"\n"); err != nil {
		t.Fatalf("send %s: %v", line, err)
	}
	got, err := ch.ReceiveLine(ctx)
	if err != nil {
		t.Fatalf("reply to %s: %v", line, err)
	}
	return got
}

// callJSON sends v as a JSON line and decodes the reply object.
func callJSON(t testing.TB, ch virtio.Channel, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out := call(t, ch, string(b))
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("reply to %s is not JSON: %q", b, out)
	}
	return m
}

func wantError(t testing.TB, m map[string]any, substr string) {
	t.Helper()
	e, _ := m["error"].(string)
	if !strings.Contains(e, substr) {
		t.Fatalf("reply %v: want error containing %q", m, substr)
	}
}
