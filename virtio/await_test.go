package virtio

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestAwaitPongOnKeepsTheClient: an agent that ignores the first two pings
// (still booting) is pinged until it answers; AwaitPongOn returns with the
// client still connected on the connection that answered pong (no new
// accept), so the next request goes over it; AwaitPong closes its channel.
func TestAwaitPongOnKeepsTheClient(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agent.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	var accepts, pings atomic.Int32
	go func() {
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					line, err := r.ReadBytes('\n')
					if err != nil {
						return
					}
					var req struct {
						Data string `json:"data"`
						ID   *int   `json:"id"`
					}
					if json.Unmarshal(line, &req) != nil {
						return
					}
					reply := req.Data
					if req.Data == "ping" {
						if pings.Add(1) <= 2 {
							continue // booting: nobody reads yet
						}
						reply = "pong"
					}
					b, _ := json.Marshal(map[string]any{"data": reply, "id": req.ID})
					if _, err := conn.Write(append(b, '\n')); err != nil {
						return
					}
				}
			}()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := NewClient(NewUnixChannel("agent", sock), NewJSONHandler(), 200*time.Millisecond, DefaultReconnect)
	defer cl.Close()
	if err := AwaitPongOn(ctx, cl); err != nil {
		t.Fatal(err)
	}
	if n := pings.Load(); n != 3 {
		t.Errorf("%d pings, want 3 (two unanswered, then pong)", n)
	}
	conns := accepts.Load()
	out, err := cl.Request(ctx, []byte("echo"))
	if err != nil || string(out) != "echo" {
		t.Fatalf("request after AwaitPongOn: %q, %v", out, err)
	}
	if n := accepts.Load(); n != conns {
		t.Errorf("the request after AwaitPongOn dialled again (%d connections, then %d): AwaitPongOn must keep the client's", conns, n)
	}
	ch := NewUnixChannel("agent", sock)
	if err := AwaitPong(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if _, err := NewClient(ch, NewJSONHandler(), time.Second, DefaultReconnect).Request(ctx, []byte("echo")); err == nil {
		t.Error("AwaitPong left its channel open")
	}
}
