package recording

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"google.golang.org/grpc/codes"
)

// DecodeError is a bad session: the line (1-based; 0 for the file as a
// whole) and what is wrong with it.
type DecodeError struct {
	Name string // file name, if known
	Line int
	Err  error
}

func (e *DecodeError) Error() string {
	where := "recording"
	if e.Name != "" {
		where = e.Name
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s: line %d: %v", where, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", where, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// ErrUnsupportedVersion: the header names a version this reader does not know.
var ErrUnsupportedVersion = errors.New("unsupported recording version")

// Decode reads and validates one session. Calls come back in seq order,
// whatever their order in the file (the recorder writes them as they finish).
func Decode(r io.Reader) (*Session, error) {
	s, err := decode(bufio.NewReader(r))
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Open reads and validates the session file at path; Session.Name is its
// base name.
func Open(path string) (*Session, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open session: %w", err)
	}
	defer f.Close()
	s, err := Decode(f)
	if err != nil {
		var de *DecodeError
		if errors.As(err, &de) {
			de.Name = path
		}
		return nil, err
	}
	s.Name = filepath.Base(path)
	return s, nil
}

// List returns the session files in dir (names ending in .jsonl), sorted by
// name: session names start with their UTC start time, so this is start order.
func List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), FileSuffix) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// ReadDir opens every session in dir, in List order.
func ReadDir(dir string) ([]*Session, error) {
	paths, err := List(dir)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no session files (*%s) in %s", FileSuffix, dir)
	}
	out := make([]*Session, 0, len(paths))
	for _, p := range paths {
		s, err := Open(p)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func decode(br *bufio.Reader) (*Session, error) {
	s := &Session{}
	seqs := map[int]int{}      // seq -> line
	idents := map[string]int{} // id -> line
	line := 0
	for {
		b, err := br.ReadBytes('\n')
		if len(b) == 0 && errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, &DecodeError{Line: line + 1, Err: fmt.Errorf("read: %w", err)}
		}
		line++
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			return nil, &DecodeError{Line: line, Err: errors.New("empty line")}
		}
		if line == 1 {
			if err := decodeHeader(b, &s.Header); err != nil {
				return nil, &DecodeError{Line: line, Err: err}
			}
			continue
		}
		if s.End != nil {
			return nil, &DecodeError{Line: line, Err: errors.New(`a line after the "end" line`)}
		}
		var kind struct {
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(b, &kind); err != nil {
			return nil, &DecodeError{Line: line, Err: fmt.Errorf("bad JSON: %w", err)}
		}
		switch kind.Kind {
		case KindCall:
			var c Call
			if err := strictUnmarshal(b, &c); err != nil {
				return nil, &DecodeError{Line: line, Err: fmt.Errorf("call: %w", err)}
			}
			if err := requireKeys(b, "seq", "start_ns"); err != nil {
				return nil, &DecodeError{Line: line, Err: fmt.Errorf("call: %w", err)}
			}
			if err := validateCall(&c); err != nil {
				return nil, &DecodeError{Line: line, Err: fmt.Errorf("call seq %d: %w", c.Seq, err)}
			}
			if prev, dup := seqs[c.Seq]; dup {
				return nil, &DecodeError{Line: line, Err: fmt.Errorf("call seq %d repeats the seq of line %d", c.Seq, prev)}
			}
			if prev, dup := idents[c.ID]; dup {
				return nil, &DecodeError{Line: line, Err: fmt.Errorf("call seq %d: id %q repeats the id of line %d", c.Seq, c.ID, prev)}
			}
			seqs[c.Seq], idents[c.ID] = line, line
			s.Calls = append(s.Calls, c)
		case KindEnd:
			var e End
			if err := strictUnmarshal(b, &e); err != nil {
				return nil, &DecodeError{Line: line, Err: fmt.Errorf("end: %w", err)}
			}
			if err := requireKeys(b, "end_ns", "exit"); err != nil {
				return nil, &DecodeError{Line: line, Err: fmt.Errorf("end: %w", err)}
			}
			if e.EndNS < 0 {
				return nil, &DecodeError{Line: line, Err: fmt.Errorf("end: end_ns %d is negative", e.EndNS)}
			}
			s.End = &e
		case "":
			return nil, &DecodeError{Line: line, Err: errors.New(`missing "kind" (want "call" or "end")`)}
		default:
			return nil, &DecodeError{Line: line, Err: fmt.Errorf("unknown kind %q (want \"call\" or \"end\")", kind.Kind)}
		}
	}
	if line == 0 {
		return nil, &DecodeError{Err: errors.New("empty: no header line")}
	}
	sort.Slice(s.Calls, func(i, j int) bool { return s.Calls[i].Seq < s.Calls[j].Seq })
	return s, nil
}

func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("bad JSON: %w", err)
	}
	if d.More() {
		return errors.New("bad JSON: more than one value on the line")
	}
	return nil
}

// requireKeys fails on the first key absent from the JSON object b.
func requireKeys(b []byte, keys ...string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("bad JSON: %w", err)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return fmt.Errorf("missing %q", k)
		}
	}
	return nil
}

func decodeHeader(b []byte, h *Header) error {
	var probe struct {
		Format  string `json:"format"`
		Version *int   `json:"version"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return fmt.Errorf("header: bad JSON: %w", err)
	}
	switch {
	case probe.Format != Format:
		return fmt.Errorf("header: format %q, want %q (is this a vmtestbed recording?)", probe.Format, Format)
	case probe.Version == nil:
		return errors.New(`header: missing "version"`)
	case *probe.Version != Version:
		return fmt.Errorf("header: %w %d (this reader knows version %d)", ErrUnsupportedVersion, *probe.Version, Version)
	}
	if err := strictUnmarshal(b, h); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	if err := requireKeys(b, "plugin", "protocol", "vm_addr", "start", "pid", "plugin_pid"); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	if h.Protocol == 0 {
		return errors.New(`header: missing or zero "protocol"`)
	}
	if h.Pid < 0 || h.PluginPid < 0 {
		return errors.New("header: negative pid")
	}
	return nil
}

func validateCall(c *Call) error {
	switch {
	case c.Seq < 1:
		return fmt.Errorf("seq %d: want 1 or more", c.Seq)
	case c.ID == "":
		return errors.New(`missing "id"`)
	case c.Dir == "":
		return errors.New(`missing "dir"`)
	case !c.Dir.Valid():
		return fmt.Errorf("unknown direction %q (want %q or %q)", c.Dir, NodeToPlugin, PluginToNode)
	case c.Endpoint == "":
		return errors.New(`missing "endpoint"`)
	case c.Method == "":
		return errors.New(`missing "method"`)
	case !validMethod(c.Method):
		return fmt.Errorf("method %q: want /package.Service/Method", c.Method)
	case c.StartNS < 0:
		return fmt.Errorf("start_ns %d is negative", c.StartNS)
	}
	if c.Pending {
		if c.EndNS != nil || c.Code != "" {
			return errors.New("a pending call has no end_ns or code")
		}
	} else {
		switch {
		case c.EndNS == nil:
			return errors.New(`missing "end_ns" (and not "pending")`)
		case *c.EndNS < c.StartNS:
			return fmt.Errorf("end_ns %d before start_ns %d", *c.EndNS, c.StartNS)
		case c.Code == "":
			return errors.New(`missing "code"`)
		}
		if !validCode(c.Code) {
			return fmt.Errorf("code %q is not a gRPC code name (OK, Canceled, ...)", c.Code)
		}
	}
	for name, body := range map[string]json.RawMessage{"request": c.Request, "response": c.Response} {
		if len(body) > 0 && !isObject(body) {
			return fmt.Errorf("%s is not a JSON object", name)
		}
	}
	for i, d := range c.Details {
		if !isObject(d) {
			return fmt.Errorf("details[%d] is not a JSON object", i)
		}
	}
	if !c.Stream && len(c.Messages) > 0 {
		return errors.New(`"messages" on a call that is not a stream`)
	}
	if c.Stream && (len(c.Request) > 0 || len(c.Response) > 0 || len(c.RequestRaw) > 0 || len(c.ResponseRaw) > 0) {
		return errors.New(`a stream carries "messages", not "request"/"response"`)
	}
	for i, m := range c.Messages {
		switch {
		case m.From != "client" && m.From != "server":
			return fmt.Errorf("messages[%d]: from %q, want \"client\" or \"server\"", i, m.From)
		case m.AtNS < c.StartNS:
			return fmt.Errorf("messages[%d]: at_ns %d before the call's start_ns %d", i, m.AtNS, c.StartNS)
		case len(m.Body) > 0 && !isObject(m.Body):
			return fmt.Errorf("messages[%d]: body is not a JSON object", i)
		}
	}
	for name, addr := range c.Endpoints {
		if name == "" || addr == "" {
			return errors.New("endpoints: empty name or address")
		}
	}
	return nil
}

func validMethod(m string) bool {
	svc, name, ok := strings.Cut(strings.TrimPrefix(m, "/"), "/")
	return ok && strings.HasPrefix(m, "/") && svc != "" && name != "" && !strings.Contains(name, "/")
}

func isObject(b json.RawMessage) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 1 && b[0] == '{' && json.Valid(b)
}

// validCode reports whether name is a gRPC code's String(): "OK",
// "Canceled", ... "Unauthenticated".
func validCode(name string) bool {
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if c.String() == name {
			return true
		}
	}
	return false
}

// Encode writes s deterministically: the header, the calls in seq order,
// the end line if any. Decode(Encode(s)) gives s back.
func (s *Session) Encode(w io.Writer) error {
	bw := bufio.NewWriter(w)
	lines := []any{s.Header}
	for i := range s.Calls {
		lines = append(lines, s.Calls[i])
	}
	if s.End != nil {
		lines = append(lines, *s.End)
	}
	for _, v := range lines {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode session: %w", err)
		}
		if _, err := bw.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("encode session: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("encode session: %w", err)
	}
	return nil
}
