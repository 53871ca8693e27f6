package virtio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzJSONHandlerDecode: any reply line decodes to a value or a typed error, never a panic;
// ReplyID agrees with the id field; a string reply field decodes exactly like encoding/json
// (escapes and surrogates included) whenever its bytes are valid UTF-8, and keeps the bytes when
// they are not.
func FuzzJSONHandlerDecode(f *testing.F) {
	for _, s := range []string{`{"data":"pong","id":3}`, `{"result":"pong"}`, `{"error":"bad"}`, `{"data":{"a":1}}`,
		"{\"data\":\"\xff\"}", `{"data":"\ud800"}`, `{"data":"\ud83d\ude00"}`, `[1]`, `null`, `{"id":"x"}`, `{"data":"a\u0000b"}`} {
		f.Add([]byte(s))
	}
	h := NewJSONHandler()
	f.Fuzz(func(t *testing.T, resp []byte) {
		out, err := h.Decode(resp)
		var de *DecodeError
		var mf *MissingFieldError
		var ae *AgentError
		if err != nil && !errors.As(err, &de) && !errors.As(err, &mf) && !errors.As(err, &ae) {
			t.Fatalf("Decode(%q): untyped error %v", resp, err)
		}
		if id, ok := h.ReplyID(resp); ok {
			var m map[string]json.RawMessage
			if json.Unmarshal(resp, &m) != nil || m["id"] == nil {
				t.Fatalf("ReplyID(%q) = %d without an id field", resp, id)
			}
		}
		if err != nil {
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(resp, &m) != nil {
			t.Fatalf("Decode(%q) succeeded on a reply encoding/json rejects", resp)
		}
		v, ok := m["data"]
		if !ok {
			v = m["result"]
		}
		var s string
		if json.Unmarshal(v, &s) == nil && utf8.Valid(v) {
			if string(out) != s {
				t.Fatalf("Decode(%q) = %q, encoding/json says %q", resp, out, s)
			}
		}
	})
}

// FuzzJSONHandlerRoundTrip: every payload, valid UTF-8 or not, survives Encode then Decode
// unchanged, and the encoded request is one line.
func FuzzJSONHandlerRoundTrip(f *testing.F) {
	for _, s := range []string{"ping", "exec:echo hi", "\xff\xfe", "a\"b\\c\n\r\t\x00\x7f", "\u2028\u2029", ""} {
		f.Add([]byte(s), uint64(1))
	}
	h := NewJSONHandler()
	f.Fuzz(func(t *testing.T, payload []byte, id uint64) {
		req, err := h.EncodeWithID(payload, id)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.IndexByte(req, '\n') != len(req)-1 {
			t.Fatalf("EncodeWithID(%q) = %q: not one line", payload, req)
		}
		line := req[:len(req)-1]
		// The agent echoes the request as {"data":…,"id":…}: the request itself is such a reply.
		got, err := h.Decode(line)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("Decode(Encode(%q)) = %q, %v", payload, got, err)
		}
		if rid, ok := h.ReplyID(line); !ok || rid != id {
			t.Fatalf("ReplyID(EncodeWithID(_, %d)) = %d, %v", id, rid, ok)
		}
		if utf8.Valid(payload) && !json.Valid(line) {
			t.Fatalf("EncodeWithID(%q) = %q is not valid JSON", payload, line)
		}
	})
}

// memStream is a stream over fixed input delivered in pieces; reads after the end block
// until the read deadline (as a quiet channel does).
type memStream struct {
	pieces [][]byte
	dl     time.Time
}

func (m *memStream) Read(p []byte) (int, error) {
	if len(m.pieces) == 0 {
		return 0, errDeadline{}
	}
	n := copy(p, m.pieces[0])
	m.pieces[0] = m.pieces[0][n:]
	if len(m.pieces[0]) == 0 {
		m.pieces = m.pieces[1:]
	}
	return n, nil
}
func (m *memStream) Write(p []byte) (int, error)        { return len(p), nil }
func (m *memStream) SetReadDeadline(t time.Time) error  { m.dl = t; return nil }
func (m *memStream) SetWriteDeadline(t time.Time) error { return nil }

type errDeadline struct{}

func (errDeadline) Error() string   { return "i/o timeout" }
func (errDeadline) Timeout() bool   { return true }
func (errDeadline) Temporary() bool { return true }

type memEndpoint struct{ s *memStream }

func (e memEndpoint) open(context.Context) (stream, error) { return e.s, nil }
func (memEndpoint) release(stream) error                   { return nil }
func (memEndpoint) shutdown(stream) error                  { return nil }
func (memEndpoint) dropOnPeerGone() bool                   { return false }
func (memEndpoint) String() string                         { return "mem" }

// FuzzReceiveLine: the line framing of every line-based handler. Whatever the bytes and however
// they are split into reads, ReceiveLine returns the lines between newlines (without "\r"),
// reports an over-long line as *LineTooLongError and skips it, and never loses or invents a byte.
func FuzzReceiveLine(f *testing.F) {
	f.Add([]byte("pong\n{\"a\":1}\r\nlast"), uint8(3), uint8(8))
	f.Add([]byte("\n\n\r\n"), uint8(1), uint8(1))
	f.Add([]byte("aaaaaaaaaaaa\nb\n"), uint8(5), uint8(4))
	f.Fuzz(func(t *testing.T, data []byte, split, maxLine uint8) {
		step := int(split%16) + 1
		max := int(maxLine%32) + 1
		var pieces [][]byte
		for rest := data; len(rest) > 0; {
			n := min(step, len(rest))
			pieces = append(pieces, bytes.Clone(rest[:n]))
			rest = rest[n:]
		}
		ch := newChannel("fuzz", memEndpoint{&memStream{pieces: pieces}}, []Option{WithMaxLineLength(max), WithReadChunk(step)})
		if err := ch.Connect(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := strings.Split(string(data), "\n")
		want = want[:len(want)-1] // the part after the last newline is no line yet
		for i, w := range want {
			got, err := ch.ReceiveLine(context.Background())
			w = strings.TrimSuffix(w, "\r")
			var tl *LineTooLongError
			switch {
			case len(w) > max:
				if !errors.As(err, &tl) {
					t.Fatalf("line %d (%d bytes, max %d) = %q, %v; want LineTooLongError", i, len(w), max, got, err)
				}
				// The next call goes on with the next line.
			case err != nil:
				t.Fatalf("line %d %q: %v", i, w, err)
			case got != w:
				t.Fatalf("line %d = %q, want %q", i, got, w)
			}
		}
		if got, err := ch.ReceiveLine(context.Background()); err == nil {
			t.Fatalf("ReceiveLine after the last line = %q, want an error (no newline follows)", got)
		}
	})
}

// FuzzQuietRead: the raw handler's framing joins every piece that arrives.
func FuzzQuietRead(f *testing.F) {
	f.Add([]byte("hello world"), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		if len(data) == 0 {
			return
		}
		step := int(split%16) + 1
		p := &pieces{}
		for rest := data; len(rest) > 0; {
			n := min(step, len(rest))
			p.p = append(p.p, bytes.Clone(rest[:n]))
			rest = rest[n:]
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		got, err := QuietRead(len(data)+1, time.Millisecond)(ctx, p)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("QuietRead of %q in pieces of %d = %q, %v", data, step, got, err)
		}
	})
}

// FuzzFindChannel: discovery never panics, and what it finds is a unix channel with a path and
// a known mode, agreeing with SocketPathFromDomainXML.
func FuzzFindChannel(f *testing.F) {
	for _, s := range []string{
		`<domain><name>g</name><devices><channel type='unix'><source mode='bind' path='/p'/><target type='virtio' name='c'/></channel></devices></domain>`,
		`<domain><devices><channel type='unix'><source mode='connect' path='/q'/><target type='virtio' name='c'/></channel></devices></domain>`,
		`<domain><devices><channel type='pty'><target type='virtio' name='c'/></channel></devices></domain>`,
		`<domain/>`, `<`, ``,
	} {
		f.Add([]byte(s), "c")
	}
	f.Fuzz(func(t *testing.T, domain []byte, name string) {
		src, err := FindChannel(domain, name)
		path, perr := SocketPathFromDomainXML(domain, name)
		if err != nil {
			if perr == nil {
				t.Fatalf("FindChannel failed (%v) but SocketPathFromDomainXML found %q", err, path)
			}
			return
		}
		if src.Path == "" || (src.Mode != ModeBind && src.Mode != ModeConnect) {
			t.Fatalf("FindChannel = %+v", src)
		}
		if (src.Mode == ModeBind) != (perr == nil) || (perr == nil && path != src.Path) {
			t.Fatalf("FindChannel = %+v but SocketPathFromDomainXML = %q, %v", src, path, perr)
		}
	})
}
