package guestagent

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/virtio"
)

// exchange sends a ping and reads for at most d, returning what arrived.
func exchange(t *testing.T, ch virtio.Channel, d time.Duration) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := ch.SendString(ctx, `{"command":"ping"}`+"\n"); err != nil {
		t.Fatal(err)
	}
	return ch.ReceiveLine(ctx)
}

func TestFaultDelay(t *testing.T) {
	ch := startPTY(t, Options{Fault: FaultDelay, Delay: 300 * time.Millisecond})
	if _, err := exchange(t, ch, 50*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("reply before the delay: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if got, err := ch.ReceiveLine(ctx); err != nil || got != `{"result":"pong"}` {
		t.Fatalf("delayed reply: %q %v", got, err)
	}
}

func TestFaultDrop(t *testing.T) {
	ch := startPTY(t, Options{Fault: FaultDrop})
	if got, err := exchange(t, ch, 200*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("drop replied %q %v", got, err)
	}
}

func TestFaultGarbage(t *testing.T) {
	ch := startPTY(t, Options{Fault: FaultGarbage})
	got, err := exchange(t, ch, 5*time.Second)
	if err != nil || len(got) < 8 || strings.ContainsAny(got, "{}\"") {
		t.Fatalf("garbage: %q %v", got, err)
	}
}

func TestFaultPartial(t *testing.T) {
	ch := startPTY(t, Options{Fault: FaultPartial})
	if _, err := exchange(t, ch, 200*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("partial gave a whole line: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := ch.Receive(ctx, 100)
	if err != nil || string(b) != `{"result` {
		t.Fatalf("partial bytes: %q %v", b, err)
	}
}

func TestFaultHangupUnix(t *testing.T) {
	a, err := New(Options{Fault: FaultHangup})
	if err != nil {
		t.Fatal(err)
	}
	host, guest := net.Pipe()
	defer host.Close()
	done := make(chan error, 1)
	go func() { done <- a.Serve(context.Background(), guest) }()
	if _, err := host.Write([]byte(`{"command":"ping"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(host)
	if err != nil || string(got) != `{"result` {
		t.Fatalf("hangup sent %q, %v; want half a reply then EOF", got, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve after hangup: %v", err)
	}
}

func TestFaultSlowReader(t *testing.T) {
	ch := startPTY(t, Options{Fault: FaultSlowReader, Delay: 5 * time.Millisecond})
	start := time.Now()
	got, err := exchange(t, ch, 5*time.Second)
	if err != nil || got != `{"result":"pong"}` {
		t.Fatalf("slow reader: %q %v", got, err)
	}
	if el := time.Since(start); el < 19*5*time.Millisecond {
		t.Fatalf("19-byte request read in %v, want at least 95ms", el)
	}
}

func TestServeEndsOnContext(t *testing.T) {
	a, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	host, guest := net.Pipe()
	defer host.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, guest) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Serve returned %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not end within 5s of cancel")
	}
}
