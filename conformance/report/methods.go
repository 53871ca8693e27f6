package report

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
)

// Method statuses in a method table.
const (
	StatusConformant    = "conformant"
	StatusFailing       = "failing"
	StatusUnimplemented = "unimplemented"
	StatusUntested      = "untested"
	// StatusUnreachable: a probe could not reach the method at all (its
	// endpoint was down), so nothing can be said of it.
	StatusUnreachable = "unreachable"
)

// MethodStatus is one row of the method table.
type MethodStatus struct {
	Method string `json:"method"`
	Status string `json:"status"`
	// Passed and Failed count the specs that called the method.
	Passed int `json:"passed_specs"`
	Failed int `json:"failed_specs"`
	// Blamed lists the IDs (or texts) of failing specs blamed on this method.
	Blamed []string `json:"blamed_by,omitempty"`
}

// Methods builds the method table for the full method names in all (e.g.
// "/hypervisor.v1.ClusterService/GetNode"), in that order.
//
// A method is unimplemented when any call to it returned Unimplemented; else
// failing when a failing spec is blamed on it; else conformant when a passing
// spec called it; else untested. A failing spec is blamed on the methods it
// called whose short name appears in its text (the RPCs it is about); when its
// text names none of them, on every method it called.
func Methods(specs []Spec, all []string) []MethodStatus {
	rows := make(map[string]*MethodStatus, len(all))
	for _, m := range all {
		rows[m] = &MethodStatus{Method: m}
	}
	unimpl := map[string]bool{}
	for _, s := range specs {
		touched := map[string]bool{}
		for _, c := range s.Calls {
			if _, ok := rows[c.Method]; !ok {
				continue
			}
			touched[c.Method] = true
			if c.Code == "Unimplemented" {
				unimpl[c.Method] = true
			}
		}
		for m := range touched {
			if s.Passed() {
				rows[m].Passed++
			} else if s.Failed() {
				rows[m].Failed++
			}
		}
		if !s.Failed() {
			continue
		}
		name := s.ID
		if name == "" {
			name = s.Text
		}
		for _, m := range blamed(s.Text, touched) {
			rows[m].Blamed = append(rows[m].Blamed, name)
		}
	}
	out := make([]MethodStatus, 0, len(all))
	for _, m := range all {
		r := rows[m]
		switch {
		case unimpl[m]:
			r.Status = StatusUnimplemented
		case len(r.Blamed) > 0:
			r.Status = StatusFailing
		case r.Passed > 0:
			r.Status = StatusConformant
		default:
			r.Status = StatusUntested
		}
		out = append(out, *r)
	}
	return out
}

func blamed(text string, touched map[string]bool) []string {
	var named, all []string
	for m := range touched {
		all = append(all, m)
		short := m[strings.LastIndex(m, "/")+1:]
		if short != "" && regexp.MustCompile(`\b`+regexp.QuoteMeta(short)+`\b`).MatchString(text) {
			named = append(named, m)
		}
	}
	if len(named) == 0 {
		named = all
	}
	slices.Sort(named)
	return named
}

// WriteMethodTable prints rows as an aligned table with a summary line.
func WriteMethodTable(w io.Writer, rows []MethodStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "METHOD\tSTATUS\tPASS\tFAIL\tBLAMED BY")
	counts := map[string]int{}
	for _, r := range rows {
		counts[r.Status]++
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", r.Method, r.Status, r.Passed, r.Failed, strings.Join(r.Blamed, " "))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write method table: %w", err)
	}
	_, err := fmt.Fprintf(w, "%d methods: %d %s, %d %s, %d %s, %d %s, %d %s\n", len(rows),
		counts[StatusConformant], StatusConformant, counts[StatusFailing], StatusFailing,
		counts[StatusUnimplemented], StatusUnimplemented, counts[StatusUnreachable], StatusUnreachable,
		counts[StatusUntested], StatusUntested)
	if err != nil {
		return fmt.Errorf("write method table: %w", err)
	}
	return nil
}
