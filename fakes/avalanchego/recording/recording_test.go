package recording_test

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recording"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const header = `{"format":"vmtestbed-rpcchainvm-recording","version":1,"plugin":"refvm","protocol":46,"vm_addr":"127.0.0.1:5000","start":"2026-01-01T00:00:00Z","pid":10,"plugin_pid":11}`

func TestDecodeErrors(t *testing.T) {
	call := func(extra string) string {
		return `{"kind":"call","seq":1,"id":"vm#1","dir":"node->plugin","endpoint":"vm","method":"/vm.VM/Version","start_ns":10` + extra + `}`
	}
	ok := call(`,"end_ns":20,"code":"OK"`)
	for _, tc := range []struct {
		name, input, want string
		line              int
	}{
		{"empty", "", "empty: no header line", 0},
		{"bad header json", "{", "line 1: header: bad JSON", 1},
		{"wrong format", `{"format":"x","version":1}`, `format "x"`, 1},
		{"missing version", `{"format":"vmtestbed-rpcchainvm-recording"}`, `missing "version"`, 1},
		{"unknown version", `{"format":"vmtestbed-rpcchainvm-recording","version":2}`, "unsupported recording version 2", 1},
		{"unknown header field", strings.Replace(header, `"pid"`, `"pidd"`, 1), "unknown field", 1},
		{"zero protocol", strings.Replace(header, `"protocol":46`, `"protocol":0`, 1), "protocol", 1},
		{"missing header field", strings.Replace(header, `"vm_addr":"127.0.0.1:5000",`, ``, 1), `missing "vm_addr"`, 1},
		{"missing seq", header + "\n" + strings.Replace(ok, `"seq":1,`, ``, 1), `missing "seq"`, 2},
		{"missing start", header + "\n" + strings.Replace(ok, `,"start_ns":10`, ``, 1), `missing "start_ns"`, 2},
		{"missing exit", header + "\n" + `{"kind":"end","end_ns":1}`, `missing "exit"`, 2},
		{"negative pid", strings.Replace(header, `"pid":10`, `"pid":-1`, 1), "negative pid", 1},
		{"empty line", header + "\n\n" + ok, "line 2: empty line", 2},
		{"bad call json", header + "\n{\"kind\":", "line 2: bad JSON", 2},
		{"missing kind", header + "\n{}", `missing "kind"`, 2},
		{"unknown kind", header + "\n{\"kind\":\"x\"}", `unknown kind "x"`, 2},
		{"unknown call field", header + "\n" + call(`,"end_ns":20,"code":"OK","extra":1`), "unknown field", 2},
		{"zero seq", header + "\n" + strings.Replace(ok, `"seq":1`, `"seq":0`, 1), "want 1 or more", 2},
		{"missing id", header + "\n" + strings.Replace(ok, `"id":"vm#1",`, ``, 1), `missing "id"`, 2},
		{"missing dir", header + "\n" + strings.Replace(ok, `"dir":"node->plugin",`, ``, 1), `missing "dir"`, 2},
		{"unknown dir", header + "\n" + strings.Replace(ok, `node->plugin`, `sideways`, 1), `unknown direction "sideways"`, 2},
		{"missing endpoint", header + "\n" + strings.Replace(ok, `"endpoint":"vm",`, ``, 1), `missing "endpoint"`, 2},
		{"missing method", header + "\n" + strings.Replace(ok, `"method":"/vm.VM/Version",`, ``, 1), `missing "method"`, 2},
		{"bad method", header + "\n" + strings.Replace(ok, `/vm.VM/Version`, `Version`, 1), `want /package.Service/Method`, 2},
		{"negative start", header + "\n" + strings.Replace(ok, `"start_ns":10`, `"start_ns":-1`, 1), "negative", 2},
		{"missing end", header + "\n" + call(`,"code":"OK"`), `missing "end_ns"`, 2},
		{"end before start", header + "\n" + call(`,"end_ns":5,"code":"OK"`), "end_ns 5 before start_ns 10", 2},
		{"missing code", header + "\n" + call(`,"end_ns":20`), `missing "code"`, 2},
		{"bad code", header + "\n" + call(`,"end_ns":20,"code":"Fine"`), `code "Fine"`, 2},
		{"pending with end", header + "\n" + call(`,"end_ns":20,"pending":true`), "pending call has no end_ns", 2},
		{"request not object", header + "\n" + call(`,"end_ns":20,"code":"OK","request":[1]`), "request is not a JSON object", 2},
		{"details not object", header + "\n" + call(`,"end_ns":20,"code":"OK","details":["x"]`), "details[0]", 2},
		{"messages without stream", header + "\n" + call(`,"end_ns":20,"code":"OK","messages":[{"from":"client","at_ns":10}]`), "not a stream", 2},
		{"stream with request", header + "\n" + call(`,"end_ns":20,"code":"OK","stream":true,"request":{}`), `carries "messages"`, 2},
		{"stream bad from", header + "\n" + call(`,"end_ns":20,"code":"OK","stream":true,"messages":[{"from":"x","at_ns":10}]`), `from "x"`, 2},
		{"stream early message", header + "\n" + call(`,"end_ns":20,"code":"OK","stream":true,"messages":[{"from":"client","at_ns":1}]`), "before the call's start_ns", 2},
		{"empty endpoint", header + "\n" + call(`,"end_ns":20,"code":"OK","endpoints":{"rpcdb":""}`), "endpoints", 2},
		{"duplicate seq", header + "\n" + ok + "\n" + strings.Replace(ok, "vm#1", "vm#2", 1), "repeats the seq of line 2", 3},
		{"duplicate id", header + "\n" + ok + "\n" + strings.Replace(ok, `"seq":1`, `"seq":2`, 1), `id "vm#1" repeats`, 3},
		{"bad end", header + "\n" + `{"kind":"end","end_ns":-1,"exit":""}`, "end_ns -1 is negative", 2},
		{"unknown end field", header + "\n" + `{"kind":"end","end_ns":1,"exit":"","x":1}`, "unknown field", 2},
		{"line after end", header + "\n" + `{"kind":"end","end_ns":1,"exit":""}` + "\n" + ok, `after the "end" line`, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := recording.Decode(strings.NewReader(tc.input))
			var de *recording.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("want a *DecodeError, got %v", err)
			}
			if de.Line != tc.line || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got line %d %q, want line %d containing %q", de.Line, err, tc.line, tc.want)
			}
		})
	}
}

func TestUnsupportedVersionIsTyped(t *testing.T) {
	_, err := recording.Decode(strings.NewReader(`{"format":"vmtestbed-rpcchainvm-recording","version":9}`))
	if !errors.Is(err, recording.ErrUnsupportedVersion) {
		t.Fatalf("got %v", err)
	}
}

func wire(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWriterRoundTrip: concurrent calls, a pending one, status details,
// raw fallback for an unknown method; the file decodes back in seq order.
func TestWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := recording.NewWriter(&buf, recording.Header{Plugin: "refvm", Protocol: 46, VMAddr: "127.0.0.1:5000", Pid: 3})
	if err != nil {
		t.Fatal(err)
	}
	pending := w.Begin(recording.NodeToPlugin, recording.EndpointVM, "/vm.VM/WaitForEvent")
	pending.Request(wire(t, &emptypb.Empty{}))
	init := w.Begin(recording.NodeToPlugin, recording.EndpointVM, "/vm.VM/Initialize")
	init.Request(wire(t, &vmpb.InitializeRequest{NetworkId: 7, DbServerAddr: "127.0.0.1:6000", ChainDataDir: "/tmp/chain-1"}))
	init.Endpoint(recording.EndpointRPCDB, "127.0.0.1:6000")
	init.Response(wire(t, &vmpb.InitializeResponse{Height: 3}))
	init.Finish(nil)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := w.Begin(recording.PluginToNode, recording.EndpointRPCDB, "/rpcdb.Database/Has")
			c.Request([]byte{0x0a, 0x01, 'k'})
			c.Finish(status.Error(codes.NotFound, "at 127.0.0.1:6000"))
		}()
	}
	wg.Wait()
	odd := w.Begin(recording.NodeToPlugin, "handler:/x", "/no.Such/Method")
	odd.Request([]byte{1, 2, 3})
	odd.Finish(nil)
	streamed := w.Begin(recording.PluginToNode, recording.EndpointNode, "/no.Such/Stream")
	streamed.StreamMessage(true, []byte{9})
	streamed.StreamMessage(false, []byte{8})
	streamed.Finish(nil)
	if err := w.Close("exit status 0"); err != nil {
		t.Fatal(err)
	}
	pending.Finish(nil) // after Close: stays pending

	s, err := recording.Decode(&buf)
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, buf.String())
	}
	if len(s.Calls) != 24 || s.End == nil || s.End.Exit != "exit status 0" {
		t.Fatalf("%d calls, end %+v", len(s.Calls), s.End)
	}
	for i, c := range s.Calls {
		if c.Seq != i+1 {
			t.Fatalf("calls not in seq order: %d at %d", c.Seq, i)
		}
	}
	if c := s.Calls[0]; !c.Pending || c.EndNS != nil || c.Method != "/vm.VM/WaitForEvent" {
		t.Fatalf("first call %+v, want the pending WaitForEvent", c)
	}
	initCall, ok := s.Initialize()
	if !ok || !strings.Contains(string(initCall.Request), `"db_server_addr":"127.0.0.1:6000"`) || initCall.Code != "OK" {
		t.Fatalf("initialize %+v", initCall)
	}
	if c := s.Calls[2]; c.Code != "NotFound" || c.Request == nil {
		t.Fatalf("rpcdb call %+v", c)
	}
	if c := s.Calls[22]; c.Request != nil || !bytes.Equal(c.RequestRaw, []byte{1, 2, 3}) {
		t.Fatalf("unknown method call %+v, want raw bytes", c)
	}
	if c := s.Calls[23]; !c.Stream || len(c.Messages) != 2 || c.Messages[0].From != "client" || c.Messages[1].Raw[0] != 8 {
		t.Fatalf("stream call %+v", c)
	}
	m, err := recording.NewRequest(initCall.Method, initCall.Request)
	if err != nil || m.(*vmpb.InitializeRequest).GetNetworkId() != 7 {
		t.Fatalf("NewRequest: %v %v", m, err)
	}
}

func TestNormalize(t *testing.T) {
	var buf bytes.Buffer
	w, err := recording.NewWriter(&buf, recording.Header{Plugin: "refvm", Protocol: 46, VMAddr: "127.0.0.1:5000", Pid: 3, PluginPid: 4})
	if err != nil {
		t.Fatal(err)
	}
	init := w.Begin(recording.NodeToPlugin, recording.EndpointVM, "/vm.VM/Initialize")
	init.Request(wire(t, &vmpb.InitializeRequest{DbServerAddr: "127.0.0.1:6000", ServerAddr: "127.0.0.1:6001", ChainDataDir: "/tmp/chain-1"}))
	init.Endpoint(recording.EndpointRPCDB, "127.0.0.1:6000")
	init.Endpoint(recording.EndpointNode, "127.0.0.1:6001")
	init.Finish(status.Error(codes.Internal, "open /tmp/chain-1/db via 127.0.0.1:7777"))
	if err := w.Close("exit status 0"); err != nil {
		t.Fatal(err)
	}
	s, err := recording.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	n := recording.Normalize(s)
	var a, b bytes.Buffer
	if err := n.Encode(&a); err != nil {
		t.Fatal(err)
	}
	if err := recording.Normalize(n).Encode(&b); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Fatalf("not idempotent:\n%s\n%s", a.String(), b.String())
	}
	got := a.String()
	for _, want := range []string{`"vm_addr":"addr:vm"`, `"start":""`, `"pid":0`, `"db_server_addr":"addr:rpcdb"`, `"server_addr":"addr:node"`,
		`"chain_data_dir":"$CHAIN_DATA"`, `open $CHAIN_DATA/db via addr:1`, `"endpoints":{"node":"addr:node","rpcdb":"addr:rpcdb"}`} {
		if !strings.Contains(got, want) {
			t.Errorf("normalised session lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, "127.0.0.1") || strings.Contains(got, "/tmp/chain-1") {
		t.Errorf("run-specific values left:\n%s", got)
	}
	if _, err := recording.Decode(strings.NewReader(got)); err != nil {
		t.Fatalf("normalised session does not decode: %v", err)
	}
}

func TestCreateUniqueNames(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for range 3 {
		w, path, err := recording.Create(dir, recording.Header{Plugin: "p", Protocol: 46})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(""); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	listed, err := recording.List(dir)
	if err != nil || len(listed) != 3 {
		t.Fatalf("List: %v %v", listed, err)
	}
	sessions, err := recording.ReadDir(dir)
	if err != nil || len(sessions) != 3 || sessions[0].Name == "" {
		t.Fatalf("ReadDir: %v", err)
	}
	if paths[0] == paths[1] || paths[1] == paths[2] {
		t.Fatalf("names repeat: %v", paths)
	}
	if _, err := recording.ReadDir(t.TempDir()); err == nil {
		t.Fatal("ReadDir of an empty dir must fail")
	}
}
