package fidelity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recording"
)

// Result is one rule on one session.
type Result struct {
	Rule    *Rule
	Session string // the session's name
	// Applies: the session is in the rule's scope (and protocol).
	Applies bool
	// Witnessed: the rule had something to check (see the package doc).
	Witnessed bool
	// Err says how the session breaks the rule; nil when it holds or does
	// not apply.
	Err error
}

// Check evaluates every rule on s, in rule order.
func Check(rules []Rule, s *recording.Session) []Result {
	v := newView(s)
	out := make([]Result, len(rules))
	for i := range rules {
		r := &rules[i]
		res := Result{Rule: r, Session: v.name}
		if v.inScope(r) {
			res.Applies = true
			var detail string
			res.Witnessed, detail = v.eval(r)
			if detail != "" {
				res.Err = fmt.Errorf("%s broken by session %s: %s", r, v.name, detail)
			}
		}
		out[i] = res
	}
	return out
}

// call is a recorded call with its body decoded once.
type call struct {
	*recording.Call
	start, end int64 // end = MaxInt64 while pending
	fields     map[string]any
}

func (c *call) String() string {
	return fmt.Sprintf("%s (seq %d, +%s)", c.MethodName(), c.Seq, ms(c.start))
}

func ms(ns int64) string { return fmt.Sprintf("%.3fms", float64(ns)/1e6) }

// view is a session as the rules see it: its node->plugin calls in start
// (seq) order, and every call for full-method selectors.
type view struct {
	name     string
	protocol uint
	all      []*call
	chain    bool
	normal   bool
}

func newView(s *recording.Session) *view {
	v := &view{name: s.Name, protocol: s.Header.Protocol}
	if v.name == "" {
		v.name = "(unnamed)"
	}
	for i := range s.Calls {
		rc := &s.Calls[i]
		c := &call{Call: rc, start: rc.StartNS, end: math.MaxInt64}
		if rc.EndNS != nil {
			c.end = *rc.EndNS
		}
		c.fields = map[string]any{}
		for _, b := range []struct {
			key string
			raw json.RawMessage
		}{{"request", rc.Request}, {"response", rc.Response}} {
			if len(b.raw) == 0 {
				continue
			}
			d := json.NewDecoder(bytes.NewReader(b.raw))
			d.UseNumber()
			var m any
			if d.Decode(&m) == nil {
				c.fields[b.key] = m
			}
		}
		v.all = append(v.all, c)
	}
	slices.SortStableFunc(v.all, func(a, b *call) int { return a.Seq - b.Seq })
	v.chain = s.IsChain()
	normalOp := mustSelector("SetState[request.state=STATE_NORMAL_OP]")
	v.normal = v.chain && len(v.matching(normalOp)) > 0
	return v
}

func mustSelector(s string) Selector {
	sel, err := parseSelector(s)
	if err != nil {
		panic(err)
	}
	return sel
}

func (v *view) inScope(r *Rule) bool {
	if r.Protocol != 0 && r.Protocol != v.protocol {
		return false
	}
	switch r.Scope {
	case ScopePreInit:
		return !v.chain
	case ScopeChain:
		return v.chain
	case ScopeNormal:
		return v.normal
	}
	return true
}

// nodeCalls are the calls the node made, in start order.
func (v *view) nodeCalls() []*call {
	var out []*call
	for _, c := range v.all {
		if c.Dir == recording.NodeToPlugin {
			out = append(out, c)
		}
	}
	return out
}

func (sel Selector) matches(c *call) bool {
	if sel.method != "" {
		if c.Method != sel.method {
			return false
		}
	} else {
		svc := c.Service()
		if i := strings.LastIndexByte(svc, '.'); i >= 0 {
			svc = svc[i+1:]
		}
		if c.Dir != recording.NodeToPlugin || svc != sel.svc || c.MethodName() != sel.name {
			return false
		}
	}
	if sel.path == "" {
		return true
	}
	got, ok := c.field(sel.path)
	if sel.re != nil {
		return ok && sel.re.MatchString(got)
	}
	return ok && got == sel.value
}

func (v *view) matching(sel Selector) []*call {
	var out []*call
	for _, c := range v.all {
		if sel.matches(c) {
			out = append(out, c)
		}
	}
	return out
}

// field is the value at a dotted path, rendered as the rules write values.
func (c *call) field(path string) (string, bool) {
	switch path {
	case "code":
		if c.Pending {
			return "pending", true
		}
		return c.Code, true
	case "endpoint":
		return c.Endpoint, true
	}
	parts := strings.Split(path, ".")
	cur, ok := c.fields[parts[0]]
	if !ok {
		return "", false
	}
	for _, p := range parts[1:] {
		m, isMap := cur.(map[string]any)
		if !isMap {
			return "", false
		}
		if cur, ok = m[p]; !ok {
			return "", false
		}
	}
	switch x := cur.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return fmt.Sprint(x), true
	case nil:
		return "", false
	}
	b, _ := json.Marshal(cur)
	return string(b), true
}

// eval checks r on v; detail is "" when the rule holds.
func (v *view) eval(r *Rule) (witnessed bool, detail string) {
	a := v.matching(r.Calls[0])
	switch r.Kind {
	case KindOnce:
		if len(a) != 1 {
			return true, fmt.Sprintf("%d %s calls, want exactly one%s", len(a), r.Calls[0].Text, list(a))
		}
	case KindNever:
		if len(a) != 0 {
			return true, fmt.Sprintf("%d %s calls, want none%s", len(a), r.Calls[0].Text, list(a))
		}
	case KindRepeats:
		if len(a) < 2 {
			return true, fmt.Sprintf("%d %s calls, want two or more", len(a), r.Calls[0].Text)
		}
	case KindFirst:
		nc := v.nodeCalls()
		if len(nc) == 0 || !r.Calls[0].matches(nc[0]) {
			first := "no call"
			if len(nc) > 0 {
				first = nc[0].String()
			}
			return true, fmt.Sprintf("the first call is %s, want %s", first, r.Calls[0].Text)
		}
	case KindOnly:
		for _, c := range v.nodeCalls() {
			if !slices.ContainsFunc(r.Calls, func(s Selector) bool { return s.matches(c) }) {
				return true, fmt.Sprintf("%s is none of %s", c, selectors(r.Calls))
			}
		}
	case KindBefore:
		return v.before(r, a)
	case KindThen:
		return v.then(r, a)
	case KindLast:
		return v.last(r, a)
	case KindOpenAt, KindClosedAt:
		return v.openAt(r, a)
	case KindField:
		return v.field(r, a)
	}
	return true, ""
}

func (v *view) before(r *Rule, a []*call) (bool, string) {
	b := v.matching(r.Calls[1])
	if len(a) == 0 || len(b) == 0 {
		return false, ""
	}
	for _, x := range a {
		if x.Seq > b[0].Seq {
			return true, fmt.Sprintf("%s starts after the first %s, %s", x, r.Calls[1].Text, b[0])
		}
	}
	return true, ""
}

func (v *view) then(r *Rule, a []*call) (bool, string) {
	witnessed := false
	for i, x := range a {
		if !x.OK() {
			continue
		}
		witnessed = true
		nextSeq := math.MaxInt
		if i+1 < len(a) {
			nextSeq = a[i+1].Seq
		}
		prev := x
		for _, sel := range r.Calls[1:] {
			var found *call
			for _, c := range v.all {
				if c.Seq > prev.Seq && c.start >= prev.end && sel.matches(c) {
					found = c
					break
				}
			}
			if found == nil || found.Seq > nextSeq {
				where := "before the session ends"
				if nextSeq != math.MaxInt {
					where = "before the next " + a[i+1].String()
				}
				return true, fmt.Sprintf("after %s (then %s): no %s after %s ended, %s", x, selectors(r.Calls[1:]), sel.Text, prev, where)
			}
			prev = found
		}
	}
	return witnessed, ""
}

func (v *view) last(r *Rule, a []*call) (bool, string) {
	if len(a) == 0 {
		return false, ""
	}
	for _, c := range v.nodeCalls() {
		if c.Seq <= a[0].Seq || slices.ContainsFunc(r.Calls[1:], func(s Selector) bool { return s.matches(c) }) {
			continue
		}
		return true, fmt.Sprintf("%s starts after %s", c, a[0])
	}
	return true, ""
}

func (v *view) openAt(r *Rule, a []*call) (bool, string) {
	b := v.matching(r.Calls[1])
	if len(b) == 0 {
		return false, ""
	}
	at := b[0]
	var started, open []*call
	for _, x := range a {
		if x.Seq < at.Seq {
			started = append(started, x)
			if x.end > at.start {
				open = append(open, x)
			}
		}
	}
	if r.Kind == KindOpenAt {
		if len(open) == 0 {
			last := "none had started"
			if len(started) > 0 {
				l := started[len(started)-1]
				last = fmt.Sprintf("the last, %s, ended %s at +%s", l, l.Code, ms(l.end))
			}
			return true, fmt.Sprintf("no %s open when %s starts (%s)", r.Calls[0].Text, at, last)
		}
		return true, ""
	}
	if len(started) == 0 {
		return false, ""
	}
	if len(open) > 0 {
		end := "still pending at the session's end"
		if !open[0].Pending {
			end = fmt.Sprintf("ends %s at +%s", open[0].Code, ms(open[0].end))
		}
		return true, fmt.Sprintf("%s is open when %s starts (%s)", open[0], at, end)
	}
	return true, ""
}

func (v *view) field(r *Rule, a []*call) (bool, string) {
	if r.Op == OpSeq {
		var got []string
		for _, c := range a {
			val, ok := c.field(r.Path)
			if !ok {
				val = "(absent)"
			}
			got = append(got, val)
		}
		if !slices.Equal(got, r.Values) {
			return true, fmt.Sprintf("%s %s in order: %v, want %v", r.Calls[0].Text, r.Path, got, r.Values)
		}
		return true, ""
	}
	for _, c := range a {
		val, ok := c.field(r.Path)
		switch {
		case r.Op == OpAbsent:
			if ok {
				return true, fmt.Sprintf("%s: %s is %q, want it absent (the default value)", c, r.Path, val)
			}
		case !ok:
			return true, fmt.Sprintf("%s has no %s", c, r.Path)
		case r.Op == OpEqual && val != r.Values[0]:
			return true, fmt.Sprintf("%s: %s is %q, want %q", c, r.Path, val, r.Values[0])
		case r.Op == OpMatch && !r.re.MatchString(val):
			return true, fmt.Sprintf("%s: %s is %q, want a match of %s", c, r.Path, val, r.Values[0])
		}
	}
	return len(a) > 0, ""
}

func list(cs []*call) string {
	if len(cs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(":")
	for i, c := range cs {
		if i == 4 {
			fmt.Fprintf(&b, " and %d more", len(cs)-i)
			break
		}
		b.WriteString(" " + c.String())
	}
	return b.String()
}

func selectors(s []Selector) string {
	var names []string
	for _, x := range s {
		names = append(names, x.Text)
	}
	return strings.Join(names, ", ")
}
