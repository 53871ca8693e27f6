// Package report writes what a scenario run leaves behind: the trace as
// JSON and as readable text (the golden form), a summary, and a
// self-contained HTML timeline (nodes as lanes, calls and messages as marks
// and arrows, faults and partitions marked, zoomable; no network fetches).
package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vmtestbed/vmtestbed/sim"
)

// WriteText writes one line per event, in trace order:
//
//	seq  virtual-time  lane  kind  name  from->to  detail  !error
//
// A call or delivery made while serving another is indented under it; a
// delivery names the send it came from (<-#seq). The same events give the
// same bytes.
func WriteText(w io.Writer, events []sim.Event) error {
	bw := bufio.NewWriter(w)
	depth := map[uint64]int{}   // open span -> nesting depth
	sendSeq := map[uint64]int{} // send span -> its seq
	for _, ev := range events {
		d := 0
		if ev.Kind != sim.KindDeliver && ev.Kind != sim.KindDrop {
			if pd, ok := depth[ev.Parent]; ok {
				d = pd + 1
			}
		}
		if ev.Span != 0 {
			if ev.Kind == sim.KindSend {
				sendSeq[ev.Span] = ev.Seq
			} else {
				depth[ev.Span] = d
			}
		}
		node := ev.Node
		if node == "" {
			node = "-"
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%5d %s %-4s %-9s %s%s", ev.Seq, fmtTime(ev.At), node, ev.Kind, strings.Repeat("  ", d), ev.Name)
		if ev.From != "" || ev.To != "" {
			fmt.Fprintf(&b, " %s->%s", ev.From, ev.To)
		}
		if s, ok := sendSeq[ev.Parent]; ok && (ev.Kind == sim.KindDeliver || ev.Kind == sim.KindDrop) {
			fmt.Fprintf(&b, " <-#%d", s)
		}
		if ev.Background {
			b.WriteString(" (background)")
		}
		if ev.Detail != "" {
			b.WriteString("  " + ev.Detail)
		}
		if ev.End > ev.At {
			fmt.Fprintf(&b, " [until %s]", fmtTime(ev.End))
		}
		if ev.Err != "" {
			b.WriteString("  !" + ev.Err)
		}
		// no trailing blanks: editors strip them from golden files
		if _, err := bw.WriteString(strings.TrimRight(b.String(), " ") + "\n"); err != nil {
			return fmt.Errorf("write trace text: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write trace text: %w", err)
	}
	return nil
}

// fmtTime prints virtual time as seconds with microseconds: 12.345678s.
func fmtTime(d time.Duration) string {
	return fmt.Sprintf("%d.%06ds", d/time.Second, (d%time.Second)/time.Microsecond)
}
