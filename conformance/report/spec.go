package report

import (
	"regexp"
	"time"

	"github.com/onsi/ginkgo/v2/types"
)

// Spec is the outcome of one spec, flattened from a ginkgo SpecReport.
type Spec struct {
	ID       string        `json:"id,omitempty"`
	Text     string        `json:"text"`
	State    string        `json:"state"`
	Duration time.Duration `json:"duration_ns"`
	Failure  string        `json:"failure,omitempty"`
	Location string        `json:"location,omitempty"`
	Calls    []Call        `json:"calls,omitempty"`
}

// Passed reports whether the spec ran and passed.
func (s Spec) Passed() bool { return s.State == types.SpecStatePassed.String() }

// Failed reports whether the spec ended in a failure state (failed, timed
// out, panicked, interrupted, aborted).
func (s Spec) Failed() bool {
	switch s.State {
	case types.SpecStatePassed.String(), types.SpecStateSkipped.String(), types.SpecStatePending.String():
		return false
	}
	return true
}

var specIDRe = regexp.MustCompile(`^\[([A-Z0-9]+(?:-[A-Z0-9]+)+)\]`)

// SpecID extracts a leading "[ABC-DEF-001]" from a spec's text, or "".
func SpecID(text string) string {
	m := specIDRe.FindStringSubmatch(text)
	if m == nil {
		return ""
	}
	return m[1]
}

// specs returns the It specs of r (setup-only nodes such as ReportAfterSuite
// failures are kept only when they failed, so a broken suite stays visible).
func specs(r types.Report) []Spec {
	var out []Spec
	for _, sr := range r.SpecReports {
		if sr.LeafNodeType != types.NodeTypeIt && !sr.Failed() {
			continue
		}
		text := sr.LeafNodeText
		if text == "" {
			text = sr.LeafNodeType.String()
		}
		s := Spec{
			ID:       SpecID(text),
			Text:     text,
			State:    sr.State.String(),
			Duration: sr.RunTime,
			Calls:    callsOf(sr),
		}
		if sr.Failed() {
			// Every report is sanitised here, whatever failed the spec
			// (gomega, a suite's own Fail, an abort quoting the target).
			s.Failure = Sanitize(sr.FailureMessage())
			s.Location = sr.FailureLocation().String()
		}
		out = append(out, s)
	}
	return out
}
