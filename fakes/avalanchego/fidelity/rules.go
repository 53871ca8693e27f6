package fidelity

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Rules is the rule file derived from the committed AvalancheGo v1.14.2
// recordings (rules.txt in this package).
//
//go:embed rules.txt
var Rules string

// RulesFile is the name parse errors and violations give the embedded rules.
const RulesFile = "rules.txt"

// Scope says which sessions a rule applies to.
type Scope string

// The scopes.
const (
	ScopePreInit Scope = "preinit" // no vm.VM/Initialize: the node's start-up check
	ScopeChain   Scope = "chain"   // a vm.VM/Initialize
	ScopeNormal  Scope = "normal"  // a chain that reached SetState(STATE_NORMAL_OP)
	ScopeAll     Scope = "all"
)

// Kind is what a rule checks.
type Kind string

// The rule kinds (see the package documentation).
const (
	KindOnce     Kind = "once"
	KindNever    Kind = "never"
	KindRepeats  Kind = "repeats"
	KindFirst    Kind = "first"
	KindOnly     Kind = "only"
	KindBefore   Kind = "before"
	KindThen     Kind = "then"
	KindLast     Kind = "last"
	KindOpenAt   Kind = "open-at"
	KindClosedAt Kind = "closed-at"
	KindField    Kind = "field"
)

// Field operators.
const (
	OpEqual   = "="
	OpMatch   = "~"
	OpPresent = "present"
	OpAbsent  = "absent"
	OpSeq     = "seq"
)

// Rule is one line of a rule file.
type Rule struct {
	File string // where it was read from
	Line int    // 1-based
	Text string // the rule as written, without its comment

	Scope    Scope
	Protocol uint // 0: any; else only sessions of this plugin protocol
	Kind     Kind
	Calls    []Selector // the selectors the kind takes (for last: A, then the exceptions)

	// field rules
	Path   string
	Op     string
	Values []string
	re     *regexp.Regexp

	// KnownDifference is the fidelity ledger id of a difference the fake
	// node is known to have ("" for none).
	KnownDifference string
}

// String is where the rule is and what it says.
func (r *Rule) String() string { return fmt.Sprintf("%s:%d `%s`", r.File, r.Line, r.Text) }

// Selector picks calls by method and, optionally, one field value.
type Selector struct {
	Text   string // as written
	method string // full method, or "" when svc/name are used
	svc    string // service name without package ("VM", "HTTP")
	name   string // method name
	path   string // filter field, "" for none
	value  string
	re     *regexp.Regexp // [path~re] filters
}

// ParseError is a rule file error with its line.
type ParseError struct {
	File string
	Line int
	Err  error
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *ParseError) Unwrap() error { return e.Err }

// Parse reads a rule file; name is used in errors and in each Rule.
func Parse(name string, r io.Reader) ([]Rule, error) {
	var rules []Rule
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		text, _, _ := strings.Cut(sc.Text(), "#")
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		rule, err := parseRule(strings.Fields(text))
		if err != nil {
			return nil, &ParseError{File: name, Line: n, Err: err}
		}
		rule.File, rule.Line, rule.Text = name, n, strings.Join(strings.Fields(text), " ")
		rules = append(rules, rule)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(rules) == 0 {
		return nil, fmt.Errorf("%s: no rules", name)
	}
	return rules, nil
}

// ParseString parses rules held in a string.
func ParseString(name, text string) ([]Rule, error) { return Parse(name, strings.NewReader(text)) }

func parseRule(f []string) (Rule, error) {
	var r Rule
	// Trailing clauses first: known-difference <id>, when protocol <n>.
	if len(f) >= 2 && f[len(f)-2] == "known-difference" {
		r.KnownDifference = f[len(f)-1]
		f = f[:len(f)-2]
	} else if len(f) >= 1 && f[len(f)-1] == "known-difference" {
		return r, fmt.Errorf("known-difference needs a ledger id (docs/FIDELITY.md)")
	}
	if len(f) >= 3 && f[len(f)-3] == "when" {
		if f[len(f)-2] != "protocol" {
			return r, fmt.Errorf("when %q: only \"when protocol <n>\" is known", f[len(f)-2])
		}
		p, err := strconv.ParseUint(f[len(f)-1], 10, 32)
		if err != nil || p == 0 {
			return r, fmt.Errorf("when protocol %q: want a protocol number > 0", f[len(f)-1])
		}
		r.Protocol = uint(p)
		f = f[:len(f)-3]
	}
	for _, w := range f {
		if w == "when" || w == "known-difference" {
			return r, fmt.Errorf("%q must end the rule: [when protocol <n>] [known-difference <id>]", w)
		}
	}
	if len(f) < 2 {
		return r, fmt.Errorf("want <scope> <kind> <arguments>, got %q", strings.Join(f, " "))
	}
	switch s := Scope(f[0]); s {
	case ScopePreInit, ScopeChain, ScopeNormal, ScopeAll:
		r.Scope = s
	default:
		return r, fmt.Errorf("unknown scope %q (want preinit, chain, normal or all)", f[0])
	}
	r.Kind = Kind(f[1])
	args := f[2:]
	want := func(n int, shape string) error {
		if len(args) != n {
			return fmt.Errorf("%s takes %s, got %d argument(s)", r.Kind, shape, len(args))
		}
		return nil
	}
	var err error
	switch r.Kind {
	case KindOnce, KindNever, KindRepeats, KindFirst:
		if err = want(1, "one call"); err != nil {
			return r, err
		}
	case KindBefore, KindOpenAt, KindClosedAt:
		if err = want(2, "two calls (A B)"); err != nil {
			return r, err
		}
	case KindOnly:
		if len(args) == 0 {
			return r, fmt.Errorf("only takes one call or more")
		}
	case KindThen:
		if len(args) < 2 {
			return r, fmt.Errorf("then takes two calls or more (A B ...)")
		}
	case KindLast:
		if len(args) == 0 || (len(args) > 1 && (args[1] != "except" || len(args) == 2)) {
			return r, fmt.Errorf("last takes a call, optionally followed by \"except\" and calls")
		}
		if len(args) > 1 {
			args = append([]string{args[0]}, args[2:]...)
		}
	case KindField:
		return parseField(r, args)
	default:
		return r, fmt.Errorf("unknown rule kind %q (want once, never, repeats, first, only, before, then, last, open-at, closed-at or field)", f[1])
	}
	for _, a := range args {
		sel, err := parseSelector(a)
		if err != nil {
			return r, err
		}
		r.Calls = append(r.Calls, sel)
	}
	return r, nil
}

func parseField(r Rule, args []string) (Rule, error) {
	if len(args) < 3 {
		return r, fmt.Errorf("field takes: <call> <path> (= <value> | ~ <regexp> | present | absent | seq <value> ...)")
	}
	sel, err := parseSelector(args[0])
	if err != nil {
		return r, err
	}
	r.Calls = []Selector{sel}
	if err := checkPath(args[1]); err != nil {
		return r, err
	}
	r.Path, r.Op, r.Values = args[1], args[2], args[3:]
	switch r.Op {
	case OpEqual:
		if len(r.Values) != 1 {
			return r, fmt.Errorf("field ... = takes one value, got %d", len(r.Values))
		}
	case OpMatch:
		if len(r.Values) != 1 {
			return r, fmt.Errorf("field ... ~ takes one regular expression, got %d words", len(r.Values))
		}
		if r.re, err = regexp.Compile(r.Values[0]); err != nil {
			return r, fmt.Errorf("field ... ~: %w", err)
		}
	case OpPresent, OpAbsent:
		if len(r.Values) != 0 {
			return r, fmt.Errorf("field ... %s takes no value", r.Op)
		}
	case OpSeq:
		if len(r.Values) == 0 {
			return r, fmt.Errorf("field ... seq takes one value or more")
		}
	default:
		return r, fmt.Errorf("unknown field operator %q (want =, ~, present, absent or seq)", r.Op)
	}
	return r, nil
}

var nameRE = regexp.MustCompile(`^(?:/[A-Za-z0-9_.]+/[A-Za-z0-9_]+|(?:[A-Za-z0-9_]+/)?[A-Za-z0-9_]+)$`)

func parseSelector(s string) (Selector, error) {
	sel := Selector{Text: s}
	name := s
	if i := strings.IndexByte(s, '['); i >= 0 {
		if !strings.HasSuffix(s, "]") {
			return sel, fmt.Errorf("call %q: a filter is [path=value]", s)
		}
		name = s[:i]
		filter := s[i+1 : len(s)-1]
		j := strings.IndexAny(filter, "=~")
		if j <= 0 || j == len(filter)-1 {
			return sel, fmt.Errorf("call %q: a filter is [path=value] or [path~regexp]", s)
		}
		path, value := filter[:j], filter[j+1:]
		if err := checkPath(path); err != nil {
			return sel, fmt.Errorf("call %q: %w", s, err)
		}
		sel.path, sel.value = path, value
		if filter[j] == '~' {
			re, err := regexp.Compile(value)
			if err != nil {
				return sel, fmt.Errorf("call %q: %w", s, err)
			}
			sel.re = re
		}
	}
	if !nameRE.MatchString(name) {
		return sel, fmt.Errorf("call %q: want Method, Service/Method or /package.Service/Method", s)
	}
	switch {
	case strings.HasPrefix(name, "/"):
		sel.method = name
	case strings.Contains(name, "/"):
		sel.svc, sel.name, _ = strings.Cut(name, "/")
	default:
		sel.svc, sel.name = "VM", name
	}
	return sel, nil
}

func checkPath(p string) error {
	root, _, _ := strings.Cut(p, ".")
	switch root {
	case "request", "response":
		return nil
	case "code", "endpoint":
		if root == p {
			return nil
		}
	}
	return fmt.Errorf("field path %q: want request.<field>..., response.<field>..., code or endpoint", p)
}
