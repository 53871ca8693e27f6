package report

import (
	"strings"

	"github.com/onsi/ginkgo/v2/types"
)

// CallsEntry names the report entry in which a suite records the RPCs a spec
// made. Its value is the string EncodeCalls returns.
const CallsEntry = "rpc-calls"

// Call is one RPC a spec made: the full method name ("/pkg.Service/Method")
// and the status code name it ended with ("OK", "NotFound", ...).
type Call struct {
	Method string `json:"method"`
	Code   string `json:"code"`
}

// EncodeCalls renders calls as "method code" lines, the value of CallsEntry.
func EncodeCalls(calls []Call) string {
	var b strings.Builder
	for _, c := range calls {
		b.WriteString(c.Method)
		b.WriteByte(' ')
		b.WriteString(c.Code)
		b.WriteByte('\n')
	}
	return b.String()
}

// DecodeCalls parses EncodeCalls' output; malformed lines are skipped.
func DecodeCalls(s string) []Call {
	var out []Call
	for line := range strings.SplitSeq(s, "\n") {
		method, code, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || method == "" {
			continue
		}
		out = append(out, Call{Method: method, Code: code})
	}
	return out
}

func callsOf(sr types.SpecReport) []Call {
	var out []Call
	for _, e := range sr.ReportEntries {
		if e.Name == CallsEntry {
			out = append(out, DecodeCalls(e.Value.String())...)
		}
	}
	return out
}
