package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recording"
	"github.com/vmtestbed/vmtestbed/fakes/refvm"
	"github.com/vmtestbed/vmtestbed/transport"
)

// driveRecordedChain runs AvalancheGo's sequence through the fake node on
// the wrapper: a pre-init launch (Version, Shutdown), then a chain launch
// with two transactions through the JSON-RPC handler and two blocks.
func driveRecordedChain(t *testing.T, wrapper string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	lc := avalanchego.LaunchConfig{GracefulTimeout: 3 * time.Second}
	pre, err := avalanchego.LaunchProcess(ctx, wrapper, lc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := avalanchego.PreInit(ctx, pre); err != nil {
		t.Fatalf("pre-init through the recorder: %v", err)
	}
	node, err := avalanchego.NewNode(ctx, avalanchego.NodeConfig{Transport: transport.TCP{}, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	p, err := avalanchego.LaunchProcess(ctx, wrapper, lc)
	if err != nil {
		t.Fatal(err)
	}
	seq := &avalanchego.Sequencer{Node: node, Plugin: p}
	defer seq.Stop(context.Background())
	start, err := seq.Start(ctx)
	if err != nil {
		t.Fatalf("start: %v\n%s", err, p.StderrTail())
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
	defer hc.Close()
	for _, kv := range [][2]string{{"k1", "v1"}, {"k2", "v2"}} {
		if err := hc.JSONRPC(ctx, "", "refvm.issueTx", map[string]string{"key": kv[0], "value": kv[1]}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := seq.BuildAndAccept(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// One request through HTTP.Handle (the upgrade/HTTP2 path): the body is
	// read from, and the answer written to, the node's per-request servers.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://node"+refvm.RPCPrefix,
		strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"refvm.get","params":{"key":"k1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := hc.Do(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "v1") {
		t.Fatalf("HTTP.Handle: %d %s", res.StatusCode, body)
	}
	if _, err := seq.Health(ctx); err != nil {
		t.Fatal(err)
	}
	// As AvalancheGo does: Shutdown while the WaitForEvent loop may have a
	// call pending (the sequencer's own Stop would cancel it first).
	if err := p.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	_ = seq.Stop(ctx) // ends the loop; the plugin is gone already
}

// TestRecordNormalizeReplay: record wraps refvm, the fake node drives the
// wrapper (pre-init and chain processes, one session file each), the
// sessions normalise, and replaying them against the same refvm finds no
// difference while the wrong-genesis-id variant is caught (exit 1).
func TestRecordNormalizeReplay(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rec")
	good := refvmBinary(t, "")
	res := runCLI(t, 30*time.Second, "record", "--plugin", good, "--out", dir)
	if res.code != exitOK || !strings.Contains(res.out, "plugin") {
		t.Fatalf("record: exit %d:\n%s", res.code, res.out)
	}
	wrapper := filepath.Join(dir, "plugin")
	script, err := os.ReadFile(wrapper)
	if err != nil || !strings.HasPrefix(string(script), "#!/bin/sh\n") || !strings.Contains(string(script), "record-proxy") {
		t.Fatalf("wrapper %q (%v)", script, err)
	}
	driveRecordedChain(t, wrapper)

	sessions, err := recording.ReadDir(dir)
	if err != nil || len(sessions) != 2 {
		t.Fatalf("want two sessions (pre-init, chain), got %d (%v)", len(sessions), err)
	}
	if sessions[0].IsChain() || !sessions[1].IsChain() {
		t.Fatalf("first session should be pre-init, second the chain")
	}

	norm := filepath.Join(t.TempDir(), "norm")
	res = runCLI(t, 30*time.Second, "record", "normalize", dir, norm)
	if res.code != exitOK {
		t.Fatalf("normalize: exit %d:\n%s", res.code, res.out)
	}
	normed, err := recording.ReadDir(norm)
	if err != nil || len(normed) != 2 {
		t.Fatalf("normalised sessions: %d (%v)", len(normed), err)
	}

	for _, src := range []string{dir, norm} {
		res = runCLI(t, 90*time.Second, "replay", src, "--plugin", good, "--call-timeout", "5s")
		if res.code != exitOK || !strings.Contains(res.out, "no differences") {
			t.Fatalf("replay %s against the same refvm: exit %d:\n%s", filepath.Base(src), res.code, res.out)
		}
	}
	res = runCLI(t, 90*time.Second, "replay", dir, "--plugin", refvmBinary(t, refvm.VariantWrongGenesisID), "--call-timeout", "3s")
	if res.code != exitFailed || !strings.Contains(res.out, "vm.VM/Initialize") || !strings.Contains(res.out, "last_accepted_id") || !strings.Contains(res.out, "RECORDED") {
		t.Fatalf("replay against wrong-genesis-id: exit %d, want 1 with a table naming Initialize's last_accepted_id:\n%s", res.code, res.out)
	}
	t.Logf("wrong-genesis-id:\n%s", res.out)
	// A plugin that dies mid-replay: every later call differs, none hangs.
	res = runCLI(t, 90*time.Second, "replay", dir, "--plugin", refvmBinary(t, refvm.VariantCrashBuild), "--call-timeout", "3s")
	if res.code != exitFailed || !regexp.MustCompile(`vm\.VM/BuildBlock +code +OK +Unavailable`).MatchString(res.out) || !strings.Contains(res.out, "exit status 2") || !strings.Contains(res.out, refvm.CrashMessage) {
		t.Fatalf("replay against crash-build: exit %d, want 1 with BuildBlock's code:\n%s", res.code, res.out)
	}
}

// TestReplayUsageAndBadRecordings: exit 2 with a clear message.
func TestReplayUsageAndBadRecordings(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte(`{"format":"vmtestbed-rpcchainvm-recording","version":7}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	preinit := filepath.Join(t.TempDir(), "pre.jsonl")
	if err := os.WriteFile(preinit, []byte(`{"format":"vmtestbed-rpcchainvm-recording","version":1,"plugin":"p","protocol":46,"vm_addr":"","start":"","pid":0,"plugin_pid":0}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"replay", dir}, "--plugin"},
		{[]string{"replay", bad, "--plugin", "/bin/true"}, "line 1: header: unsupported recording version 7"},
		{[]string{"replay", dir, "--plugin", "/bin/true"}, "unsupported recording version 7"},
		{[]string{"replay", preinit, "--plugin", "/bin/true"}, "none a chain session"},
		{[]string{"replay", filepath.Join(dir, "missing"), "--plugin", "/bin/true"}, "no such file"},
		// A real recording of protocol 45 against refvm (46): the recording fixes the protocol.
		{[]string{"replay", "../../fakes/avalanchego/testdata/recordings/avalanchego-v1.14.2/xsvm-1node", "--plugin", refvmBinary(t, "")}, "recording was made with rpcchainvm protocol 45, which replay emulates; --same-wire"},
		{[]string{"record", "--plugin", "/no/such/plugin", "--out", dir}, "no such file"},
		{[]string{"record", "normalize", t.TempDir(), dir}, "no session files"},
	} {
		res := runCLI(t, 30*time.Second, tc.args...)
		if res.code != exitUsage || !strings.Contains(res.out, tc.want) {
			t.Errorf("%v: exit %d, want 2 with %q:\n%s", tc.args, res.code, tc.want, res.out)
		}
	}
}

// writeChainSession writes a minimal chain session: one Initialize.
func writeChainSession(t *testing.T, dir string, req *vmpb.InitializeRequest) string {
	t.Helper()
	w, path, err := recording.Create(dir, recording.Header{Plugin: "p", Protocol: avalanchego.NewestProtocol})
	if err != nil {
		t.Fatal(err)
	}
	wire, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	c := w.Begin(recording.NodeToPlugin, recording.EndpointVM, "/vm.VM/Initialize")
	c.Request(wire)
	c.Finish(nil)
	if err := w.Close("exit status 0"); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReplayLaunchAndIdentityErrors: a plugin that does not start and a
// recorded Initialize with a malformed id both exit 2, saying why.
func TestReplayLaunchAndIdentityErrors(t *testing.T) {
	node, err := avalanchego.NewNode(context.Background(), avalanchego.NodeConfig{Transport: transport.TCP{}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	good := node.InitializeRequest(avalanchego.NewestProtocol)
	if err := node.Close(); err != nil {
		t.Fatal(err)
	}
	okSession := writeChainSession(t, t.TempDir(), good)
	bad := proto.Clone(good).(*vmpb.InitializeRequest)
	bad.ChainId = []byte{1, 2, 3}
	badSession := writeChainSession(t, t.TempDir(), bad)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"replay", okSession, "--plugin", "/bin/false", "--handshake-timeout", "2s"}, []string{"exited before the handshake", "exit status 1"}},
		{[]string{"replay", badSession, "--plugin", refvmBinary(t, "")}, []string{"call seq 1", "chain_id"}},
	} {
		res := runCLI(t, 30*time.Second, tc.args...)
		if res.code != exitUsage {
			t.Errorf("%v: exit %d, want 2:\n%s", tc.args, res.code, res.out)
		}
		for _, w := range tc.want {
			if !strings.Contains(res.out, w) {
				t.Errorf("%v: output lacks %q:\n%s", tc.args, w, res.out)
			}
		}
	}
}
