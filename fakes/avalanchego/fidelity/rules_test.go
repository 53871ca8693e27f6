package fidelity_test

import (
	"strings"
	"testing"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/fidelity"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recording"
)

func TestParseEmbeddedRules(t *testing.T) {
	rules, err := fidelity.ParseString(fidelity.RulesFile, fidelity.Rules)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) < 40 {
		t.Fatalf("%d rules", len(rules))
	}
	for _, r := range rules {
		if r.File != fidelity.RulesFile || r.Line == 0 || r.Text == "" || strings.Contains(r.Text, "#") {
			t.Errorf("rule %+v", r)
		}
	}
}

func TestParseClauses(t *testing.T) {
	rules, err := fidelity.ParseString("t.txt", `
# comment
chain field Connected request.minor = 14 when protocol 45 known-difference AG-9  # trailing
normal last Shutdown except WaitForEvent Health
all before SetState[request.state=STATE_NORMAL_OP] HTTP/HandleSimple
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 3 {
		t.Fatalf("%d rules", len(rules))
	}
	r := rules[0]
	if r.Line != 3 || r.Scope != fidelity.ScopeChain || r.Kind != fidelity.KindField || r.Protocol != 45 ||
		r.KnownDifference != "AG-9" || r.Path != "request.minor" || r.Op != "=" || len(r.Values) != 1 || r.Values[0] != "14" {
		t.Fatalf("%+v", r)
	}
	if r.Text != "chain field Connected request.minor = 14 when protocol 45 known-difference AG-9" {
		t.Fatalf("text %q", r.Text)
	}
	if len(rules[1].Calls) != 3 || rules[1].Calls[2].Text != "Health" {
		t.Fatalf("last except: %+v", rules[1].Calls)
	}
}

// Every malformed line is refused with its line number and what is wrong.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"", "no rules"},
		{"# only a comment", "no rules"},
		{"chain", "want <scope> <kind>"},
		{"node once Initialize", `unknown scope "node"`},
		{"chain twice Initialize", `unknown rule kind "twice"`},
		{"chain once", "once takes one call, got 0"},
		{"chain once A B", "once takes one call, got 2"},
		{"chain before A", "before takes two calls"},
		{"chain then A", "then takes two calls or more"},
		{"chain only", "only takes one call or more"},
		{"chain last A B", "except"},
		{"chain last A except", "except"},
		{"chain once vm.VM.Initialize", "want Method, Service/Method or /package.Service/Method"},
		{"chain once SetState[state]", "a filter is [path=value]"},
		{"chain once SetState[request.state=]", "a filter is [path=value]"},
		{"chain once SetState[request.state~(]", "error parsing regexp"},
		{"chain once SetState[state=X]", `field path "state"`},
		{"chain once SetState[request.state=X", "a filter is [path=value]"},
		{"chain field SetState", "field takes"},
		{"chain field SetState request.state == X", `unknown field operator "=="`},
		{"chain field SetState request.state = X Y", "= takes one value"},
		{"chain field SetState request.state ~ (", "error parsing regexp"},
		{"chain field SetState request.state present X", "present takes no value"},
		{"chain field SetState request.state seq", "seq takes one value or more"},
		{"chain field SetState state present", `field path "state"`},
		{"chain field SetState code.x present", `field path "code.x"`},
		{"chain once Initialize known-difference", "needs a ledger id"},
		{"chain once Initialize when version 45", `only "when protocol <n>"`},
		{"chain once Initialize when protocol x", "want a protocol number"},
		{"chain once Initialize known-difference AG-1 when protocol 45", "must end the rule"},
	} {
		_, err := fidelity.ParseString("r.txt", "\n"+tc.text+"\n")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.text, err, tc.want)
			continue
		}
		if tc.want != "no rules" && !strings.HasPrefix(err.Error(), "r.txt:2: ") {
			t.Errorf("%q: error %q does not name the line", tc.text, err)
		}
	}
}

// session builds a session from "method start end code request" rows;
// seq is the row order, end -1 means pending.
func session(protocol uint, rows ...string) *recording.Session {
	s := &recording.Session{Name: "synthetic.jsonl", Header: recording.Header{Protocol: protocol}}
	for i, row := range rows {
		f := strings.SplitN(row, " ", 5)
		var start, end int64
		mustScan(f[1], &start)
		mustScan(f[2], &end)
		c := recording.Call{Kind: recording.KindCall, Seq: i + 1, ID: f[0], Dir: recording.NodeToPlugin, Endpoint: "vm", StartNS: start}
		c.Method = f[0]
		if !strings.HasPrefix(c.Method, "/") {
			c.Method = "/vm.VM/" + c.Method
		}
		if strings.HasPrefix(c.Method, "/rpcdb.") {
			c.Dir = recording.PluginToNode
		}
		if end >= 0 {
			c.EndNS, c.Code = &end, f[3]
		} else {
			c.Pending = true
		}
		if len(f) == 5 {
			if strings.HasPrefix(f[4], "resp:") {
				c.Response = []byte(strings.TrimPrefix(f[4], "resp:"))
			} else {
				c.Request = []byte(f[4])
			}
		}
		s.Calls = append(s.Calls, c)
	}
	return s
}

func mustScan(s string, v *int64) {
	var n int64
	neg := strings.HasPrefix(s, "-")
	for _, r := range strings.TrimPrefix(s, "-") {
		n = n*10 + int64(r-'0')
	}
	if neg {
		n = -n
	}
	*v = n
}

// A chain that bootstraps, builds one block and stops as the real node does.
var goodChain = []string{
	`Initialize 10 20 OK {"network_id":5}`,
	`CreateHandlers 21 22 OK`,
	`SetState 23 24 OK {"state":"STATE_BOOTSTRAPPING"}`,
	`WaitForEvent 25 40 Canceled`,
	`Connected 26 27 OK {"name":"avalanchego","minor":14}`,
	`SetPreference 30 31 OK {"id":"AA=="}`,
	`SetState 41 42 OK {"state":"STATE_NORMAL_OP"}`,
	`WaitForEvent 43 50 OK resp:{"message":"MESSAGE_BUILD_BLOCK"}`,
	`BuildBlock 51 52 OK`,
	`BlockVerify 53 54 OK`,
	`SetPreference 55 56 OK {"id":"AQ=="}`,
	`ParseBlock 57 58 OK`,
	`WaitForEvent 57 70 Canceled`,
	`BlockAccept 59 60 OK`,
	`/rpcdb.Database/Get 59 60 OK`,
	`Shutdown 71 72 OK`,
}

func TestCheckKinds(t *testing.T) {
	for _, tc := range []struct {
		rule string
		rows []string // nil: goodChain
		want string   // "" holds; else part of the error
		// witnessed is whether the rule had something to check.
		unwitnessed bool
	}{
		{rule: "chain once Initialize"},
		{rule: "chain once SetPreference", want: "2 SetPreference calls, want exactly one: SetPreference (seq 6, +0.000ms) SetPreference (seq 11"},
		{rule: "chain never Version"},
		{rule: "chain never BuildBlock", want: "1 BuildBlock calls, want none"},
		{rule: "chain repeats WaitForEvent"},
		{rule: "chain repeats BuildBlock", want: "1 BuildBlock calls, want two or more"},
		{rule: "chain first Initialize"},
		{rule: "chain first CreateHandlers", want: "the first call is Initialize (seq 1"},
		{rule: "chain only Initialize CreateHandlers SetState WaitForEvent Connected SetPreference BuildBlock BlockVerify ParseBlock BlockAccept Shutdown"},
		{rule: "chain only Initialize", want: "CreateHandlers (seq 2, +0.000ms) is none of Initialize"},
		{rule: "chain before Initialize CreateHandlers"},
		{rule: "chain before CreateHandlers Initialize", want: "CreateHandlers (seq 2, +0.000ms) starts after the first Initialize, Initialize (seq 1"},
		{rule: "chain before Version Initialize", unwitnessed: true},
		{rule: "chain before SetState[request.state=STATE_BOOTSTRAPPING] SetPreference"},
		{rule: "chain before SetState[request.state=STATE_NORMAL_OP] SetPreference", want: "SetState (seq 7"},
		{rule: "chain then BuildBlock BlockVerify SetPreference ParseBlock BlockAccept"},
		{rule: "chain then BuildBlock BlockVerify ParseBlock SetPreference", want: "after BuildBlock (seq 9, +0.000ms) (then BlockVerify, ParseBlock, SetPreference): no SetPreference after ParseBlock (seq 12"},
		{rule: "chain then BuildBlock GetBlock", want: "no GetBlock after BuildBlock"},
		{rule: "chain then Version GetBlock", unwitnessed: true},
		{rule: "chain last Shutdown"},
		{rule: "chain last BlockAccept", want: "Shutdown (seq 16, +0.000ms) starts after BlockAccept (seq 14"},
		{rule: "chain last BlockAccept except Shutdown"},
		{rule: "chain open-at WaitForEvent SetPreference"},
		{rule: "chain open-at WaitForEvent BuildBlock", want: "no WaitForEvent open when BuildBlock (seq 9, +0.000ms) starts (the last, WaitForEvent (seq 8, +0.000ms), ended OK at +0.000ms)"},
		{rule: "chain open-at WaitForEvent Initialize", want: "none had started"},
		{rule: "chain closed-at WaitForEvent SetState[request.state=STATE_NORMAL_OP]"},
		{rule: "chain closed-at WaitForEvent Shutdown"},
		{rule: "chain closed-at WaitForEvent BlockAccept", want: "WaitForEvent (seq 13, +0.000ms) is open when BlockAccept (seq 14, +0.000ms) starts (ends Canceled at +0.000ms)"},
		{rule: "chain closed-at WaitForEvent Initialize", unwitnessed: true},
		{rule: "chain closed-at WaitForEvent Shutdown", rows: append(append([]string{}, goodChain[:15]...), `WaitForEvent 70 -1 x`, `Shutdown 71 72 OK`),
			want: "still pending at the session's end"},
		{rule: "chain field Initialize request.network_id present"},
		{rule: "chain field Initialize request.network_id = 5"},
		{rule: "chain field Initialize request.network_id = 6", want: `request.network_id is "5", want "6"`},
		{rule: "chain field Initialize request.subnet_id present", want: "Initialize (seq 1, +0.000ms) has no request.subnet_id"},
		{rule: "chain field Initialize request.subnet_id absent"},
		{rule: "chain field Initialize request.network_id absent", want: `is "5", want it absent`},
		{rule: "chain field Connected request.name ~ ^avalanche(go)?$"},
		{rule: "chain field Connected request.name ~ ^coreth$", want: "want a match of ^coreth$"},
		{rule: "chain field SetState request.state seq STATE_BOOTSTRAPPING STATE_NORMAL_OP"},
		{rule: "chain field SetState request.state seq STATE_BOOTSTRAPPING", want: "[STATE_BOOTSTRAPPING STATE_NORMAL_OP], want [STATE_BOOTSTRAPPING]"},
		{rule: "chain field WaitForEvent[code=OK] response.message = MESSAGE_BUILD_BLOCK"},
		{rule: "chain once SetState[request.state~NORMAL]"},
		{rule: "chain once SetState[request.state~^STATE_]", want: "2 SetState[request.state~^STATE_] calls"},
		{rule: "chain never SetState[request.state~SYNC]"},
		{rule: "chain field WaitForEvent code = OK", want: `code is "Canceled"`},
		{rule: "chain field Version request.x present", unwitnessed: true},
		{rule: "chain field /rpcdb.Database/Get endpoint = vm"},
		{rule: "chain never Database/Get"}, // short selectors name node->plugin calls only
		{rule: "chain once Initialize when protocol 44", unwitnessed: true},
		{rule: "chain once Initialize when protocol 45"},
		{rule: "preinit once Version", unwitnessed: true},
		{rule: "normal once Initialize"},
		{rule: "normal once Initialize", rows: goodChain[:6], unwitnessed: true},
	} {
		rules, err := fidelity.ParseString("t.txt", tc.rule)
		if err != nil {
			t.Fatalf("%s: %v", tc.rule, err)
		}
		rows := tc.rows
		if rows == nil {
			rows = goodChain
		}
		res := fidelity.Check(rules, session(45, rows...))[0]
		switch {
		case tc.want == "" && res.Err != nil:
			t.Errorf("%s: %v", tc.rule, res.Err)
		case tc.want != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tc.want)):
			t.Errorf("%s: error %v, want it to contain %q", tc.rule, res.Err, tc.want)
		case tc.want != "" && !strings.HasPrefix(res.Err.Error(), "t.txt:1 `"+tc.rule+"` broken by session synthetic.jsonl: "):
			t.Errorf("%s: error %q does not name the rule and the session", tc.rule, res.Err)
		case res.Witnessed == tc.unwitnessed:
			t.Errorf("%s: witnessed %v, want %v", tc.rule, res.Witnessed, !tc.unwitnessed)
		}
	}
}
