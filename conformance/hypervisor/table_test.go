package hypervisor

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vmtestbed/vmtestbed/conformance/report"
)

func TestMethodTable(t *testing.T) {
	p := &Probe{}
	for _, m := range Methods() {
		c := Implemented
		switch {
		case strings.HasPrefix(m, svcStorage):
			c = Unimplemented
		case strings.HasPrefix(m, svcAgent):
			c = Unreachable
		}
		p.Results = append(p.Results, ProbeResult{Method: m, Class: c})
	}
	calls := func(ms ...string) []report.Call {
		var out []report.Call
		for _, m := range ms {
			out = append(out, report.Call{Method: m, Code: "OK"})
		}
		return out
	}
	specs := []report.Spec{
		{ID: "X-1", Text: "[X-1] GetNode MUST work", State: "passed", Calls: calls(svcCluster+"RegisterNode", svcCluster+"GetNode")},
		{ID: "X-2", Text: "[X-2] Heartbeat MUST renew", State: "failed", Calls: calls(svcCluster+"RegisterNode", svcCluster+"GetNode", svcCluster+"Heartbeat")},
		{ID: "X-3", Text: "[X-3] RegisterNode SHOULD refuse duplicates", State: "failed", Calls: calls(svcCluster + "RegisterNode")},
		{ID: "X-4", Text: "[X-4] cases MUST hold", State: "failed", Calls: calls(svcCluster+"ListNodes", svcCompute+"ListImages")},
	}
	blame := map[string][]string{specs[1].Text: {svcCluster + "Heartbeat"}, specs[2].Text: {svcCluster + "RegisterNode"}, specs[3].Text: {svcCluster + "ListNodes", svcCompute + "ListImages"}}
	rows := MethodTable(specs, p, blame)
	if len(rows) != 79 {
		t.Fatalf("%d rows, want 79", len(rows))
	}
	want := map[string]string{
		svcCluster + "GetNode":      report.StatusConformant,
		svcCluster + "RegisterNode": report.StatusConformant, // blamed only by a SHOULD spec
		svcCluster + "Heartbeat":    report.StatusFailing,
		svcCluster + "ListNodes":    report.StatusFailing,
		svcCompute + "ListImages":   report.StatusFailing,
		svcCluster + "WatchNodes":   report.StatusUntested,
		svcStorage + "CreateVolume": report.StatusUnimplemented,
		svcAgent + "AttachConsole":  StatusUnreachable,
	}
	for _, r := range rows {
		if w, ok := want[r.Method]; ok && r.Status != w {
			t.Errorf("%s is %s (blamed by %v), want %s", r.Method, r.Status, r.Blamed, w)
		}
		if r.Method == svcCluster+"Heartbeat" && (len(r.Blamed) != 1 || r.Blamed[0] != "X-2") {
			t.Errorf("Heartbeat blamed by %v, want [X-2]", r.Blamed)
		}
	}
	var buf bytes.Buffer
	if err := report.WriteMethodTable(&buf, rows); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "79 methods: 2 conformant, 3 failing, 13 unimplemented, 9 unreachable, 52 untested") {
		t.Errorf("summary line:\n%s", buf.String())
	}
	if !IsConvention(specs[2].Text) || IsConvention(specs[1].Text) {
		t.Error("IsConvention: a SHOULD-only text is a convention, a MUST text is not")
	}
}
