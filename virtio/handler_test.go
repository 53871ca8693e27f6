package virtio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
)

// crcHandler is the custom example: "HDR:<payload>:<crc32 hex>\n", reply "RSP:<payload>:<crc32 hex>".
func crcHandler() *CustomHandler {
	return &CustomHandler{
		HandlerName: "crc",
		EncodeFunc: func(req []byte) ([]byte, error) {
			if bytes.ContainsAny(req, ":\n") {
				return nil, errors.New("payload may not contain ':' or newline")
			}
			return fmt.Appendf(nil, "HDR:%s:%08x\n", req, crc32.ChecksumIEEE(req)), nil
		},
		DecodeFunc: func(resp []byte) ([]byte, error) {
			rest, ok := bytes.CutPrefix(resp, []byte("RSP:"))
			if !ok {
				return nil, errors.New("no RSP header")
			}
			i := bytes.LastIndexByte(rest, ':')
			if i < 0 {
				return nil, errors.New("no checksum")
			}
			body, sum := rest[:i], string(rest[i+1:])
			if want := fmt.Sprintf("%08x", crc32.ChecksumIEEE(body)); sum != want {
				return nil, fmt.Errorf("checksum %s, computed %s", sum, want)
			}
			return body, nil
		},
	}
}

// crcAgent answers HDR frames with RSP frames of the upper-cased payload.
func crcAgent(line string) []byte {
	body, ok := strings.CutPrefix(line, "HDR:")
	if !ok {
		return []byte("ERR\n")
	}
	body = strings.ToUpper(body[:strings.LastIndexByte(body, ':')])
	return fmt.Appendf(nil, "RSP:%s:%08x\n", body, crc32.ChecksumIEEE([]byte(body)))
}

func TestJSONHandlerEncodeDecode(t *testing.T) {
	h := NewJSONHandler()
	got, err := h.Encode([]byte(`say "hi"`))
	if err != nil || string(got) != `{"data":"say \"hi\""}`+"\n" {
		t.Fatalf("Encode = %q, %v", got, err)
	}
	for _, tt := range []struct{ in, want string }{
		{`{"data":"pong"}`, "pong"},
		{`{"data":{"a":1},"x":2}`, `{"a":1}`},
		{`{"data":42}`, "42"},
	} {
		if out, err := h.Decode([]byte(tt.in)); err != nil || string(out) != tt.want {
			t.Errorf("Decode(%s) = %q, %v; want %q", tt.in, out, err, tt.want)
		}
	}
	custom := NewCustomJSONHandler("command", "response")
	got, _ = custom.Encode([]byte("get_metrics"))
	if string(got) != `{"command":"get_metrics"}`+"\n" {
		t.Fatalf("custom Encode = %q", got)
	}
	_, err = custom.Decode([]byte(`{"other":"bad"}`))
	var mf *MissingFieldError
	if !errors.As(err, &mf) || mf.Field != "response" || string(mf.Raw) != `{"other":"bad"}` {
		t.Fatalf("missing field: %v", err)
	}
	_, err = custom.Decode([]byte(`{"error":"bad"}`))
	var ae *AgentError
	if !errors.As(err, &ae) || ae.Message != "bad" {
		t.Fatalf("error reply: %v", err)
	}
	for _, garbage := range []string{"pong", `["data"]`, "null", ""} {
		_, err := h.Decode([]byte(garbage))
		var de *DecodeError
		if !errors.As(err, &de) || string(de.Raw) != garbage || !errors.Is(err, ErrNotJSONObject) {
			t.Errorf("Decode(%q) err = %v", garbage, err)
		}
	}
}

func TestJSONHandlerIDs(t *testing.T) {
	h := &JSONHandler{RequestField: "data", ReplyField: "data", IDField: "id"}
	got, err := h.EncodeWithID([]byte("x"), 7)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(got, &m); err != nil || m["id"] != float64(7) || m["data"] != "x" {
		t.Fatalf("EncodeWithID = %s, %v", got, err)
	}
	if id, ok := h.ReplyID([]byte(`{"id":7,"data":"y"}`)); !ok || id != 7 {
		t.Fatalf("ReplyID = %d, %v", id, ok)
	}
	for _, r := range []string{`{"data":"y"}`, `{"id":null}`, `nope`} {
		if _, ok := h.ReplyID([]byte(r)); ok {
			t.Errorf("ReplyID(%s) ok", r)
		}
	}
	// An id that is not ours in any form is someone else's: 0, which the client never sends.
	if id, ok := h.ReplyID([]byte(`{"id":"seven"}`)); !ok || id != 0 {
		t.Errorf(`ReplyID({"id":"seven"}) = %d, %v`, id, ok)
	}
	if _, ok := (&JSONHandler{RequestField: "data", ReplyField: "data"}).ReplyID([]byte(`{"id":7}`)); ok {
		t.Fatal("handler without IDField reported an id")
	}
	if id, ok := NewJSONHandler().ReplyID([]byte(`{"id":7}`)); !ok || id != 7 {
		t.Fatal("NewJSONHandler does not correlate ids by default")
	}
}

func TestCustomHandler(t *testing.T) {
	h := crcHandler()
	enc, err := h.Encode([]byte("ping"))
	if err != nil {
		t.Fatal(err)
	}
	resp := crcAgent(strings.TrimSuffix(string(enc), "\n"))
	out, err := h.Decode(bytes.TrimSuffix(resp, []byte("\n")))
	if err != nil || string(out) != "PING" {
		t.Fatalf("round trip = %q, %v", out, err)
	}
	if _, err := h.Encode([]byte("a:b")); err == nil || !strings.Contains(err.Error(), "crc handler") {
		t.Fatalf("bad payload: %v", err)
	}
	for _, bad := range []string{"RSP:PING:00000000", "HELLO", "RSP:nochecksum"} {
		_, err := h.Decode([]byte(bad))
		var de *DecodeError
		if !errors.As(err, &de) || de.Handler != "crc" || string(de.Raw) != bad {
			t.Errorf("Decode(%q) err = %v", bad, err)
		}
	}
	plain := &CustomHandler{HandlerName: "plain"}
	if b, _ := plain.Encode([]byte("x")); string(b) != "x" {
		t.Fatal("nil EncodeFunc changed bytes")
	}
	if b, _ := plain.Decode([]byte("y")); string(b) != "y" {
		t.Fatal("nil DecodeFunc changed bytes")
	}
}

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	if got := strings.Join(r.Names(), ","); got != "json,raw" {
		t.Fatalf("Names = %s", got)
	}
	if err := r.Register(crcHandler()); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(crcHandler()); !errors.Is(err, ErrHandlerExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := r.Register(NewRawHandler()); !errors.Is(err, ErrHandlerExists) {
		t.Fatalf("duplicate raw: %v", err)
	}
	if err := r.Register(nil); err == nil {
		t.Fatal("nil handler registered")
	}
	h, err := r.Lookup("crc")
	if err != nil || h.Name() != "crc" {
		t.Fatalf("Lookup = %v, %v", h, err)
	}
	if _, err := r.Lookup("xml"); !errors.Is(err, ErrHandlerNotFound) || !strings.Contains(err.Error(), "crc json raw") {
		t.Fatalf("unknown: %v", err)
	}
}
