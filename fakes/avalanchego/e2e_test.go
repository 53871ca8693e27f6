package avalanchego_test

import (
	"context"
	"strings"
	"testing"
	"time"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/fakes/refvm"
	"github.com/vmtestbed/vmtestbed/internal/buildbin"
	"github.com/vmtestbed/vmtestbed/transport"
)

// chain is a node plus a started sequencer on one plugin.
type chain struct {
	node  *avalanchego.Node
	seq   *avalanchego.Sequencer
	start *avalanchego.StartResult
	trace *avalanchego.Trace
}

func startChain(t *testing.T, tr transport.Transport, launch func(*avalanchego.Trace) (*avalanchego.Plugin, error)) *chain {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	trace := avalanchego.NewTrace(nil)
	node, err := avalanchego.NewNode(ctx, avalanchego.NodeConfig{Transport: tr, Seed: 1, Trace: trace})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Close() })
	p, err := launch(trace)
	if err != nil {
		t.Fatal(err)
	}
	seq := &avalanchego.Sequencer{Node: node, Plugin: p, Peers: nil}
	t.Cleanup(func() { _ = seq.Stop(context.Background()) })
	res, err := seq.Start(ctx)
	if err != nil {
		t.Fatalf("start: %v\nplugin output:\n%s", err, p.StderrTail())
	}
	return &chain{node: node, seq: seq, start: res, trace: trace}
}

func launchInProcess(t *testing.T, bn *transport.Bufnet, cfg refvm.Config) func(*avalanchego.Trace) (*avalanchego.Plugin, error) {
	return func(tr *avalanchego.Trace) (*avalanchego.Plugin, error) {
		cfg.Transport = bn
		serve := func(ctx context.Context, addr string) error {
			c := cfg
			c.Stderr = avalanchego.PluginOutput(ctx)
			return refvm.Serve(ctx, addr, c)
		}
		return avalanchego.LaunchInProcess(context.Background(), bn, serve, avalanchego.LaunchConfig{Trace: tr, GracefulTimeout: 2 * time.Second, Protocol: cfg.Protocol})
	}
}

func launchBinary(t *testing.T, variant string) func(*avalanchego.Trace) (*avalanchego.Plugin, error) {
	ldflags := ""
	if variant != "" {
		ldflags = "-X main.variant=" + variant
	}
	bin, err := buildbin.Build("./cmd/refvm", ldflags)
	if err != nil {
		t.Fatalf("build refvm: %v", err)
	}
	return func(tr *avalanchego.Trace) (*avalanchego.Plugin, error) {
		return avalanchego.LaunchProcess(context.Background(), bin, avalanchego.LaunchConfig{Trace: tr, GracefulTimeout: 2 * time.Second})
	}
}

// issueAndBuild issues a tx through the VM's own JSON-RPC API and builds it.
func (c *chain) issueAndBuild(t *testing.T, key, value string) (avalanchego.BlockInfo, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var rpc *vmpb.Handler
	for _, h := range c.start.Handlers {
		if h.GetPrefix() == refvm.RPCPrefix {
			rpc = h
		}
	}
	if rpc == nil {
		t.Fatalf("no %s handler in %v", refvm.RPCPrefix, c.start.Handlers)
	}
	hc, err := c.node.HandlerHTTP(c.seq.Plugin, rpc)
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	var issued struct {
		TxID string `json:"txID"`
	}
	if err := hc.JSONRPC(ctx, "", "refvm.issueTx", map[string]string{"key": key, "value": value}, &issued); err != nil {
		t.Fatal(err)
	}
	if issued.TxID == "" {
		t.Fatal("issueTx returned no txID")
	}
	blk, err := c.seq.BuildAndAccept(ctx)
	if err != nil {
		return blk, err
	}
	var got struct {
		Value string `json:"value"`
		Found bool   `json:"found"`
	}
	if err := hc.JSONRPC(ctx, "", "refvm.get", map[string]string{"key": key}, &got); err != nil {
		t.Fatal(err)
	}
	if !got.Found || got.Value != value {
		t.Fatalf("after accept, %s = %+v", key, got)
	}
	return blk, nil
}

func checkTwoBlocks(t *testing.T, c *chain) {
	t.Helper()
	genesis := c.start.LastAccepted
	b1, err := c.issueAndBuild(t, "k1", "v1")
	if err != nil {
		t.Fatal(err)
	}
	b2, err := c.issueAndBuild(t, "k2", "v2")
	if err != nil {
		t.Fatal(err)
	}
	if b1.ParentID != genesis.ID || b1.Height != genesis.Height+1 || b2.ParentID != b1.ID || b2.Height != b1.Height+1 {
		t.Fatalf("chain genesis %v -> %v -> %v", genesis, b1, b2)
	}
}

// wantStartSequence is AvalancheGo's chain start as node->plugin VM calls,
// in completion order (the bootstrapping WaitForEvent ends, cancelled,
// after SetPreference and before SetState(NormalOp)); no Version: that is
// asked in the pre-init process only.
var wantStartSequence = []string{
	"Initialize", "CreateHandlers", "NewHTTPHandler", "StateSyncEnabled", "SetState",
	"Connected", "GetBlockIDAtHeight", "SetPreference", "WaitForEvent", "SetState",
}

func checkStartSequence(t *testing.T, tr *avalanchego.Trace) {
	t.Helper()
	var got []string
	var waitCode string
	for _, e := range tr.Events() {
		if e.Dir != avalanchego.DirNodeToPlugin || !strings.HasPrefix(e.Method, "/vm.VM/") {
			continue
		}
		m := strings.TrimPrefix(e.Method, "/vm.VM/")
		if m == "WaitForEvent" && waitCode == "" {
			waitCode = e.Code
		}
		got = append(got, m)
		if len(got) == len(wantStartSequence) {
			break
		}
	}
	if strings.Join(got, ",") != strings.Join(wantStartSequence, ",") {
		t.Fatalf("start sequence\n got %v\nwant %v", got, wantStartSequence)
	}
	if waitCode != "Canceled" {
		t.Fatalf("bootstrapping WaitForEvent ended %s, want Canceled", waitCode)
	}
}

func TestRefVMInProcessOverBufnet(t *testing.T) {
	bn := transport.NewBufnet()
	c := startChain(t, bn, launchInProcess(t, bn, refvm.Config{}))
	checkStartSequence(t, c.trace)
	checkTwoBlocks(t, c)
	if c.start.HTTPHandlerAddr == "" {
		t.Fatalf("start result %+v", c.start)
	}
	// The plugin wrote its state through the node's rpcdb: plugin->node calls exist.
	var dbCalls int
	for _, e := range c.trace.Events() {
		if e.Dir == avalanchego.DirPluginToNode && strings.HasPrefix(e.Method, "/rpcdb.Database/") {
			dbCalls++
		}
	}
	if dbCalls == 0 {
		t.Fatal("no rpcdb calls traced from the plugin")
	}
	if err := c.seq.Stop(context.Background()); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

func TestRefVMBinaryOverTCP(t *testing.T) {
	c := startChain(t, transport.TCP{}, launchBinary(t, ""))
	checkStartSequence(t, c.trace)
	checkTwoBlocks(t, c)
	if err := c.seq.Stop(context.Background()); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if st := c.seq.Plugin.ExitStatus(); st != "exit status 0" {
		t.Fatalf("refvm exit status %q", st)
	}
}

func TestRefVMStateSyncPath(t *testing.T) {
	bn := transport.NewBufnet()
	c := startChain(t, bn, launchInProcess(t, bn, refvm.Config{StateSync: true}))
	seen := map[string]bool{}
	for _, e := range c.trace.Events() {
		seen[strings.TrimPrefix(e.Method, "/vm.VM/")] = true
	}
	for _, m := range []string{"GetOngoingSyncStateSummary", "GetLastStateSummary"} {
		if !seen[m] {
			t.Errorf("state-sync path did not call %s", m)
		}
	}
	checkTwoBlocks(t, c)
}

// Negative: the sequencer's checks catch broken VMs.
func TestSequencerCatchesNondeterministicParse(t *testing.T) {
	bn := transport.NewBufnet()
	c := startChain(t, bn, launchInProcess(t, bn, refvm.Config{Variant: refvm.VariantNondeterministicParse}))
	_, err := c.issueAndBuild(t, "k", "v")
	if err == nil || !strings.Contains(err.Error(), "ParseBlock gave id") {
		t.Fatalf("want a ParseBlock id mismatch, got %v", err)
	}
}

func TestSequencerReportsCrashInBuildBlock(t *testing.T) {
	c := startChain(t, transport.TCP{}, launchBinary(t, refvm.VariantCrashBuild))
	_, err := c.issueAndBuild(t, "k", "v")
	// The verdict names the call, the exit status and the plugin's last words.
	for _, want := range []string{"BuildBlock: Unavailable: ", "the plugin died during the call: exit status 2", refvm.CrashMessage} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error lacks %q: %v", want, err)
		}
	}
	<-c.seq.Plugin.Exited()
	if st := c.seq.Plugin.ExitStatus(); st != "exit status 2" {
		t.Fatalf("exit status %q", st)
	}
	if !strings.Contains(c.seq.Plugin.StderrTail(), refvm.CrashMessage) {
		t.Fatalf("tail lacks the crash message:\n%s", c.seq.Plugin.StderrTail())
	}
}

// Before protocol 42 there is no WaitForEvent and no NewHTTPHandler: the
// plugin tells the node it wants a block through messenger.Messenger/Notify,
// and the sequencer builds on those notifications.
func TestRefVMProtocol41UsesMessenger(t *testing.T) {
	bn := transport.NewBufnet()
	c := startChain(t, bn, launchInProcess(t, bn, refvm.Config{Protocol: 41}))
	checkTwoBlocks(t, c)
	var notifies int
	for _, e := range c.trace.Events() {
		switch {
		case e.Method == "/vm.VM/WaitForEvent" || e.Method == "/vm.VM/NewHTTPHandler":
			t.Fatalf("protocol 41 node called %s", e.Method)
		case e.Dir == avalanchego.DirPluginToNode && e.Method == "/messenger.Messenger/Notify":
			notifies++
		}
	}
	if notifies != 2 {
		t.Fatalf("%d Notify calls for two transactions issued into an empty mempool, want 2", notifies)
	}
	if err := c.seq.Stop(context.Background()); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// A block built on one instance is taken by another as a peer's block:
// ParseBlock -> BlockVerify -> SetPreference -> BlockAccept, and the node's
// cache answers a second parse of the same bytes (one ParseBlock call).
func TestAcceptPeerBlockParsesOnce(t *testing.T) {
	bb := transport.NewBufnet()
	builder := startChain(t, bb, launchInProcess(t, bb, refvm.Config{}))
	blk, err := builder.issueAndBuild(t, "k", "v")
	if err != nil {
		t.Fatal(err)
	}
	bn := transport.NewBufnet()
	follower := startChain(t, bn, launchInProcess(t, bn, refvm.Config{}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := follower.seq.AcceptPeerBlock(ctx, blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != blk.ID || follower.seq.LastAccepted().ID != blk.ID {
		t.Fatalf("follower accepted %s (last accepted %s), builder built %s", got.ID, follower.seq.LastAccepted().ID, blk.ID)
	}
	if _, err := follower.seq.ParseBlock(ctx, blk.Bytes); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, e := range follower.trace.Events() {
		switch m := strings.TrimPrefix(e.Method, "/vm.VM/"); m {
		case "ParseBlock", "BlockVerify", "SetPreference", "BlockAccept":
			order = append(order, m)
		}
	}
	// The first SetPreference is the end of bootstrapping.
	if want := "SetPreference,ParseBlock,BlockVerify,SetPreference,BlockAccept"; strings.Join(order, ",") != want {
		t.Fatalf("follower calls %v, want %s", order, want)
	}
}

// HTTP requests reach a CreateHandlers handler at /ext/bc/<chainID><prefix>
// and the NewHTTPHandler server with the Avalanche-Api-Route header, as
// AvalancheGo's HTTP server sends them.
func TestHTTPRequestsCarryTheirRoute(t *testing.T) {
	bn := transport.NewBufnet()
	c := startChain(t, bn, launchInProcess(t, bn, refvm.Config{}))
	if _, err := c.issueAndBuild(t, "k", "v"); err != nil {
		t.Fatal(err)
	}
	hc, err := c.node.RouteHTTP(c.seq.Plugin, c.start.HTTPHandlerAddr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hc.JSONRPC(ctx, "", "refvm.lastAccepted", nil, nil); err != nil {
		t.Fatal(err)
	}
	prefix := `url="/ext/bc/` + c.node.ChainID().String()
	var handler, routed int
	for _, e := range c.trace.Events() {
		if e.Method != "/http.HTTP/HandleSimple" {
			continue
		}
		switch {
		case strings.Contains(e.Request, `url="/"`) && strings.Contains(e.Request, "request_headers=[2]"):
			routed++ // Content-Type and Avalanche-Api-Route
		case strings.Contains(e.Request, prefix[:40]):
			handler++
		default:
			t.Errorf("HandleSimple without a route: %s", e.Request)
		}
	}
	if handler == 0 || routed != 1 {
		t.Fatalf("%d requests to the handler at %s…, %d routed by header; want some and 1", handler, prefix, routed)
	}
}
