package recorder_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recorder"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recording"
	"github.com/vmtestbed/vmtestbed/fakes/refvm"
	"github.com/vmtestbed/vmtestbed/internal/buildbin"
	"github.com/vmtestbed/vmtestbed/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// launchRecordedRefVM starts a fake node (seed) and the reference VM
// binary behind the recorder's wrapper, whose sessions go to dir; the node
// is closed when the test ends.
func launchRecordedRefVM(t *testing.T, ctx context.Context, seed int64) (dir string, node *avalanchego.Node, p *avalanchego.Plugin) {
	t.Helper()
	dir = t.TempDir()
	wrapper, err := recorder.WriteWrapper(dir, build(t, "./cmd/vmtestbed", ""), build(t, "./cmd/refvm", ""))
	if err != nil {
		t.Fatal(err)
	}
	node, err = avalanchego.NewNode(ctx, avalanchego.NodeConfig{Transport: transport.TCP{}, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Close() })
	p, err = avalanchego.LaunchProcess(ctx, wrapper, avalanchego.LaunchConfig{GracefulTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return dir, node, p
}

func build(t *testing.T, pkg, ldflags string) string {
	t.Helper()
	bin, err := buildbin.Build(pkg, ldflags)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestRecordRefVMThroughFakeNode: the fake node drives the wrapper around
// the reference VM binary through start, HTTP (HandleSimple and Handle),
// two blocks and Shutdown. The sequencer works through the proxy as it does
// without it, and the session holds every call in both directions.
func TestRecordRefVMThroughFakeNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir, node, p := launchRecordedRefVM(t, ctx, 1)
	seq := &avalanchego.Sequencer{Node: node, Plugin: p}
	defer seq.Stop(context.Background())
	start, err := seq.Start(ctx)
	if err != nil {
		t.Fatalf("start through the recorder: %v\n%s", err, p.StderrTail())
	}
	if p.Protocol != avalanchego.NewestProtocol {
		t.Fatalf("the node saw protocol %d, want the plugin's %d", p.Protocol, avalanchego.NewestProtocol)
	}
	var rpc *vmpb.Handler
	for _, h := range start.Handlers {
		if h.GetPrefix() == refvm.RPCPrefix {
			rpc = h
		}
	}
	hc, err := node.HandlerHTTP(p, rpc)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []avalanchego.BlockInfo
	for _, kv := range [][2]string{{"k1", "v1"}, {"k2", "v2"}} {
		if err := hc.JSONRPC(ctx, "", "refvm.issueTx", map[string]string{"key": kv[0], "value": kv[1]}, nil); err != nil {
			t.Fatal(err)
		}
		blk, err := seq.BuildAndAccept(ctx)
		if err != nil {
			t.Fatalf("build through the recorder: %v", err)
		}
		blocks = append(blocks, blk)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://node"+refvm.RPCPrefix, strings.NewReader(`{"jsonrpc":"2.0","id":9,"method":"refvm.lastAccepted","params":{}}`))
	res, err := hc.Do(ctx, req)
	if err != nil {
		t.Fatalf("HTTP.Handle through the recorder: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("HTTP.Handle status %d", res.StatusCode)
	}
	if err := hc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := seq.Stop(ctx); err != nil {
		t.Fatalf("stop: %v\n%s", err, p.StderrTail())
	}
	if st := p.ExitStatus(); st != "exit status 0" {
		t.Fatalf("recorder exit %q, want the plugin's exit status 0\n%s", st, p.StderrTail())
	}

	paths, err := recording.List(dir)
	if err != nil || len(paths) != 1 {
		t.Fatalf("sessions %v (%v), want one", paths, err)
	}
	s, err := recording.Open(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	if s.End == nil || s.End.Exit != "exit status 0" || s.Header.Protocol != avalanchego.NewestProtocol || s.Header.Plugin == "" {
		t.Fatalf("header %+v end %+v", s.Header, s.End)
	}
	seen := map[string]int{}
	for _, c := range s.Calls {
		seen[c.Endpoint+" "+c.MethodName()]++
		if c.Pending {
			t.Errorf("call %d %s still pending", c.Seq, c.Method)
		}
	}
	for _, want := range []string{
		"runtime Initialize", "vm Initialize", "vm CreateHandlers", "vm NewHTTPHandler", "vm SetState", "vm Connected",
		"vm WaitForEvent", "vm BuildBlock", "vm BlockVerify", "vm BlockAccept", "vm Shutdown",
		"rpcdb WriteBatch", "rpcdb Get", "node SendAppGossip", "handler:/rpc HandleSimple", "handler:/rpc Handle",
		"http-writer:1 Read", "http-writer:1 WriteHeader", "http-writer:1 Write",
	} {
		if seen[want] == 0 {
			t.Errorf("no %q call recorded; seen %v", want, seen)
		}
	}
	// Answers passed through unchanged: what the sequencer got is what the plugin said.
	init, _ := s.Initialize()
	m, err := recording.NewResponse(init.Method, init.Response)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.(*vmpb.InitializeResponse).GetLastAcceptedId(); string(got) != string(start.LastAccepted.ID[:]) {
		t.Fatalf("recorded Initialize last accepted %x, the node's %s", got, start.LastAccepted.ID)
	}
	var built []string
	for _, c := range s.Calls {
		if c.Method == "/vm.VM/BuildBlock" {
			m, err := recording.NewResponse(c.Method, c.Response)
			if err != nil {
				t.Fatal(err)
			}
			built = append(built, string(m.(*vmpb.BuildBlockResponse).GetId()))
		}
	}
	if len(built) != 2 || built[0] != string(blocks[0].ID[:]) || built[1] != string(blocks[1].ID[:]) {
		t.Fatalf("recorded BuildBlock ids differ from what the node received")
	}
	// The handler address the node got is the recorder's, the plugin's is recorded.
	for _, c := range s.Calls {
		if c.Method == "/vm.VM/CreateHandlers" {
			if c.Endpoints["handler:/rpc"] == "" || strings.Contains(string(c.Response), rpc.GetServerAddr()) {
				t.Fatalf("CreateHandlers: endpoints %v, response %s, node got %s", c.Endpoints, c.Response, rpc.GetServerAddr())
			}
		}
	}
	// Normalised, the session carries no run-specific address or directory.
	norm := filepath.Join(t.TempDir(), "n.jsonl")
	f, err := os.Create(norm)
	if err != nil {
		t.Fatal(err)
	}
	if err := recording.Normalize(s).Encode(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b, _ := os.ReadFile(norm)
	if strings.Contains(string(b), "127.0.0.1") || !strings.Contains(string(b), `"db_server_addr":"addr:rpcdb"`) {
		t.Fatalf("normalised session:\n%s", b)
	}
}
