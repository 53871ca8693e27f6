package replay

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ava-labs/avalanchego/ids"
)

const (
	shutdownMethod     = "/vm.VM/Shutdown"
	handleSimpleMethod = "/http.HTTP/HandleSimple"
)

// Difference is one field whose replayed value differs from the recorded one.
type Difference struct {
	Session  string
	Seq      int    // the recorded call's seq
	Method   string // full gRPC method
	Field    string // protojson path, "code", or "result"
	Recorded string
	Got      string
}

// flatten turns a JSON object into path -> JSON-encoded leaf value.
func flatten(b json.RawMessage) (map[string]string, error) {
	out := map[string]string{}
	if len(b) == 0 {
		return out, nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	walk("", v, out)
	return out, nil
}

func walk(path string, v any, out map[string]string) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			p := k
			if path != "" {
				p = path + "." + k
			}
			walk(p, e, out)
		}
	case []any:
		for i, e := range t {
			walk(fmt.Sprintf("%s[%d]", path, i), e, out)
		}
	default:
		b, _ := json.Marshal(t)
		out[path] = string(b)
	}
}

// ignoredField: addresses change with every run.
func ignoredField(path string) bool {
	last := path[strings.LastIndexAny(path, ".]")+1:]
	return last == "server_addr" || last == "db_server_addr"
}

// diffJSON compares two protojson objects field by field.
func diffJSON(recorded, got json.RawMessage) ([][3]string, error) {
	r, err := flatten(recorded)
	if err != nil {
		return nil, fmt.Errorf("recorded response: %w", err)
	}
	g, err := flatten(got)
	if err != nil {
		return nil, fmt.Errorf("replayed response: %w", err)
	}
	keys := map[string]bool{}
	for k := range r {
		keys[k] = true
	}
	for k := range g {
		keys[k] = true
	}
	var out [][3]string
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if ignoredField(k) {
			continue
		}
		rv, rok := r[k]
		gv, gok := g[k]
		if !rok {
			rv = "(absent)"
		}
		if !gok {
			gv = "(absent)"
		}
		if rv != gv {
			out = append(out, [3]string{k, rv, gv})
		}
	}
	return out, nil
}

// display renders a compared value for people: a JSON string holding the
// base64 of 32 bytes as an avalanchego id (cb58), of 20 bytes as a node id.
func display(v string) string {
	var s string
	if json.Unmarshal([]byte(v), &s) != nil {
		return v
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return v
	}
	switch len(b) {
	case ids.IDLen:
		return "id:" + ids.ID(b).String()
	case ids.NodeIDLen:
		return ids.NodeID(b).String()
	}
	return v
}

// headerSet rewrites a HandleSimple response's headers, a list of
// {key, values} in the order the plugin's handler ranged over its Go map
// (random from run to run), into an object key -> values: headers compare
// as a set, each key's values in order (headers.Content-Type[0]). A key
// listed twice keeps both lists, in order. Anything unexpected is left as is.
func headerSet(b json.RawMessage) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil || m["headers"] == nil {
		return b
	}
	var list []struct {
		Key    string            `json:"key"`
		Values []json.RawMessage `json:"values"`
	}
	if json.Unmarshal(m["headers"], &list) != nil {
		return b
	}
	set := map[string][]json.RawMessage{}
	for _, h := range list {
		set[h.Key] = append(set[h.Key], h.Values...)
	}
	hb, err := json.Marshal(set)
	if err != nil {
		return b
	}
	m["headers"] = hb
	out, err := json.Marshal(m)
	if err != nil {
		return b
	}
	return out
}

// displayField renders a compared value: an HTTP body as its text when it
// is UTF-8, anything else as display does.
func displayField(method, path, v string) string {
	if method == handleSimpleMethod && path == "body" {
		var s string
		if json.Unmarshal([]byte(v), &s) == nil {
			if b, err := base64.StdEncoding.DecodeString(s); err == nil && utf8.Valid(b) {
				return strconv.Quote(string(b))
			}
		}
	}
	return display(v)
}
