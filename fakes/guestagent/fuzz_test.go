package guestagent

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzAgentJSONRequest: the JSON agent's request parsing. Whatever the line, the reply is one
// JSON object on one line, and a request object carrying an id gets that id back unchanged.
func FuzzAgentJSONRequest(f *testing.F) {
	for _, s := range []string{`{"command":"ping","id":1}`, `{"command":"hello","id":"x"}`, `{"data":"exec:echo hi"}`,
		`{"action":"start","app":"nginx"}`, `{"command":"file_begin","path":"../x","size":1,"sha256":"00"}`,
		`{"command":"file_read","path":"a","offset":-1}`, `{"command":42}`, `[1,2]`, `{"command":"ping","id":{"a":[1]}}`,
		"{\"command\":\"\xff\"}", `{"id":1e400}`, `{"command":"file_chunk","seq":0,"data":"!!"}`, ``} {
		f.Add([]byte(s))
	}
	a, err := New(Options{Allow: []string{}, Root: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if bytes.IndexByte(line, '\n') >= 0 {
			return // the line reader never hands over a newline
		}
		s := a.newSession()
		defer s.close()
		out := a.handleJSON(context.Background(), s, line)
		if bytes.IndexByte(out, '\n') >= 0 {
			t.Fatalf("reply to %q spans lines: %q", line, out)
		}
		var reply map[string]any
		rd := json.NewDecoder(bytes.NewReader(out))
		rd.UseNumber()
		if err := rd.Decode(&reply); err != nil || reply == nil || rd.More() {
			t.Fatalf("reply to %q is not a JSON object: %q", line, out)
		}
		var req map[string]any
		d := json.NewDecoder(bytes.NewReader(bytes.TrimSpace(line)))
		d.UseNumber()
		if d.Decode(&req) != nil || d.More() {
			return
		}
		if id, ok := req["id"]; ok && id != nil && json.Valid(line) && reply["error"] == nil {
			got, _ := json.Marshal(reply["id"])
			want, _ := json.Marshal(id)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("reply to %q echoes id %s, want %s", line, got, want)
			}
		}
	})
}

// FuzzAgentLineRequest: the line agent answers every line with one line.
func FuzzAgentLineRequest(f *testing.F) {
	for _, s := range []string{"ping", "status", "version", " ping ", "\xff", ""} {
		f.Add([]byte(s))
	}
	a, err := New(Options{Protocol: ProtocolLine})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		out := a.handleLine(context.Background(), nil, line)
		if len(out) == 0 || bytes.IndexByte(out, '\n') >= 0 {
			t.Fatalf("reply to %q = %q", line, out)
		}
	})
}

// FuzzLineReader: the agents' request framing. Lines come out as split by newlines (without
// "\r"); a line longer than max is reported as too long and the next line is read after it.
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("ping\r\nstatus\n\nlong long long\nx\n"), uint8(4))
	f.Fuzz(func(t *testing.T, data []byte, maxLine uint8) {
		max := int(maxLine%32) + 1
		lr := newLineReader(bytes.NewReader(data), max)
		want := strings.Split(string(data), "\n")
		want = want[:len(want)-1]
		for i, w := range want {
			w = strings.TrimSuffix(w, "\r")
			line, tooLong, err := lr.next()
			if err != nil {
				t.Fatalf("line %d %q: %v", i, w, err)
			}
			if tooLong != (len(w) > max) {
				t.Fatalf("line %d %q (max %d): tooLong = %v", i, w, max, tooLong)
			}
			if !tooLong && string(line) != w {
				t.Fatalf("line %d = %q, want %q", i, line, w)
			}
		}
		if _, _, err := lr.next(); err == nil {
			t.Fatal("a line after the last newline")
		}
	})
}
