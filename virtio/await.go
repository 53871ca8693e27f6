package virtio

import (
	"context"
	"fmt"
	"time"
)

// AwaitPong pings the agent behind ch (the seed's "ping", over the JSON
// handler) until it answers "pong" or ctx ends, every 100 ms: for an agent
// that is still booting, or a socket nobody serves yet. It closes ch.
func AwaitPong(ctx context.Context, ch Channel) error {
	cl := NewClient(ch, NewJSONHandler(), 2*time.Second, DefaultReconnect)
	defer cl.Close()
	return AwaitPongOn(ctx, cl)
}

// AwaitPongOn is AwaitPong on a client the caller keeps: it connects cl if
// need be, sends "ping" through cl's handler every 100 ms until the reply is
// "pong" or ctx ends, and leaves cl open (connected once it returns nil).
func AwaitPongOn(ctx context.Context, cl *Client) error {
	retry := time.NewTimer(0)
	defer retry.Stop()
	var last error
	for attempt := 0; ; attempt++ {
		select {
		case <-ctx.Done():
			return fmt.Errorf("no pong from %s (%d pings, last: %v): %w", cl.Channel().Name(), attempt, last, ctx.Err())
		case <-retry.C:
		}
		retry.Reset(100 * time.Millisecond)
		if err := cl.Connect(ctx); err != nil { // a no-op once connected
			last = err
			continue
		}
		out, err := cl.Request(ctx, []byte("ping")) // reconnects a dropped socket
		if err == nil && string(out) == "pong" {
			return nil
		}
		last = fmt.Errorf("answered %q, %v", out, err)
	}
}
