package report

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/onsi/ginkgo/v2/types"
)

// Result is a suite run in the form vmtestbed writes as JSON.
type Result struct {
	Suite     string         `json:"suite"`
	Succeeded bool           `json:"succeeded"`
	Start     time.Time      `json:"start"`
	End       time.Time      `json:"end"`
	Passed    int            `json:"passed"`
	Failed    int            `json:"failed"`
	Skipped   int            `json:"skipped"`
	Specs     []Spec         `json:"specs"`
	Methods   []MethodStatus `json:"methods,omitempty"`
}

// FromGinkgo flattens r. methods, when non-empty, lists the full method names
// of the contract for the method table.
func FromGinkgo(r types.Report, methods []string) Result {
	res := Result{
		Suite:     r.SuiteDescription,
		Succeeded: r.SuiteSucceeded,
		Start:     r.StartTime,
		End:       r.EndTime,
		Specs:     specs(r),
	}
	for _, s := range res.Specs {
		switch {
		case s.Passed():
			res.Passed++
		case s.Failed():
			res.Failed++
		default:
			res.Skipped++
		}
	}
	if len(methods) > 0 {
		res.Methods = Methods(res.Specs, methods)
	}
	return res
}

// FailedIDs returns the IDs (or texts, for specs without an ID) of failed specs.
func (r Result) FailedIDs() []string {
	var out []string
	for _, s := range r.Specs {
		if !s.Failed() {
			continue
		}
		if s.ID != "" {
			out = append(out, s.ID)
		} else {
			out = append(out, s.Text)
		}
	}
	return out
}

// Method returns the table row for the full method name m.
func (r Result) Method(m string) (MethodStatus, bool) {
	for _, row := range r.Methods {
		if row.Method == m {
			return row, true
		}
	}
	return MethodStatus{}, false
}

// WriteJSON writes r as indented JSON.
func (r Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write JSON result: %w", err)
	}
	return nil
}

// ReadJSON parses a Result written by WriteJSON.
func ReadJSON(rd io.Reader) (Result, error) {
	var r Result
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return Result{}, fmt.Errorf("read JSON result: %w", err)
	}
	return r, nil
}
