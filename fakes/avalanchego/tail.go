package avalanchego

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// tailLines is how many output lines a Plugin keeps.
const tailLines = 40

// tailWriter keeps the last tailLines lines written to it and copies every
// write to an optional sink. Safe for concurrent use.
type tailWriter struct {
	mu      sync.Mutex
	sink    io.Writer
	lines   []string
	partial []byte
}

func newTailWriter(sink io.Writer) *tailWriter {
	return &tailWriter{sink: sink}
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sink != nil {
		// A failing log sink must not stop the plugin's output from being read.
		_, _ = w.sink.Write(p)
	}
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.push(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	if len(w.partial) > 4096 { // a very long line without newline: keep it bounded
		w.push(string(w.partial))
		w.partial = nil
	}
	return len(p), nil
}

func (w *tailWriter) push(line string) {
	w.lines = append(w.lines, line)
	if len(w.lines) > tailLines {
		w.lines = w.lines[len(w.lines)-tailLines:]
	}
}

// String returns the kept lines, newline-separated, plus any unterminated line.
func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := strings.Join(w.lines, "\n")
	if len(w.partial) > 0 {
		if out != "" {
			out += "\n"
		}
		out += string(w.partial)
	}
	return out
}
