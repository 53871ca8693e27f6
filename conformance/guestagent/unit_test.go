package guestagent

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	agent "github.com/vmtestbed/vmtestbed/fakes/guestagent"
	"github.com/vmtestbed/vmtestbed/virtio"
)

// TestLeftoversDoNotReachTheNextSpec: a reply an earlier spec left unread in
// a pty's kernel buffer, carrying the id the next spec's request will use
// (ga-3), and a torn request are consumed by the next spec's drain and
// handshake, so its request gets its own reply.
func TestLeftoversDoNotReachTheNextSpec(t *testing.T) {
	a, err := agent.New(agent.Options{})
	if err != nil {
		t.Fatal(err)
	}
	master, slave, _, err := virtio.OpenPTYPair()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Serve(ctx, slave) }()
	ch := virtio.NewPTYChannel("com.vmagent.sock", master)
	defer func() { cancel(); <-done; ch.Close() }()
	s := &suite{cfg: Config{Protocol: ProtocolJSON, CallTimeout: 5 * time.Second}}
	first := &conn{s: s, ch: ch, timeout: s.cfg.CallTimeout}
	if err := ch.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	// Spec 1 sends hello and never reads the reply (it failed, or timed out).
	if _, err := first.call(ctxFor(t), map[string]any{"command": "ping"}); err != nil {
		t.Fatal(err)
	}
	if err := ch.SendString(ctx, `{"command":"hello","id":"ga-3"}`+"\n{\"command\":\"pi"); err != nil {
		t.Fatal(err)
	}
	// Spec 2 on the same pty: drain and handshake, then a status request.
	next := &conn{s: s, ch: ch, timeout: s.cfg.CallTimeout}
	if err := next.ready(ctxFor(t)); err != nil {
		t.Fatalf("ready after leftovers: %v", err)
	}
	r, err := next.call(ctxFor(t), map[string]any{"command": "status"})
	if err != nil || r["status"] != "running" {
		t.Fatalf("status after leftovers = %v, %v (the leftover hello reply?)", r, err)
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestExecCloseDoesNotHangOnEscapedChild: a command that leaves a child
// outside its process group holding its output must not make Close hang.
func TestExecCloseDoesNotHangOnEscapedChild(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	target, err := StartExec(`setsid sh -c 'echo $$ > `+pidFile+`; exec sleep 60' & exec sleep 60 # {pty}`, "com.vmagent.sock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	// Wait until the escaped child runs (it holds the output pipe from then on).
	deadline := time.Now().Add(5 * time.Second)
	for {
		if b, err := os.ReadFile(pidFile); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("escaped child never started")
		}
		time.Sleep(5 * time.Millisecond) // polls for the child's pid file
	}
	start := time.Now()
	closed := make(chan struct{})
	go func() { _ = target.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(ExecWaitDelay + 5*time.Second):
		t.Fatalf("Close still waiting after %v: the escaped child holds the output pipe", time.Since(start))
	}
}

// scriptedPTY answers every request line on a pty with reply(line) and
// returns a connected suite conn on the master.
func scriptedPTY(t *testing.T, timeout time.Duration, reply func(line string) string, opts ...virtio.Option) *conn {
	t.Helper()
	master, slave, _, err := virtio.OpenPTYPair()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 0, 4096)
		p := make([]byte, 4096)
		for {
			n, err := slave.Read(p)
			if err != nil {
				return
			}
			buf = append(buf, p[:n]...)
			for {
				i := strings.IndexByte(string(buf), '\n')
				if i < 0 {
					break
				}
				line := string(buf[:i])
				buf = buf[i+1:]
				if _, err := slave.Write([]byte(reply(line))); err != nil {
					return
				}
			}
		}
	}()
	ch := virtio.NewPTYChannel("com.vmagent.sock", master, opts...)
	t.Cleanup(func() { ch.Close(); slave.Close(); <-done })
	if err := ch.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := &suite{cfg: Config{Protocol: ProtocolJSON, CallTimeout: timeout}}
	return &conn{s: s, ch: ch, timeout: timeout}
}

// TestReasonsSayWhatHappened: a reply with a wrong id is reported as such
// (it used to read "no reply within 1s"), and an oversized reply as
// oversized (it used to read "the agent hung up?").
func TestReasonsSayWhatHappened(t *testing.T) {
	c := scriptedPTY(t, 200*time.Millisecond, func(string) string { return `{"id":"not-yours","result":"pong"}` + "\n" })
	_, err := c.call(ctxFor(t), map[string]any{"command": "ping"})
	if err == nil || !strings.Contains(err.Error(), `skipped 1 replies carrying other ids (the last with id not-yours)`) {
		t.Fatalf("wrong id: %v", err)
	}
	c = scriptedPTY(t, 2*time.Second, func(string) string { return strings.Repeat("x", 300) + "\n" }, virtio.WithMaxLineLength(100))
	_, err = c.line(ctxFor(t), "ping")
	if err == nil || !strings.Contains(err.Error(), "longer than 100 bytes") || strings.Contains(err.Error(), "hung up") {
		t.Fatalf("oversized reply: %v", err)
	}
}
