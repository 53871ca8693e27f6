package replay

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recording"
)

func TestDiffJSON(t *testing.T) {
	rec := json.RawMessage(`{"id":"AQ==","height":"3","handlers":[{"prefix":"/rpc","server_addr":"addr:handler:/rpc"}],"err":"ERROR_NOT_FOUND"}`)
	got := json.RawMessage(`{"id":"Ag==","height":"3","handlers":[{"prefix":"/rpc","server_addr":"127.0.0.1:9"}]}`)
	diffs, err := diffJSON(rec, got)
	if err != nil {
		t.Fatal(err)
	}
	want := [][3]string{{"err", `"ERROR_NOT_FOUND"`, "(absent)"}, {"id", `"AQ=="`, `"Ag=="`}}
	if len(diffs) != len(want) || diffs[0] != want[0] || diffs[1] != want[1] {
		t.Fatalf("diffs %v, want %v (server_addr never compared)", diffs, want)
	}
	if _, err := diffJSON(json.RawMessage(`{`), got); err == nil {
		t.Fatal("bad JSON must fail")
	}
}

func TestOverlaps(t *testing.T) {
	end := func(n int64) *int64 { return &n }
	wait := &recording.Call{StartNS: 10, EndNS: end(50)}
	later := []*recording.Call{{StartNS: 20, EndNS: end(30)}}
	if !overlaps(wait, later) {
		t.Fatal("a call still running when a later one started overlaps")
	}
	if overlaps(&recording.Call{StartNS: 10, EndNS: end(15)}, later) {
		t.Fatal("a call that ended first does not overlap")
	}
	if !overlaps(&recording.Call{StartNS: 10, EndNS: end(15), Code: "Canceled"}, later) {
		t.Fatal("a call the caller cancelled is issued asynchronously")
	}
	if !overlaps(&recording.Call{StartNS: 10, Pending: true}, nil) {
		t.Fatal("a pending call always overlaps")
	}
}

func TestDisplay(t *testing.T) {
	id := `"` + strings.Repeat("A", 43) + `="` // 32 zero bytes
	if got := display(id); got != "id:11111111111111111111111111111111LpoYY" {
		t.Fatalf("display(%s) = %s", id, got)
	}
	if got := display(`"refvm"`); got != `"refvm"` {
		t.Fatalf("got %s", got)
	}
}

func TestHeaderSet(t *testing.T) {
	a := json.RawMessage(`{"code":200,"headers":[{"key":"Vary","values":["Origin"]},{"key":"Content-Type","values":["application/json"]}],"body":"e30="}`)
	b := json.RawMessage(`{"code":200,"headers":[{"key":"Content-Type","values":["application/json"]},{"key":"Vary","values":["Origin"]}],"body":"e30="}`)
	if diffs, err := diffJSON(headerSet(a), headerSet(b)); err != nil || len(diffs) != 0 {
		t.Fatalf("the same headers in another order: %v %v", diffs, err)
	}
	c := json.RawMessage(`{"code":200,"headers":[{"key":"Vary","values":["Accept","Origin"]},{"key":"Content-Type","values":["application/json"]}],"body":"e30="}`)
	diffs, err := diffJSON(headerSet(a), headerSet(c))
	want := [][3]string{{"headers.Vary[0]", `"Origin"`, `"Accept"`}, {"headers.Vary[1]", "(absent)", `"Origin"`}}
	if err != nil || len(diffs) != 2 || diffs[0] != want[0] || diffs[1] != want[1] {
		t.Fatalf("a key's values compare in order: got %v %v, want %v", diffs, err, want)
	}
	dup := headerSet(json.RawMessage(`{"headers":[{"key":"A","values":["1"]},{"key":"A","values":["2"]}]}`))
	if string(dup) != `{"headers":{"A":["1","2"]}}` {
		t.Fatalf("a key listed twice keeps both lists in order: %s", dup)
	}
	for _, odd := range []string{`{"code":200}`, `{"headers":"x"}`, `[`} {
		if got := string(headerSet(json.RawMessage(odd))); got != odd {
			t.Fatalf("headerSet(%s) = %s, want it unchanged", odd, got)
		}
	}
}

func TestDisplayFieldBody(t *testing.T) {
	if got := displayField(handleSimpleMethod, "body", `"eyJhIjoxfQ=="`); got != `"{\"a\":1}"` {
		t.Fatalf("got %s", got)
	}
	if got := displayField(handleSimpleMethod, "body", `"/w=="`); got != `"/w=="` {
		t.Fatalf("a body that is not UTF-8 stays base64: %s", got)
	}
}
