package qga

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzDecodeReply: any reply line (0xFF bytes and all) decodes to a return value for our id, a
// skip, an *Error or a *ProtocolError, never a panic; a value comes only for our id.
func FuzzDecodeReply(f *testing.F) {
	for _, s := range []string{`{"return":{},"id":7}`, `{"return":{},"id":8}`, `{"error":{"class":"CommandNotFound","desc":"x"},"id":7}`,
		"junk\xff{\"return\":{},\"id\":7}", "\xff", `{"id":7}`, `{"return":null,"id":7}`, `{"return":1}`, `nope`, ""} {
		f.Add([]byte(s), uint64(7))
	}
	f.Fuzz(func(t *testing.T, line []byte, id uint64) {
		ret, ours, err := decodeReply(line, id)
		var qe *Error
		var pe *ProtocolError
		if err != nil && !errors.As(err, &qe) && !errors.As(err, &pe) {
			t.Fatalf("decodeReply(%q): untyped error %v", line, err)
		}
		if err == nil && ours {
			raw := line
			if i := bytes.LastIndexByte(raw, 0xFF); i >= 0 {
				raw = raw[i+1:]
			}
			var r struct{ ID *uint64 }
			if json.Unmarshal(raw, &r) != nil || r.ID == nil || *r.ID != id || ret == nil {
				t.Fatalf("decodeReply(%q, %d) = %q, ours, for a reply that is not ours", line, id, ret)
			}
		}
		if !ours && err == nil && ret != nil {
			t.Fatalf("decodeReply(%q) returned a value for a reply that is not ours", line)
		}
	})
}

// FuzzDecodeSyncReply: the 0xFF resynchronisation: only the JSON after the last 0xFF counts,
// and a line without 0xFF is output from before the delimiter.
func FuzzDecodeSyncReply(f *testing.F) {
	for _, s := range []string{"\xff{\"return\": 12}", "junk\xff{\"return\": 12}", "{\"return\": 12}", "\xff\xff{\"return\":1}", "\xff", "\xff{\"error\":{\"class\":\"X\",\"desc\":\"y\"}}", "\xff{\"return\":\"x\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		id, delimited, err := decodeSyncReply(line)
		if delimited != (bytes.IndexByte(line, 0xFF) >= 0) {
			t.Fatalf("decodeSyncReply(%q): delimited = %v", line, delimited)
		}
		if !delimited && (err != nil || id != 0) {
			t.Fatalf("decodeSyncReply(%q) without a delimiter = %d, %v", line, id, err)
		}
		if err == nil && delimited {
			var r struct{ Return uint64 }
			if json.Unmarshal(line[bytes.LastIndexByte(line, 0xFF)+1:], &r) != nil || r.Return != id {
				t.Fatalf("decodeSyncReply(%q) = %d", line, id)
			}
		}
	})
}
