package replay

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ava-labs/avalanchego/ids"
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

// subs maps recorded string values (base64 ids and bytes, timestamps) to
// their replayed stand-ins.
type subs map[string]string

// apply rewrites every JSON string value equal to a recorded value.
func (s subs) apply(b json.RawMessage) json.RawMessage {
	if len(s) == 0 || len(b) == 0 {
		return b
	}
	for _, old := range slices.Sorted(maps.Keys(s)) {
		o, _ := json.Marshal(old)
		n, _ := json.Marshal(s[old])
		b = bytes.ReplaceAll(b, o, n)
	}
	return b
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

// field reads one top-level string or number field of a protojson object.
func field(b json.RawMessage, name string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(m[name], &s) == nil {
		return s
	}
	return string(m[name])
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
