package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	mGet    = "/x.v1.S/GetThing"
	mList   = "/x.v1.S/ListThings"
	mCreate = "/x.v1.S/CreateThing"
	mWatch  = "/x.v1.S/WatchThings"
)

func spec(text string, state types.SpecState, calls ...Call) types.SpecReport {
	sr := types.SpecReport{LeafNodeType: types.NodeTypeIt, LeafNodeText: text, State: state, RunTime: time.Millisecond}
	if state.Is(types.SpecStateFailureStates) {
		sr.Failure = types.Failure{Message: "server said X, contract says Y"}
	}
	sr.ReportEntries = types.ReportEntries{{Name: CallsEntry, Value: types.WrapEntryValue(EncodeCalls(calls))}}
	return sr
}

func sampleReport() types.Report {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return types.Report{
		SuiteDescription: "x.v1",
		StartTime:        start,
		EndTime:          start.Add(time.Second),
		SpecReports: types.SpecReports{
			spec("[X-A-001] GetThing MUST return the thing", types.SpecStatePassed,
				Call{mCreate, "OK"}, Call{mGet, "OK"}),
			spec("[X-A-002] ListThings MUST honour page_token", types.SpecStateFailed,
				Call{mCreate, "OK"}, Call{mList, "OK"}),
			spec("[X-A-003] WatchThings MUST stream", types.SpecStateFailed,
				Call{mWatch, "Unimplemented"}),
			spec("[X-A-004] skipped", types.SpecStateSkipped),
			{LeafNodeType: types.NodeTypeBeforeSuite, State: types.SpecStatePassed},
		},
	}
}

func TestSpecID(t *testing.T) {
	for text, want := range map[string]string{
		"[HV-CLU-001] RegisterNode MUST": "HV-CLU-001",
		"[AVA-BLK-3] x":                  "AVA-BLK-3",
		"no id":                          "",
		"[lower-case] x":                 "",
	} {
		if got := SpecID(text); got != want {
			t.Errorf("SpecID(%q) = %q, want %q", text, got, want)
		}
	}
}

func TestCallsRoundTrip(t *testing.T) {
	in := []Call{{mGet, "OK"}, {mList, "InvalidArgument"}}
	out := DecodeCalls(EncodeCalls(in) + "garbage-line\n\n")
	if len(out) != 2 || out[0] != in[0] || out[1] != in[1] {
		t.Fatalf("round trip = %v, want %v", out, in)
	}
}

func TestFromGinkgoAndMethods(t *testing.T) {
	res := FromGinkgo(sampleReport(), []string{mCreate, mGet, mList, mWatch, "/x.v1.S/Other"})
	if res.Passed != 1 || res.Failed != 2 || res.Skipped != 1 || len(res.Specs) != 4 {
		t.Fatalf("counts passed=%d failed=%d skipped=%d specs=%d", res.Passed, res.Failed, res.Skipped, len(res.Specs))
	}
	if got := strings.Join(res.FailedIDs(), ","); got != "X-A-002,X-A-003" {
		t.Errorf("FailedIDs = %s", got)
	}
	want := map[string]string{
		mCreate:         StatusConformant, // called by the failing X-A-002, but its text names ListThings
		mGet:            StatusConformant,
		mList:           StatusFailing,
		mWatch:          StatusUnimplemented,
		"/x.v1.S/Other": StatusUntested,
	}
	for m, st := range want {
		row, ok := res.Method(m)
		if !ok || row.Status != st {
			t.Errorf("method %s: status %q, want %q", m, row.Status, st)
		}
	}
	if row, _ := res.Method(mList); len(row.Blamed) != 1 || row.Blamed[0] != "X-A-002" {
		t.Errorf("ListThings blamed by %v", row.Blamed)
	}
	var tbl bytes.Buffer
	if err := WriteMethodTable(&tbl, res.Methods); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tbl.String(), "5 methods: 2 conformant, 1 failing, 1 unimplemented, 0 unreachable, 1 untested") {
		t.Errorf("table:\n%s", tbl.String())
	}
}

func TestBlameFallsBackToEveryCall(t *testing.T) {
	r := types.Report{SpecReports: types.SpecReports{
		spec("[X-B-001] deletes MUST be refused while in use", types.SpecStateFailed, Call{mCreate, "OK"}, Call{mGet, "OK"}),
	}}
	res := FromGinkgo(r, []string{mCreate, mGet})
	for _, m := range []string{mCreate, mGet} {
		if row, _ := res.Method(m); row.Status != StatusFailing {
			t.Errorf("%s status %s, want failing", m, row.Status)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	res := FromGinkgo(sampleReport(), []string{mGet})
	var buf bytes.Buffer
	if err := res.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if back.Failed != 2 || len(back.Specs) != 4 || back.Specs[1].Failure == "" || len(back.Specs[0].Calls) != 2 {
		t.Errorf("round trip lost data: %+v", back)
	}
	if _, err := ReadJSON(strings.NewReader("{")); err == nil {
		t.Error("ReadJSON accepted truncated input")
	}
}

func TestJUnit(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, FromGinkgo(sampleReport(), nil)); err != nil {
		t.Fatal(err)
	}
	var doc junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("JUnit is not XML: %v\n%s", err, buf.String())
	}
	s := doc.Suites[0]
	if doc.Tests != 4 || doc.Failures != 2 || s.Skipped != 1 || len(s.Cases) != 4 {
		t.Fatalf("junit counts: %+v", doc)
	}
	if s.Cases[1].Failure == nil || !strings.Contains(s.Cases[1].Failure.Body, "contract says Y") {
		t.Errorf("failure body missing: %+v", s.Cases[1].Failure)
	}
	if s.Cases[3].Skipped == nil {
		t.Error("skipped spec not marked skipped")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWritersReportErrors(t *testing.T) {
	res := FromGinkgo(sampleReport(), []string{mGet})
	if err := WriteJUnit(failWriter{}, res); err == nil {
		t.Error("WriteJUnit ignored a write error")
	}
	if err := res.WriteJSON(failWriter{}); err == nil {
		t.Error("WriteJSON ignored a write error")
	}
	if err := WriteMethodTable(failWriter{}, res.Methods); err == nil {
		t.Error("WriteMethodTable ignored a write error")
	}
}

func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf)
	for _, sr := range sampleReport().SpecReports {
		p.Spec(sr)
	}
	n, failed := p.Counts()
	if n != 3 || failed != 2 {
		t.Errorf("counts %d/%d", n, failed)
	}
	out := buf.String()
	if strings.Contains(out, "X-A-004") {
		t.Errorf("skipped spec printed:\n%s", out)
	}
	for _, want := range []string{"ok   [X-A-001]", "FAIL [X-A-002]", "contract says Y"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress output lacks %q:\n%s", want, out)
		}
	}
}
