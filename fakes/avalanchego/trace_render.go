package avalanchego

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteJSON writes the events as an indented JSON array.
func (t *Trace) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(t.Events()); err != nil {
		return fmt.Errorf("write trace json: %w", err)
	}
	return nil
}

// WriteText writes one line per event, for consoles.
func (t *Trace) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, e := range t.Events() {
		fmt.Fprintf(bw, "%4d %10s %-12s %-45s %-9s %8s req=%s resp=%s\n",
			e.Seq, fmtDur(e.At), e.Dir, e.Method, e.Code, fmtDur(e.Latency), e.Request, e.Response)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write trace text: %w", err)
	}
	return nil
}

// WriteMermaid writes Markdown holding a mermaid sequenceDiagram.
func (t *Trace) WriteMermaid(w io.Writer) error {
	bw := bufio.NewWriter(w)
	events := t.Events()
	fmt.Fprintf(bw, "# RPC trace (%d calls)\n\n```mermaid\nsequenceDiagram\n", len(events))
	fmt.Fprintln(bw, "    participant N as node")
	fmt.Fprintln(bw, "    participant P as plugin")
	for _, e := range events {
		from, to := "N", "P"
		if e.Dir == DirPluginToNode {
			from, to = "P", "N"
		}
		fmt.Fprintf(bw, "    %s->>%s: %d %s %s\n", from, to, e.Seq, shortMethod(e.Method), mermaidText(e.Request))
		fmt.Fprintf(bw, "    %s-->>%s: %s %s %s\n", to, from, e.Code, fmtDur(e.Latency), mermaidText(e.Response))
	}
	fmt.Fprintln(bw, "```")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write trace mermaid: %w", err)
	}
	return nil
}

// shortMethod turns "/vm.VM/Version" into "VM.Version".
func shortMethod(full string) string {
	full = strings.TrimPrefix(full, "/")
	svc, m, ok := strings.Cut(full, "/")
	if !ok {
		return full
	}
	if i := strings.LastIndex(svc, "."); i >= 0 {
		svc = svc[i+1:]
	}
	return svc + "." + m
}

// mermaidText escapes what mermaid treats as syntax in a message.
func mermaidText(s string) string {
	r := strings.NewReplacer(";", "#59;", "#", "#35;", "\n", " ", "<", "#lt;", ">", "#gt;")
	return r.Replace(shorten(s, 60))
}

func fmtDur(d time.Duration) string {
	return d.Round(time.Microsecond).String()
}
