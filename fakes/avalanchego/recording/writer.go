package recording

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
)

// Writer appends one session: the header at once, each call when it
// finishes, pending calls and the end line on Close. Every line is flushed
// as written, so a killed recorder leaves all finished calls behind. It is
// safe for concurrent use.
type Writer struct {
	start time.Time

	mu       sync.Mutex
	out      *bufio.Writer
	file     io.Closer // nil when writing to a caller's io.Writer
	seq      int
	perPoint map[string]int
	open     map[int]*CallRecorder
	closed   bool
	end      *int64 // MarkEnd
	err      error  // first write error; later writes are dropped
}

// NewWriter writes h (Format, Version and, if empty, Start are filled in)
// to w and returns a Writer for the session's calls.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	start := time.Now()
	h.Format, h.Version = Format, Version
	if h.Start == "" {
		h.Start = start.UTC().Format(time.RFC3339Nano)
	}
	wr := &Writer{start: start, out: bufio.NewWriter(w), perPoint: map[string]int{}, open: map[int]*CallRecorder{}}
	if err := wr.writeLine(h); err != nil {
		return nil, fmt.Errorf("write session header: %w", err)
	}
	return wr, nil
}

// Create starts a new session file in dir, named
// session-<UTC start>-<pid><suffix>.jsonl and created with O_EXCL: several
// recorders (the pre-init process, chain processes, several nodes) can
// share a directory. It returns the Writer and the file's path.
func Create(dir string, h Header) (*Writer, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("create session dir: %w", err)
	}
	base := fmt.Sprintf("session-%s-%d", time.Now().UTC().Format("20060102T150405.000000000Z"), os.Getpid())
	for i := 1; ; i++ {
		name := base
		if i > 1 {
			name += "-" + strconv.Itoa(i)
		}
		path := filepath.Join(dir, name+FileSuffix)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) && i < 1000 {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("create session file: %w", err)
		}
		w, err := NewWriter(f, h)
		if err != nil {
			_ = f.Close()
			return nil, "", fmt.Errorf("%s: %w", path, err)
		}
		w.file = f
		return w, path, nil
	}
}

// Since is the offset of now from the session start.
func (w *Writer) Since() int64 { return int64(time.Since(w.start)) }

// Begin opens a call: it takes the next seq now, so seq is start order.
func (w *Writer) Begin(dir Direction, endpoint, method string) *CallRecorder {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	w.perPoint[endpoint]++
	c := &CallRecorder{w: w, c: Call{
		Kind: KindCall, Seq: w.seq, ID: endpoint + "#" + strconv.Itoa(w.perPoint[endpoint]),
		Dir: dir, Endpoint: endpoint, Method: method, StartNS: w.Since(),
	}}
	if info, err := LookupMethod(method); err == nil && info.Streaming() {
		c.c.Stream = true
	}
	if !w.closed {
		w.open[c.c.Seq] = c
	}
	return c
}

// MarkEnd notes now as the session's end (the plugin exited): the end
// line carries this offset instead of Close's. Only the first mark counts.
func (w *Writer) MarkEnd() {
	now := w.Since()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.end == nil {
		w.end = &now
	}
}

// Close writes the calls still open as pending, then the end line with the
// plugin's exit status, flushes, and closes the file Create opened. Calls
// finishing later are dropped. It returns the first write error.
func (w *Writer) Close(exit string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.err
	}
	w.closed = true
	end := w.Since()
	if w.end != nil {
		end = *w.end
	}
	for seq := 1; seq <= w.seq; seq++ {
		if c, ok := w.open[seq]; ok {
			c.mu.Lock()
			call := c.c
			call.Pending = true
			c.mu.Unlock()
			w.writeLocked(call)
		}
	}
	w.open = nil
	w.writeLocked(End{Kind: KindEnd, EndNS: end, Exit: exit})
	if w.file != nil {
		if err := w.file.Close(); err != nil && w.err == nil {
			w.err = err
		}
	}
	if w.err != nil {
		return fmt.Errorf("write session: %w", w.err)
	}
	return nil
}

func (w *Writer) writeLocked(v any) {
	if w.err == nil {
		w.err = w.writeLine(v)
	}
}

func (w *Writer) writeLine(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := w.out.Write(append(b, '\n')); err != nil {
		return err
	}
	return w.out.Flush()
}

// CallRecorder collects one call; Finish writes it. Its methods are safe
// to call from the goroutines of both directions of a stream.
type CallRecorder struct {
	w *Writer

	mu     sync.Mutex
	c      Call
	marked *int64 // MarkEnd
}

// Request records the request's wire bytes (unary calls).
func (r *CallRecorder) Request(wire []byte) {
	j, raw := encodeBody(r.c.Method, true, wire)
	r.mu.Lock()
	r.c.Request, r.c.RequestRaw = j, raw
	r.mu.Unlock()
}

// Response records the response's wire bytes (unary calls).
func (r *CallRecorder) Response(wire []byte) {
	j, raw := encodeBody(r.c.Method, false, wire)
	r.mu.Lock()
	r.c.Response, r.c.ResponseRaw = j, raw
	r.mu.Unlock()
}

// StreamMessage records one message of a streaming call (or of a call of
// an unknown method, forwarded message by message), sent by the client
// (fromClient) or the server. It marks the call a stream.
func (r *CallRecorder) StreamMessage(fromClient bool, wire []byte) {
	j, raw := encodeBody(r.c.Method, fromClient, wire)
	m := StreamMessage{From: "server", AtNS: r.w.Since(), Body: j, Raw: raw}
	if fromClient {
		m.From = "client"
	}
	r.mu.Lock()
	r.c.Stream = true
	r.c.Messages = append(r.c.Messages, m)
	r.mu.Unlock()
}

// Endpoint notes that this call introduced an endpoint: the address as
// sent, under its symbolic name.
func (r *CallRecorder) Endpoint(name, addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c.Endpoints == nil {
		r.c.Endpoints = map[string]string{}
	}
	r.c.Endpoints[name] = addr
}

// MarkEnd notes now as the moment the caller gave up on the call (the
// caller cancelled it, or its deadline passed): if the call then ends
// Canceled or DeadlineExceeded, that moment is its end. Only the first
// mark counts.
func (r *CallRecorder) MarkEnd() {
	now := r.w.Since()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.marked == nil {
		r.marked = &now
	}
}

// Finish ends the call with err's gRPC status and writes it. A call
// finished after Writer.Close was written as pending and stays so.
func (r *CallRecorder) Finish(err error) {
	end := r.w.Since()
	st := status.Convert(err)
	r.mu.Lock()
	if r.marked != nil && (st.Code() == codes.Canceled || st.Code() == codes.DeadlineExceeded) && *r.marked < end {
		end = *r.marked
	}
	r.c.EndNS = &end
	r.c.Code = st.Code().String()
	r.c.Message = st.Message()
	for _, d := range st.Proto().GetDetails() {
		r.c.Details = append(r.c.Details, detailJSON(d))
	}
	call := r.c
	r.mu.Unlock()

	w := r.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	delete(w.open, call.Seq)
	w.writeLocked(call)
}

// detailJSON renders a status detail as protojson, or as its type URL and
// base64 value when the type is not registered.
func detailJSON(a *anypb.Any) json.RawMessage {
	if j, err := MarshalJSON(a); err == nil {
		return j
	}
	b, _ := json.Marshal(struct {
		TypeURL string `json:"type_url"`
		Value   []byte `json:"value"`
	}{a.GetTypeUrl(), a.GetValue()})
	return b
}
