package report

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2/types"
)

// Progress prints one line per finished spec to a console, and the failure
// message of specs that failed. Use Spec as a ginkgo ReportAfterEach body.
type Progress struct {
	mu   sync.Mutex
	w    io.Writer
	n    int
	fail int
}

// NewProgress returns a Progress writing to w.
func NewProgress(w io.Writer) *Progress { return &Progress{w: w} }

// Spec reports one finished spec. A spec left out by a filter prints
// nothing; one skipped at run time prints its reason.
func (p *Progress) Spec(sr types.SpecReport) {
	if sr.LeafNodeType != types.NodeTypeIt {
		return
	}
	if sr.State == types.SpecStateSkipped && sr.Failure.Message == "" {
		return // filtered-out specs would drown the ones that ran
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	mark := "ok  "
	switch {
	case sr.Failed():
		mark = "FAIL"
		p.fail++
	case sr.State != types.SpecStatePassed:
		mark = "skip"
	}
	fmt.Fprintf(p.w, "%s %s (%s)\n", mark, sr.LeafNodeText, sr.RunTime.Round(time.Millisecond))
	switch {
	case sr.Failed():
		msg := strings.TrimSpace(Sanitize(sr.FailureMessage()))
		fmt.Fprintf(p.w, "     at %s\n     %s\n", sr.FailureLocation(), strings.ReplaceAll(msg, "\n", "\n     "))
	case mark == "skip":
		fmt.Fprintf(p.w, "     skipped: %s\n", strings.ReplaceAll(strings.TrimSpace(Sanitize(sr.Failure.Message)), "\n", "\n     "))
	}
}

// Counts returns how many specs were reported and how many of them failed.
func (p *Progress) Counts() (specs, failed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n, p.fail
}
