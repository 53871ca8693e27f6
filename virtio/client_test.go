package virtio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/sim"
)

// jsonAgent is the seed's JSON agent in miniature: {"data":m} -> {"data":"echo:"+m}, echoing "id".
func jsonAgent(line string) []byte {
	var req map[string]any
	if err := json.Unmarshal([]byte(line), &req); err != nil {
		return []byte(`{"error":"malformed request"}` + "\n")
	}
	resp := map[string]any{"data": fmt.Sprint("echo:", req["data"])}
	if id, ok := req["id"]; ok {
		resp["id"] = id
	}
	b, _ := json.Marshal(resp)
	return append(b, '\n')
}

// staleAgent first replays a reply for the previous id, then answers.
func staleAgent(line string) []byte {
	var req struct {
		Data string
		ID   uint64
	}
	_ = json.Unmarshal([]byte(line), &req)
	return fmt.Appendf(nil, "{\"id\":%d,\"data\":\"stale\"}\n{\"id\":%d,\"data\":\"fresh:%s\"}\n", req.ID-1, req.ID, req.Data)
}

// instantWait records backoff waits and runs hook (if any) instead of waiting.
type instantWait struct {
	sim.RealClock // Now and AfterFunc; Sleep is this type's
	mu            sync.Mutex
	waits         []time.Duration
	hook          func()
}

func (w *instantWait) Sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.waits = append(w.waits, d)
	hook := w.hook
	w.mu.Unlock()
	if hook != nil {
		hook()
	}
	return ctx.Err()
}

func TestClientJSONOverUnixAndPTY(t *testing.T) {
	a := startUnixAgent(t, jsonAgent)
	m, _ := ptyAgent(t, jsonAgent)
	for name, b := range map[string]*Builder{
		"unix": NewBuilder("com.vmagent.sock").WithSocketPath(a.path),
		"pty":  NewBuilder("com.vmagent.sock").WithPTY(m),
	} {
		t.Run(name, func(t *testing.T) {
			c, err := b.WithJSONHandler().WithTimeout(5 * time.Second).Build()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for i := range 3 {
				got, err := c.Request(context.Background(), fmt.Appendf(nil, "ping %d", i))
				if err != nil || string(got) != fmt.Sprintf("echo:ping %d", i) {
					t.Fatalf("Request = %q, %v", got, err)
				}
			}
		})
	}
}

func TestClientCustomFieldsMissingReplyField(t *testing.T) {
	a := startUnixAgent(t, jsonAgent)
	c, err := NewBuilder("com.vmagent.sock").WithSocketPath(a.path).WithCustomJSONHandler("command", "response").Build()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Request(context.Background(), []byte("get_metrics"))
	var mf *MissingFieldError
	if !errors.As(err, &mf) || !strings.Contains(string(mf.Raw), `"data":"echo:`) {
		t.Fatalf("err = %v", err)
	}
}

func TestClientCustomCRCHandler(t *testing.T) {
	a := startUnixAgent(t, crcAgent)
	c, err := NewBuilder("com.vmagent.sock").WithSocketPath(a.path).WithHandler(crcHandler()).Build()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := c.Request(context.Background(), []byte("status")); err != nil || string(got) != "STATUS" {
		t.Fatalf("Request = %q, %v", got, err)
	}
	// The agent answers a frame without a header with "ERR": a typed decode error.
	raw := &CustomHandler{HandlerName: "crc", DecodeFunc: crcHandler().DecodeFunc}
	c2 := NewClient(c.Channel(), raw, time.Second, NoReconnect)
	_, err = c2.Request(context.Background(), []byte("no header\n"))
	var de *DecodeError
	if !errors.As(err, &de) || string(de.Raw) != "ERR" {
		t.Fatalf("err = %v", err)
	}
}

func TestClientRawHandler(t *testing.T) {
	m, _ := ptyAgent(t, echoLine)
	c, err := NewBuilder("raw").WithPTY(m).WithRawHandler().Build()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := c.Request(context.Background(), []byte("abc\n"))
	if err != nil || !strings.HasPrefix("abc\n", string(got)) || len(got) == 0 {
		t.Fatalf("Request = %q, %v", got, err)
	}
}

func TestClientTimeoutWhenFarEndHangs(t *testing.T) {
	a := startUnixAgent(t, silent)
	c, err := NewBuilder("com.vmagent.sock").WithSocketPath(a.path).WithJSONHandler().WithTimeout(50 * time.Millisecond).Build()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Request(context.Background(), []byte("ping"))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "com.vmagent.sock") {
		t.Fatalf("err = %v", err)
	}
}

func TestClientGarbageReply(t *testing.T) {
	a := startUnixAgent(t, func(string) []byte { return []byte("\x00\x01garbage\n") })
	c, err := NewBuilder("com.vmagent.sock").WithSocketPath(a.path).WithJSONHandler().Build()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Request(context.Background(), []byte("ping"))
	var de *DecodeError
	if !errors.As(err, &de) || string(de.Raw) != "\x00\x01garbage" {
		t.Fatalf("err = %v", err)
	}
}

func TestClientMissingSocket(t *testing.T) {
	w := &instantWait{}
	policy := DefaultReconnect
	policy.Clock = w
	c, err := NewBuilder("com.vmagent.sock").WithSocketPath(shortTempDir(t) + "/gone.sock").WithReconnect(policy).Build()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Request(context.Background(), []byte("ping"))
	if err == nil || !strings.Contains(err.Error(), "gave up after 5 attempts") || !strings.Contains(err.Error(), "gone.sock") {
		t.Fatalf("err = %v", err)
	}
	want := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond}
	if fmt.Sprint(w.waits) != fmt.Sprint(want) {
		t.Fatalf("backoff waits %v, want %v", w.waits, want)
	}
}

func TestReconnectBackoffCap(t *testing.T) {
	p := ReconnectPolicy{Initial: 100 * time.Millisecond, Max: 300 * time.Millisecond, Multiplier: 2}
	var got []time.Duration
	for n := range 4 {
		got = append(got, p.Backoff(n))
	}
	if fmt.Sprint(got) != "[100ms 200ms 300ms 300ms]" {
		t.Fatalf("Backoff = %v", got)
	}
}

// TestClientReconnectsAfterFarEndRestarts kills the agent, lets one request fail, and restarts
// the agent from inside the backoff wait: the next request reconnects and succeeds.
func TestClientReconnectsAfterFarEndRestarts(t *testing.T) {
	a := startUnixAgent(t, jsonAgent)
	w := &instantWait{}
	policy := DefaultReconnect
	policy.Clock = w
	c, err := NewBuilder("com.vmagent.sock").WithSocketPath(a.path).WithJSONHandler().WithReconnect(policy).Build()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := ctxT(t, 10*time.Second)
	if _, err := c.Request(ctx, []byte("one")); err != nil {
		t.Fatal(err)
	}
	a.stop()
	// The send sees EPIPE (then reconnecting finds no socket) or the read sees EOF.
	if _, err := c.Request(ctx, []byte("two")); !errors.Is(err, ErrPeerGone) && !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("request to a dead agent: %v", err)
	}
	w.waits = nil
	if c.Channel().Connected() {
		t.Fatal("channel still connected after the far end went away")
	}
	restarted := make(chan struct{})
	w.hook = func() {
		select {
		case <-restarted:
		default:
			a.listen(t, jsonAgent)
			close(restarted)
		}
	}
	got, err := c.Request(ctx, []byte("three"))
	if err != nil || string(got) != "echo:three" {
		t.Fatalf("after restart: %q, %v", got, err)
	}
	<-restarted
	if len(w.waits) != 1 {
		t.Fatalf("waits = %v, want one", w.waits)
	}
}

func TestClientSkipsStaleRepliesWithIDs(t *testing.T) {
	a := startUnixAgent(t, staleAgent)
	h := &JSONHandler{RequestField: "data", ReplyField: "data", IDField: "id"}
	c, err := NewBuilder("com.vmagent.sock").WithSocketPath(a.path).WithHandler(h).Build()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range []string{"a", "b"} {
		if got, err := c.Request(context.Background(), []byte(p)); err != nil || string(got) != "fresh:"+p {
			t.Fatalf("Request(%s) = %q, %v", p, got, err)
		}
	}
	// Negative: without ids the stale reply is taken as the answer.
	noIDs := &JSONHandler{RequestField: "data", ReplyField: "data"}
	c2 := NewClient(NewUnixChannel("com.vmagent.sock", a.path), noIDs, time.Second, NoReconnect)
	defer c2.Close()
	if got, err := c2.Request(context.Background(), []byte("c")); err != nil || string(got) != "stale" {
		t.Fatalf("uncorrelated Request = %q, %v", got, err)
	}
}

func TestBuilderErrors(t *testing.T) {
	dom, err := os.ReadFile("testdata/domain-two-channels.xml")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		b    *Builder
		want error
	}{
		"no endpoint":    {NewBuilder("x"), ErrBadBuilder},
		"two endpoints":  {NewBuilder("x").WithSocketPath("/a").WithDomainXML(dom), ErrBadBuilder},
		"no name":        {NewBuilder("").WithSocketPath("/a"), ErrBadBuilder},
		"bad timeout":    {NewBuilder("x").WithSocketPath("/a").WithTimeout(-1), ErrBadBuilder},
		"unknown in xml": {NewBuilder("com.other").WithDomainXML(dom), ErrNoSuchChannel},
	}
	for name, tt := range tests {
		if _, err := tt.b.Build(); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tt.want)
		}
	}
	c, err := NewBuilder("com.vmagent.sock").WithDomainXML(dom).Build()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !strings.Contains(c.Channel().(*channel).String(), "/var/lib/libvirt/qemu/channel/target/6f1c3d0e/com.vmagent.sock") {
		t.Fatalf("channel %v", c.Channel())
	}
	if c.Handler().Name() != "raw" {
		t.Fatalf("default handler %s", c.Handler().Name())
	}
}

func TestManyClientsConcurrently(t *testing.T) {
	const channels, perClient, goroutines = 16, 10, 3
	var wg sync.WaitGroup
	for i := range channels {
		var b *Builder
		if i%2 == 0 {
			b = NewBuilder(fmt.Sprintf("ch%d", i)).WithSocketPath(startUnixAgent(t, jsonAgent).path)
		} else {
			m, _ := ptyAgent(t, jsonAgent)
			b = NewBuilder(fmt.Sprintf("ch%d", i)).WithPTY(m)
		}
		c, err := b.WithJSONHandler().Build()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		for g := range goroutines {
			wg.Go(func() {
				for j := range perClient {
					msg := fmt.Sprintf("%d/%d/%d", i, g, j)
					got, err := c.Request(context.Background(), []byte(msg))
					if err != nil || string(got) != "echo:"+msg {
						t.Errorf("Request(%s) = %q, %v", msg, got, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
}
