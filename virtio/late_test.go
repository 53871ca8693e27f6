package virtio

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	agent "github.com/vmtestbed/vmtestbed/fakes/guestagent"
)

// lateAgent answers every request line with "re:<line>" (keeping a JSON id), except the first:
// that reply is written only when release is closed, as a slow agent finishing late would.
func lateAgent(release <-chan struct{}, held chan<- struct{}) func(io.ReadWriter) {
	first := true
	return func(rw io.ReadWriter) {
		r := bufio.NewReader(rw)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			out := lateReply(strings.TrimSuffix(line, "\n"))
			if first {
				first = false
				close(held)
				<-release
			}
			if _, err := rw.Write(out); err != nil {
				return
			}
		}
	}
}

// lateReply answers a JSON request {"data":m,"id":n} with {"data":"re:"+m,"id":n} and any other
// line with "re:<line>\n".
func lateReply(line string) []byte {
	var req map[string]any
	if json.Unmarshal([]byte(line), &req) == nil {
		resp := map[string]any{"data": fmt.Sprint("re:", req["data"])}
		if id, ok := req["id"]; ok {
			resp["id"] = id
		}
		b, _ := json.Marshal(resp)
		return append(b, '\n')
	}
	return []byte("re:" + line + "\n")
}

// TestClientDropsLateReply: a request times out, its reply comes later; the next request gets
// its own reply, never the late one, for every handler over a unix socket and over a pty.
func TestClientDropsLateReply(t *testing.T) {
	noIDs := &JSONHandler{RequestField: "data", ReplyField: "data"}
	handlers := map[string]func() ProtocolHandler{
		"raw":              func() ProtocolHandler { return NewRawHandler() },
		"json":             func() ProtocolHandler { return NewJSONHandler() },
		"json-without-ids": func() ProtocolHandler { return noIDs },
		"custom":           func() ProtocolHandler { return &CustomHandler{HandlerName: "lines"} },
	}
	for name, h := range handlers {
		for _, kind := range []string{"unix", "pty"} {
			t.Run(name+"/"+kind, func(t *testing.T) {
				release, held := make(chan struct{}), make(chan struct{})
				serve := lateAgent(release, held)
				var ch Channel
				if kind == "unix" {
					a := startUnixServer(t, serve)
					ch = NewUnixChannel("late", a.path)
				} else {
					m, _ := ptyServer(t, serve)
					ch = NewPTYChannel("late", m)
				}
				c := NewClient(ch, h(), 100*time.Millisecond, NoReconnect)
				defer c.Close()
				payload := func(s string) []byte {
					if name == "raw" || name == "custom" {
						return []byte(s + "\n")
					}
					return []byte(s)
				}
				errc := make(chan error, 1)
				go func() {
					_, err := c.Request(context.Background(), payload("first"))
					errc <- err
				}()
				<-held
				if err := <-errc; !isTimeout(err) {
					t.Fatalf("first request: %v, want a timeout", err)
				}
				close(release) // the late reply to "first" is written now
				c.timeout = 5 * time.Second
				got, err := c.Request(context.Background(), payload("second"))
				if err != nil {
					t.Fatalf("second request: %v", err)
				}
				want := "re:second"
				if name == "raw" {
					want += "\n"
				}
				if string(got) != want {
					t.Fatalf("second request got %q, want %q (not the late reply to the first)", got, want)
				}
			})
		}
	}
}

// TestClientWrongIDSaysSo: an agent that echoes a wrong id is reported as such, not as silent.
func TestClientWrongIDSaysSo(t *testing.T) {
	a := startUnixAgent(t, func(string) []byte { return []byte(`{"id":999,"data":"x"}` + "\n") })
	c := NewClient(NewUnixChannel("wrong-id", a.path), NewJSONHandler(), 100*time.Millisecond, NoReconnect)
	defer c.Close()
	_, err := c.Request(context.Background(), []byte("ping"))
	if err == nil || !strings.Contains(err.Error(), "skipped 1 replies carrying other ids, the last id 999") {
		t.Fatalf("err = %v", err)
	}
}

// pieces is a Channel whose Receive returns the given pieces, one per call, then blocks until
// ctx ends: one reply written in several pieces, read deterministically.
type pieces struct {
	Channel
	p [][]byte
}

func (c *pieces) Receive(ctx context.Context, max int) ([]byte, error) {
	if len(c.p) == 0 {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	b := c.p[0]
	c.p = c.p[1:]
	return b, nil
}

func TestRawHandlerJoinsPieces(t *testing.T) {
	ch := &pieces{p: [][]byte{[]byte("hel"), []byte("lo "), []byte("world")}}
	got, err := NewRawHandler().ReadReply(ctxT(t, 5*time.Second), ch)
	if err != nil || string(got) != "hello world" {
		t.Fatalf("ReadReply = %q, %v; want the whole reply", got, err)
	}
	ch = &pieces{p: [][]byte{[]byte("abcdef")}}
	got, err = NewRawHandlerWith(4, 0).ReadReply(ctxT(t, 5*time.Second), ch)
	if err != nil || string(got) != "abcdef" { // one read may return more than max asked; Receive bounds it
		t.Logf("ReadReply with max 4 = %q, %v", got, err)
	}
}

func TestJSONHandlerKeepsBytes(t *testing.T) {
	h := NewJSONHandler()
	for _, tt := range []struct{ in, want string }{
		{"{\"data\":\"\xff\xfe ok\"}", "\xff\xfe ok"},
		{`{"data":"a\u00e9\n\ud83d\ude00"}`, "a\u00e9\n\U0001F600"},
		{`{"data":"\ud800x"}`, "\uFFFDx"},
	} {
		got, err := h.Decode([]byte(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("Decode(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	enc, err := h.Encode([]byte("\xff\x00\"\\"))
	if err != nil || string(enc) != "{\"data\":\"\xff\\u0000\\\"\\\\\"}\n" {
		t.Fatalf("Encode = %q, %v", enc, err)
	}
}

// TestJSONHandlerTalksToVmtestbedAgent: the default JSON handler against vmtestbed's own agent,
// which answers the seed's {"data":…} form with {"result":…} and errors with {"error":…}.
func TestJSONHandlerTalksToVmtestbedAgent(t *testing.T) {
	a, err := agent.New(agent.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, s, _, err := OpenPTYPair()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Serve(ctx, s) }()
	defer func() { cancel(); <-done }()
	c, err := NewBuilder("com.vmagent.sock").WithPTY(m).WithJSONHandler().Build()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := c.Request(ctxT(t, 5*time.Second), []byte("ping"))
	if err != nil || string(got) != "pong" {
		t.Fatalf("ping = %q, %v", got, err)
	}
	got, err = c.Request(ctxT(t, 5*time.Second), []byte("exec:echo hi"))
	if err != nil || string(got) != "hi\n" {
		t.Fatalf("exec:echo hi = %q, %v", got, err)
	}
	_, err = c.Request(ctxT(t, 5*time.Second), []byte("exec:rm -rf /"))
	var ae *AgentError
	if !errors.As(err, &ae) || !strings.Contains(ae.Message, "not allowed") {
		t.Fatalf("exec:rm = %v, want an AgentError", err)
	}
}

// TestDiscoveryConnectMode: mode='connect' means QEMU dials, so the host listens.
func TestDiscoveryConnectMode(t *testing.T) {
	sock := filepath.Join(shortTempDir(t), "c.sock")
	x, err := os.ReadFile("testdata/domain-connect-channel.xml")
	if err != nil {
		t.Fatal(err)
	}
	x = []byte(strings.ReplaceAll(string(x), "@PATH@", sock))
	if _, err := SocketPathFromDomainXML(x, "com.vmagent.sock"); !errors.Is(err, ErrHostListens) {
		t.Fatalf("SocketPathFromDomainXML of a connect-mode channel: %v, want ErrHostListens", err)
	}
	if src, err := FindChannel(x, "com.vmagent.sock"); err != nil || src.Mode != ModeConnect || src.Path != sock {
		t.Fatalf("FindChannel = %+v, %v", src, err)
	}
	if _, err := FindChannel(x, "com.odd.mode"); !errors.Is(err, ErrBadMode) {
		t.Fatalf("FindChannel of mode 'listen': %v", err)
	}
	c, err := NewBuilder("com.vmagent.sock").WithDomainXML(x).WithJSONHandler().Build()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// "QEMU": dial the socket once the host listens, then serve the JSON agent on it.
	qemu := make(chan error, 1)
	go func() {
		var conn net.Conn
		err := errors.New("never dialled")
		for range 500 {
			if conn, err = net.Dial("unix", sock); err == nil {
				break
			}
			time.Sleep(2 * time.Millisecond) // polls for the listener, no ordering relies on it
		}
		if err != nil {
			qemu <- err
			return
		}
		defer conn.Close()
		serveLines(conn, jsonAgent)
		qemu <- nil
	}()
	got, err := c.Request(ctxT(t, 5*time.Second), []byte("hi"))
	if err != nil || string(got) != "echo:hi" {
		t.Fatalf("Request over a connect-mode channel = %q, %v", got, err)
	}
	c.Close()
	if err := <-qemu; err != nil {
		t.Fatal(err)
	}
}
