package transport

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		tr   Transport
	}{{"tcp", TCP{}}, {"bufnet", NewBufnet()}} {
		t.Run(tc.name, func(t *testing.T) {
			l, addr, err := tc.tr.Listen("echo")
			if err != nil {
				t.Fatal(err)
			}
			if got := l.Addr().String(); got != addr {
				t.Errorf("listener address %q, Listen returned %q", got, addr) // a server given the listener dials back here
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				c, err := l.Accept()
				if err != nil {
					return
				}
				_, _ = io.Copy(c, c)
				_ = c.Close()
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := tc.tr.DialContext(ctx, addr)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("got %q, %v", buf, err)
			}
			_ = c.Close()
			_ = l.Close()
			<-done
		})
	}
}

func TestBufnetUnknownAddress(t *testing.T) {
	b := NewBufnet()
	_, err := b.DialContext(context.Background(), "bufnet:nothing-1")
	if err == nil {
		t.Fatal("dial to an unknown address succeeded")
	}
	l, addr, _ := b.Listen("x")
	_ = l.Close()
	if _, err := b.DialContext(context.Background(), addr); err == nil {
		t.Fatal("dial to a closed listener's address succeeded")
	}
	var _ net.Listener = l
}
