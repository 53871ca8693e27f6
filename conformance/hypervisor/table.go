package hypervisor

import (
	"strings"

	"github.com/vmtestbed/vmtestbed/conformance/report"
)

// StatusUnreachable marks a method the probe could not reach (see Unreachable).
const StatusUnreachable = report.StatusUnreachable

// BlameEntry names the report entry in which a failed spec records the one
// method its failure is about (see recorder.blame).
const BlameEntry = "hv-blame"

// MethodTable builds the method table of the 79 methods from the probe and
// the specs' outcomes. blame maps a failed spec's text to the methods its
// failure is about.
//
// A method is unimplemented or unreachable as the probe found it; else
// failing when a failed spec is blamed on it; else conformant when a passed
// spec called it; else untested. Only the method a failure is about is
// blamed: the call whose answer the failed check was about, or the stream or
// change a timed-out wait was for. A convention (SHOULD) spec blames nothing.
func MethodTable(specs []report.Spec, p *Probe, blame map[string][]string) []report.MethodStatus {
	all := Methods()
	rows := make(map[string]*report.MethodStatus, len(all))
	for _, m := range all {
		rows[m] = &report.MethodStatus{Method: m}
	}
	for _, s := range specs {
		touched := map[string]bool{}
		for _, c := range s.Calls {
			if rows[c.Method] != nil {
				touched[c.Method] = true
			}
		}
		for m := range touched {
			if s.Passed() {
				rows[m].Passed++
			} else if s.Failed() {
				rows[m].Failed++
			}
		}
		if !s.Failed() || IsConvention(s.Text) {
			continue
		}
		name := s.ID
		if name == "" {
			name = s.Text
		}
		for _, m := range blame[s.Text] {
			if rows[m] != nil {
				rows[m].Blamed = append(rows[m].Blamed, name)
			}
		}
	}
	out := make([]report.MethodStatus, 0, len(all))
	for _, m := range all {
		r := rows[m]
		switch {
		case p.Class(m) == Unimplemented:
			r.Status = report.StatusUnimplemented
		case p.Class(m) == Unreachable:
			r.Status = StatusUnreachable
		case len(r.Blamed) > 0:
			r.Status = report.StatusFailing
		case r.Passed > 0:
			r.Status = report.StatusConformant
		default:
			r.Status = report.StatusUntested
		}
		out = append(out, *r)
	}
	return out
}

// short returns the method name of a full one ("/pkg.Svc/Get" -> "Svc.Get").
func short(full string) string {
	svc, m, ok := strings.Cut(strings.TrimPrefix(full, "/"), "/")
	if !ok {
		return full
	}
	return svc[strings.LastIndex(svc, ".")+1:] + "." + m
}

// IsConvention reports whether a spec's text states only a SHOULD (a
// documented convention, not a MUST of the contract): its failure is
// reported, blames no method, and does not fail a run on its own.
func IsConvention(text string) bool {
	return strings.Contains(text, " SHOULD ") && !strings.Contains(text, " MUST ")
}
