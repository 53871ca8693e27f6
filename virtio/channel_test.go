package virtio

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// kind builds a connected channel of one endpoint type served by agent.
type kind struct {
	name string
	make func(t *testing.T, agent lineAgent, opts ...Option) Channel
}

var kinds = []kind{
	{"unix", func(t *testing.T, agent lineAgent, opts ...Option) Channel {
		a := startUnixAgent(t, agent)
		return connect(t, NewUnixChannel("com.test.sock", a.path, opts...))
	}},
	{"pty", func(t *testing.T, agent lineAgent, opts ...Option) Channel {
		m, _ := ptyAgent(t, agent)
		return connect(t, NewPTYChannel("com.test.sock", m, opts...))
	}},
}

func connect(t *testing.T, ch Channel) Channel {
	t.Helper()
	if err := ch.Connect(context.Background()); err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = ch.Close() })
	return ch
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func silent(string) []byte { return nil }

func TestChannelLineRoundTrip(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			ch := k.make(t, echoLine)
			ctx := ctxT(t, 5*time.Second)
			if !ch.Connected() || ch.Name() != "com.test.sock" {
				t.Fatalf("connected=%v name=%q", ch.Connected(), ch.Name())
			}
			// Bytes a cooked tty would rewrite must pass unchanged.
			msg := "hello\r\x03\x7f\x1b[A tab\t"
			if err := ch.SendString(ctx, msg+"\n"); err != nil {
				t.Fatal(err)
			}
			got, err := ch.ReceiveLine(ctx)
			if err != nil || got != msg {
				t.Fatalf("ReceiveLine = %q, %v; want %q", got, err, msg)
			}
			if err := ch.Send(ctx, []byte("a\r\nb\n")); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"a", "b"} {
				if got, err := ch.ReceiveLine(ctx); err != nil || got != want {
					t.Fatalf("ReceiveLine = %q, %v; want %q", got, err, want)
				}
			}
		})
	}
}

func TestChannelReceiveBytes(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			ch := k.make(t, echoLine)
			ctx := ctxT(t, 5*time.Second)
			if err := ch.SendString(ctx, "abcdef\n"); err != nil {
				t.Fatal(err)
			}
			var got []byte
			for len(got) < 7 {
				b, err := ch.Receive(ctx, 3)
				if err != nil {
					t.Fatal(err)
				}
				if len(b) == 0 || len(b) > 3 {
					t.Fatalf("Receive(3) gave %d bytes", len(b))
				}
				got = append(got, b...)
			}
			if string(got) != "abcdef\n" {
				t.Fatalf("got %q", got)
			}
			if _, err := ch.Receive(ctx, 0); err == nil {
				t.Fatal("Receive(0) succeeded")
			}
		})
	}
}

func TestChannelTimeouts(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			ch := k.make(t, silent)
			ctx := ctxT(t, 50*time.Millisecond)
			_, err := ch.ReceiveLine(ctx)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("ctx deadline: err = %v", err)
			}
			if !strings.Contains(err.Error(), "com.test.sock") {
				t.Fatalf("error lacks channel name: %v", err)
			}
			if err := ch.SetDeadline(time.Now().Add(30 * time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			_, err = ch.Receive(context.Background(), 10)
			if !errors.Is(err, ErrTimeout) || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("SetDeadline: err = %v", err)
			}
			if err := ch.SetDeadline(time.Time{}); err != nil {
				t.Fatal(err)
			}
			// Cancelling (no deadline) interrupts a pending read.
			cctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() { _, err := ch.ReceiveLine(cctx); errc <- err }()
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Fatalf("cancel: err = %v", err)
			}
			// The channel still works after timeouts.
			if err := ch.SendString(ctxT(t, time.Second), "x\n"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestChannelDisconnectInterruptsReceive(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			ch := k.make(t, echoLine)
			started := make(chan struct{})
			errc := make(chan error, 1)
			go func() {
				close(started)
				_, err := ch.ReceiveLine(context.Background())
				errc <- err
			}()
			<-started
			// The reader may not be blocked yet; either way it must end with a clear error.
			if err := ch.Disconnect(); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; !errors.Is(err, ErrDisconnected) && !errors.Is(err, ErrNotConnected) {
				t.Fatalf("err = %v", err)
			}
			if ch.Connected() {
				t.Fatal("connected after Disconnect")
			}
			if err := ch.SendString(context.Background(), "x\n"); !errors.Is(err, ErrNotConnected) {
				t.Fatalf("send while disconnected: %v", err)
			}
			// Connect again and use it.
			ctx := ctxT(t, 5*time.Second)
			if err := ch.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			if err := ch.SendString(ctx, "again\n"); err != nil {
				t.Fatal(err)
			}
			if got, err := ch.ReceiveLine(ctx); err != nil || got != "again" {
				t.Fatalf("after reconnect: %q, %v", got, err)
			}
		})
	}
}

func TestChannelCloseInterruptsReceive(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			ch := k.make(t, silent)
			errc := make(chan error, 1)
			go func() { _, err := ch.ReceiveLine(context.Background()); errc <- err }()
			if err := ch.Close(); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; !errors.Is(err, ErrClosed) {
				t.Fatalf("err = %v", err)
			}
			if err := ch.Connect(context.Background()); !errors.Is(err, ErrClosed) {
				t.Fatalf("connect after close: %v", err)
			}
			if err := ch.Close(); err != nil {
				t.Fatalf("second close: %v", err)
			}
		})
	}
}

func TestChannelLineTooLong(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			ch := k.make(t, echoLine, WithMaxLineLength(16), WithReadChunk(8))
			ctx := ctxT(t, 5*time.Second)
			if err := ch.SendString(ctx, strings.Repeat("x", 40)+"\nshort\n"); err != nil {
				t.Fatal(err)
			}
			_, err := ch.ReceiveLine(ctx)
			var tl *LineTooLongError
			if !errors.As(err, &tl) || tl.Max != 16 {
				t.Fatalf("err = %v", err)
			}
			if got, err := ch.ReceiveLine(ctx); err != nil || got != "short" {
				t.Fatalf("next line = %q, %v", got, err)
			}
			exact := strings.Repeat("y", 16)
			if err := ch.SendString(ctx, exact+"\n"); err != nil {
				t.Fatal(err)
			}
			if got, err := ch.ReceiveLine(ctx); err != nil || got != exact {
				t.Fatalf("16-byte line = %q, %v", got, err)
			}
		})
	}
}

func TestUnixChannelMissingSocket(t *testing.T) {
	path := shortTempDir(t) + "/nope.sock"
	ch := NewUnixChannel("com.test.sock", path)
	defer ch.Close()
	err := ch.Connect(ctxT(t, time.Second))
	if !errors.Is(err, syscall.ENOENT) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v", err)
	}
	if _, err := ch.ReceiveLine(context.Background()); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("receive before connect: %v", err)
	}
}

func TestUnixChannelPeerGone(t *testing.T) {
	a := startUnixAgent(t, echoLine)
	ch := connect(t, NewUnixChannel("com.test.sock", a.path))
	conn := <-a.conns
	_ = conn.Close()
	_, err := ch.ReceiveLine(ctxT(t, 5*time.Second))
	if !errors.Is(err, ErrPeerGone) {
		t.Fatalf("err = %v", err)
	}
	if ch.Connected() {
		t.Fatal("still connected after the peer left")
	}
	ctx := ctxT(t, 5*time.Second)
	if err := ch.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ch.SendString(ctx, "back\n"); err != nil {
		t.Fatal(err)
	}
	if got, err := ch.ReceiveLine(ctx); err != nil || got != "back" {
		t.Fatalf("%q, %v", got, err)
	}
}

func TestPTYChannelNeedsPollableMaster(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	ch := NewPTYChannel("com.test.sock", f)
	defer ch.Close()
	if err := ch.Connect(context.Background()); err == nil || !strings.Contains(err.Error(), "OpenPTYPair") {
		t.Fatalf("err = %v", err)
	}
	nilCh := NewPTYChannel("com.test.sock", nil)
	if err := nilCh.Connect(context.Background()); err == nil {
		t.Fatal("nil master connected")
	}
	_ = nilCh.Close()
}

func TestOpenPTYPair(t *testing.T) {
	m, s, path, err := OpenPTYPair()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	defer s.Close()
	if !strings.HasPrefix(path, "/dev/pts/") {
		t.Fatalf("slave path %q", path)
	}
	if got := ptyDesc(m); got != "pty:"+path {
		t.Fatalf("master desc %q, slave %q", got, path)
	}
	if err := s.SetReadDeadline(time.Now()); err != nil {
		t.Fatalf("slave deadlines: %v", err)
	}
}

func TestChannelConcurrentUse(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			ch := k.make(t, echoLine)
			ctx := ctxT(t, 10*time.Second)
			const writers, each = 8, 50
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range each {
						if err := ch.SendString(ctx, fmt.Sprintf("w%d-%d\n", w, i)); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			seen := map[string]bool{}
			for range writers * each {
				line, err := ch.ReceiveLine(ctx)
				if err != nil {
					t.Fatal(err)
				}
				seen[line] = true
			}
			wg.Wait()
			if len(seen) != writers*each {
				t.Fatalf("saw %d distinct lines, want %d", len(seen), writers*each)
			}
		})
	}
}
