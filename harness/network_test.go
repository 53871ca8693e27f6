package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/fakes/refvm"
	"github.com/vmtestbed/vmtestbed/internal/buildbin"
	"github.com/vmtestbed/vmtestbed/sim"
)

func newTestNetwork(t testing.TB, cfg NetworkConfig) *Network {
	t.Helper()
	n, err := NewNetwork(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("close network: %v", err)
		}
	})
	return n
}

// buildBlock issues key on node, builds a block there and runs until every
// running node has accepted height.
func buildBlock(tb testing.TB, n *Network, node, key string, height uint64) {
	tb.Helper()
	if err := n.Issue(node, key, "v"); err != nil {
		tb.Fatal(err)
	}
	if err := n.Build(node); err != nil {
		tb.Fatal(err)
	}
	if err := n.RunUntilHeight(height, time.Minute); err != nil {
		tb.Fatal(err)
	}
}

// agreeAt checks every running node accepted the same block at heights 1..h.
func agreeAt(t *testing.T, n *Network, h uint64) {
	t.Helper()
	for height := uint64(1); height <= h; height++ {
		var first string
		for _, s := range n.Nodes() {
			if !s.Up() {
				continue
			}
			b, ok := s.AcceptedAt(height)
			if !ok {
				t.Fatalf("%s has no block at height %d (%s)", s.Name, height, n.Heights())
			}
			if first == "" {
				first = b.ID.String()
			} else if b.ID.String() != first {
				t.Fatalf("height %d: %s has %s, another node %s", height, s.Name, b.ID, first)
			}
		}
	}
}

func countEvents(n *Network, match func(sim.Event) bool) map[string]int {
	out := map[string]int{}
	for _, ev := range n.Trace().Events() {
		if match(ev) {
			out[ev.Node]++
		}
	}
	return out
}

func TestNetworkThreeNodesBuildAndAgree(t *testing.T) {
	n := newTestNetwork(t, NetworkConfig{Seed: 1})
	for i := range 3 {
		node := fmt.Sprintf("n%d", i+1)
		buildBlock(t, n, node, fmt.Sprintf("k%d", i), uint64(i+1))
	}
	agreeAt(t, n, 3)
	// The follower path is the real one, and gossip and pings were routed.
	for _, name := range []string{"vm.VM/ParseBlock", "vm.VM/BlockVerify", "vm.VM/SetPreference", "vm.VM/BlockAccept", "vm.VM/AppGossip", "vm.VM/AppRequest", "vm.VM/AppResponse"} {
		got := countEvents(n, func(ev sim.Event) bool { return ev.Name == name })
		for _, node := range []string{"n1", "n2", "n3"} {
			if got[node] == 0 {
				t.Errorf("no %s on %s", name, node)
			}
		}
	}
	// A plugin's AppSender call nests under the call it served.
	events := n.Trace().Events()
	spans := map[uint64]sim.Event{}
	for _, ev := range events {
		if ev.Span != 0 {
			spans[ev.Span] = ev
		}
	}
	nested := 0
	for _, ev := range events {
		switch {
		case ev.Name == "appsender.AppSender/SendAppGossip":
			if parent, ok := spans[ev.Parent]; !ok || parent.Name != "http.HTTP/HandleSimple" || parent.Seq > ev.Seq {
				t.Fatalf("gossip %+v is not nested under the HandleSimple that issued it", ev)
			}
			nested++
		case ev.Kind == sim.KindSend && ev.Name == "app-gossip":
			if parent := spans[ev.Parent]; parent.Name != "appsender.AppSender/SendAppGossip" {
				t.Fatalf("gossip message %+v is not nested under the plugin's SendAppGossip", ev)
			}
		case ev.Kind == sim.KindDeliver && ev.Name == "app-gossip":
			if parent := spans[ev.Parent]; parent.Kind != sim.KindSend || parent.Name != "app-gossip" || parent.To != ev.Node {
				t.Fatalf("gossip delivery %+v does not name its send", ev)
			}
		}
	}
	if nested != 3 {
		t.Fatalf("%d nested gossip sends, want 3", nested)
	}
}

// conflict has n1 and n2 propose competing blocks at the same instant.
func conflict(t *testing.T, cfg NetworkConfig) (*Network, error) {
	t.Helper()
	n := newTestNetwork(t, cfg)
	for _, node := range []string{"n1", "n2"} {
		if err := n.Issue(node, "key-"+node, "v"); err != nil {
			t.Fatal(err)
		}
	}
	for _, node := range []string{"n1", "n2"} {
		if err := n.Build(node); err != nil {
			t.Fatal(err)
		}
	}
	return n, n.RunUntilHeight(1, time.Minute)
}

func TestNetworkConflictOneBlockWinsEverywhere(t *testing.T) {
	n, err := conflict(t, NetworkConfig{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	agreeAt(t, n, 1)
	winner, _ := n.Node("n1").AcceptedAt(1)
	rejects := countEvents(n, func(ev sim.Event) bool { return ev.Kind == sim.KindDecide && ev.Name == "reject" })
	for _, node := range []string{"n1", "n2", "n3"} {
		if rejects[node] != 1 {
			t.Errorf("%s rejected %d blocks, want the 1 loser (winner %s)", node, rejects[node], winner.ID)
		}
	}
	// The loser's transaction went back to its builder's mempool and
	// makes it into the next block.
	for _, node := range []string{"n1", "n2"} {
		if err := n.Build(node); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.RunUntilHeight(2, time.Minute); err != nil {
		t.Fatal(err)
	}
	agreeAt(t, n, 2)
}

func TestNetworkSameSeedSameTrace(t *testing.T) {
	trace := func(seed int64) []byte {
		n, err := conflict(t, NetworkConfig{Seed: seed, Link: sim.Link{Latency: sim.Normal{Mean: 20 * time.Millisecond, StdDev: 10 * time.Millisecond}, Duplicate: 0.1, Reorder: 0.1}})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := n.Trace().WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	a, b := trace(7), trace(7)
	if !bytes.Equal(a, b) {
		t.Fatalf("seed 7 gave two traces:\n%s", diffLines(string(a), string(b)))
	}
	if bytes.Equal(a, trace(8)) {
		t.Fatal("seeds 7 and 8 gave the same trace")
	}
	evs, err := sim.ReadEventsJSON(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	init := map[string]int{}
	for _, ev := range evs {
		if ev.Name == "vm.VM/Initialize" {
			init[ev.Node] = ev.Seq
		}
		if ev.Kind == sim.KindCall && ev.To == "plugin" && ev.Name != "vm.VM/Initialize" && (init[ev.Node] == 0 || init[ev.Node] > ev.Seq) {
			t.Fatalf("%s on %s (seq %d) comes before Initialize", ev.Name, ev.Node, ev.Seq)
		}
	}
}

func TestNetworkPartitionAndHeal(t *testing.T) {
	n := newTestNetwork(t, NetworkConfig{Seed: 4})
	n.Partition([]string{"n1"}, []string{"n2", "n3"})
	if err := n.Run(100 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// Connected/Disconnected follow the topology.
	disc := countEvents(n, func(ev sim.Event) bool { return ev.Name == "vm.VM/Disconnected" })
	if disc["n1"] != 2 || disc["n2"] != 1 || disc["n3"] != 1 {
		t.Fatalf("Disconnected calls %v, want n1:2 n2:1 n3:1", disc)
	}
	// The minority proposes too but cannot decide alone.
	for _, node := range []string{"n1", "n2"} {
		if err := n.Issue(node, "key-"+node, "v"); err != nil {
			t.Fatal(err)
		}
		if err := n.Build(node); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Run(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if h := n.Node("n1").LastAccepted().Height; h != 0 {
		t.Fatalf("the isolated node accepted height %d", h)
	}
	if n.Node("n2").LastAccepted().Height != 1 || n.Node("n3").LastAccepted().Height != 1 {
		t.Fatalf("the majority did not decide: %s", n.Heights())
	}
	n.Heal()
	if err := n.RunUntilHeight(1, time.Minute); err != nil {
		t.Fatal(err)
	}
	agreeAt(t, n, 1)
	if rej := countEvents(n, func(ev sim.Event) bool { return ev.Kind == sim.KindDecide && ev.Name == "reject" }); rej["n1"] != 1 {
		t.Fatalf("n1 rejected %d of its blocks after the heal, want 1", rej["n1"])
	}
	// The liveness check after the heal passes.
	if err := n.Run(time.Minute); err != nil {
		t.Fatal(err)
	}
}

func TestNetworkLaggingNodeBootstraps(t *testing.T) {
	n := newTestNetwork(t, NetworkConfig{Seed: 5, MaxAncestors: 2})
	if err := n.Fault(sim.FaultCrash, "n3", ""); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		node := []string{"n1", "n2"}[i%2]
		buildBlock(t, n, node, fmt.Sprint("k", i), uint64(i+1))
	}
	if err := n.Fault(sim.FaultRestart, "n3", ""); err != nil {
		t.Fatal(err)
	}
	if err := n.RunUntil(func() bool { return n.Node("n3").State() == "normal" }, time.Minute); err != nil {
		t.Fatal(err)
	}
	if h := n.Node("n3").LastAccepted().Height; h != 5 {
		t.Fatalf("n3 bootstrapped to height %d, want 5", h)
	}
	agreeAt(t, n, 5)
	anc := countEvents(n, func(ev sim.Event) bool { return ev.Name == "vm.VM/GetAncestors" })
	if anc["n1"]+anc["n2"] < 3 {
		t.Fatalf("GetAncestors calls %v: 5 blocks 2 at a time need 3", anc)
	}
	// and it takes part afterwards
	buildBlock(t, n, "n3", "after", 6)
	agreeAt(t, n, 6)
}

func TestNetworkAppRequestFailsWhenUnanswered(t *testing.T) {
	n := newTestNetwork(t, NetworkConfig{Seed: 6, AppRequestTimeout: 2 * time.Second})
	// n1's requests to n2 are lost from now on; a reconnection makes n1
	// ping n2 again.
	if err := n.Fault(sim.FaultDrop, "n1->n2", ""); err != nil {
		t.Fatal(err)
	}
	n.Partition([]string{"n1", "n3"}, []string{"n2"})
	if err := n.Run(time.Second); err != nil {
		t.Fatal(err)
	}
	n.Heal()
	if err := n.Run(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	failed := false
	for _, ev := range n.Trace().Events() {
		if ev.Node == "n1" && ev.Name == "vm.VM/AppRequestFailed" && strings.HasPrefix(ev.Detail, "n2 ") && strings.Contains(ev.Detail, "code -1") {
			failed = true
		}
	}
	if !failed {
		t.Fatal("n1 never got AppRequestFailed for its unanswered ping to n2")
	}
}

func TestNetworkBrokenVariantBreaksAgreement(t *testing.T) {
	_, err := conflict(t, NetworkConfig{Seed: 9, Variants: []string{refvm.VariantAcceptOnReject, refvm.VariantAcceptOnReject, refvm.VariantAcceptOnReject}})
	var v *sim.Violation
	if !errors.As(err, &v) {
		t.Fatalf("got %v, want an invariant violation", err)
	}
	if v.Invariant != InvAgreement || v.Height != 1 || v.Seed != 9 || v.Node == "" {
		t.Fatalf("violation %+v, want agreement at height 1 with seed 9", v)
	}
	for _, want := range []string{"agreement", "node " + v.Node, "height 1", "seed 9"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not name %q", err, want)
		}
	}
}

func TestNetworkStallHoldsDeliveries(t *testing.T) {
	n := newTestNetwork(t, NetworkConfig{Seed: 10})
	if err := n.Fault(sim.FaultStall, "n3", ""); err != nil {
		t.Fatal(err)
	}
	if err := n.Issue("n1", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := n.Build("n1"); err != nil {
		t.Fatal(err)
	}
	if err := n.RunUntil(func() bool { return n.Node("n1").LastAccepted().Height == 1 }, time.Minute); err != nil {
		t.Fatal(err)
	}
	if h := n.Node("n3").LastAccepted().Height; h != 0 {
		t.Fatalf("stalled n3 accepted height %d", h)
	}
	if err := n.Fault(sim.FaultResume, "n3", ""); err != nil {
		t.Fatal(err)
	}
	if err := n.RunUntilHeight(1, time.Minute); err != nil {
		t.Fatal(err)
	}
	agreeAt(t, n, 1)
}

func TestNetworkLivenessFiresWhenANodeNeverCatchesUp(t *testing.T) {
	n := newTestNetwork(t, NetworkConfig{Seed: 11, LivenessWindow: 10 * time.Second})
	n.Partition([]string{"n1"}, []string{"n2", "n3"})
	if err := n.Issue("n2", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := n.Build("n2"); err != nil {
		t.Fatal(err)
	}
	if err := n.Run(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	// After the heal, everything n1 is sent is lost: it never catches up.
	for _, l := range []string{"n2->n1", "n3->n1"} {
		if err := n.Fault(sim.FaultDrop, l, ""); err != nil {
			t.Fatal(err)
		}
	}
	n.Heal()
	err := n.Run(time.Minute)
	var v *sim.Violation
	if !errors.As(err, &v) || v.Invariant != InvLiveness || v.Node != "n1" || v.Height != 0 || v.Seed != 11 {
		t.Fatalf("got %v, want a liveness violation on n1 at height 0 with seed 11", err)
	}
}

func TestNetworkChanceFaultsCrashAndRestart(t *testing.T) {
	n := newTestNetwork(t, NetworkConfig{Seed: 12})
	f := n.World.Faults()
	f.Chance(sim.FaultCrash, "n3", 0.05, "")
	f.Chance(sim.FaultRestart, "n3", 0.3, "")
	for i := range 10 {
		node := []string{"n1", "n2"}[i%2]
		if err := n.Issue(node, fmt.Sprint("k", i), "v"); err != nil {
			t.Fatal(err)
		}
		if err := n.Build(node); err != nil {
			t.Fatal(err)
		}
		if err := n.RunUntil(func() bool {
			return n.Node("n1").LastAccepted().Height > uint64(i) && n.Node("n2").LastAccepted().Height > uint64(i)
		}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	crashes := countEvents(n, func(ev sim.Event) bool { return ev.Kind == sim.KindFault && ev.Name == sim.FaultCrash })
	if crashes["n3"] == 0 {
		t.Fatal("a 5% crash chance per delivery never fired in 10 blocks")
	}
	f.Chance(sim.FaultCrash, "n3", 0, "")
	n.World.Faults().Chance(sim.FaultRestart, "n3", 1, "")
	if !n.Node("n3").Up() {
		if err := n.Fault(sim.FaultRestart, "n3", ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.RunUntil(func() bool { return n.Node("n3").State() == "normal" && n.Node("n3").LastAccepted().Height == 10 }, time.Minute); err != nil {
		t.Fatalf("%v (%s)", err, n.Heights())
	}
	agreeAt(t, n, 10)
}

func TestNetworkSlowNodeStillAgrees(t *testing.T) {
	n := newTestNetwork(t, NetworkConfig{Seed: 13})
	if err := n.Fault(sim.FaultSlow, "n2", "300ms"); err != nil {
		t.Fatal(err)
	}
	buildBlock(t, n, "n1", "k", 1)
	agreeAt(t, n, 1)
}

// Lossy, duplicating, reordering links and repeated partitions of n1, over
// many seeds: every invariant holds and the network agrees in the end.
// (Crashes are left out: a node that loses its Snowball state mid-decision
// can break agreement with 3 validators and K=3, alpha=2; the invariants
// then report it, which TestNetworkBrokenVariantBreaksAgreement covers.)
func TestNetworkRandomFaultsKeepInvariants(t *testing.T) {
	seeds := 20
	if testing.Short() {
		seeds = 5
	}
	for seed := int64(100); seed < int64(100+seeds); seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			n := newTestNetwork(t, NetworkConfig{Seed: seed, Link: sim.Link{
				Latency: sim.Normal{Mean: 20 * time.Millisecond, StdDev: 15 * time.Millisecond}, Loss: 0.05, Duplicate: 0.05, Reorder: 0.1}})
			for i := range 15 {
				node := []string{"n1", "n2"}[i%2]
				if err := n.Issue(node, fmt.Sprint("k", i), "v"); err != nil {
					t.Fatal(err)
				}
				if err := n.Build(node); err != nil {
					t.Fatal(err)
				}
				switch i % 5 {
				case 2:
					n.Partition([]string{"n1"}, []string{"n2", "n3"})
				case 4:
					n.Heal()
				}
				if err := n.Run(2 * time.Second); err != nil {
					t.Fatalf("%v (%s)", err, n.Heights())
				}
			}
			if err := n.Run(time.Minute); err != nil {
				t.Fatalf("%v (%s)", err, n.Heights())
			}
			h := n.Node("n2").LastAccepted().Height
			agreeAt(t, n, h)
			if n.Node("n1").LastAccepted().ID != n.Node("n2").LastAccepted().ID {
				t.Fatalf("no agreement after a minute: %s", n.Heights())
			}
		})
	}
}

func TestNetworkStepsAtVirtualTimes(t *testing.T) {
	n := newTestNetwork(t, NetworkConfig{Seed: 14})
	t0 := n.World.Elapsed()
	n.At(t0+time.Second, "issue on n2", func() error { return n.Issue("n2", "k", "v") })
	n.At(t0+time.Second, "build on n2", func() error { return n.Build("n2") })
	n.At(t0+3*time.Second, "expect height 1", func() error {
		if h := n.Node("n3").LastAccepted().Height; h != 1 {
			return fmt.Errorf("n3 at height %d", h)
		}
		return nil
	})
	n.At(t0+4*time.Second, "issue on a node that does not exist", func() error { return n.Issue("n9", "k", "v") })
	err := n.Run(10 * time.Second)
	if err == nil || !strings.Contains(err.Error(), "issue on a node that does not exist: no node \"n9\"") {
		t.Fatalf("got %v, want the failing step named", err)
	}
	if n.World.Elapsed() != t0+4*time.Second {
		t.Fatalf("the world ran on to %s after the failing step at %s", n.World.Elapsed(), t0+4*time.Second)
	}
}

// TestNetworkPluginBinary: every node launches the reference VM's binary in
// its own process; the nodes agree on a built block, and a crashed node
// restarts and bootstraps to it. (Outside the determinism guarantee.)
func TestNetworkPluginBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the refvm binary")
	}
	bin, err := buildbin.Build("./cmd/refvm", "")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n := newTestNetwork(t, NetworkConfig{Seed: 3, Nodes: 3, Plugin: bin})
	if err := n.StopNode("n3"); err != nil {
		t.Fatal(err)
	}
	buildBlock(t, n, "n1", "k", 1)
	if err := n.StartNode("n3"); err != nil {
		t.Fatal(err)
	}
	la, _ := n.LastAccepted("n1")
	if err := n.RunUntil(func() bool { return n.NodeState("n3") == stateNormal && n.PluginLastAccepted("n3") == la.ID }, time.Minute); err != nil {
		t.Fatalf("n3 did not bootstrap to %s: %v (heights %s)", la.ID, err, n.Heights())
	}
	agreeAt(t, n, 1)
	t.Logf("3 plugin processes, a block and a restart: %s", time.Since(start))
}

// TestNetworkLinksApplyFromTheStart: a per-direction link is in force while
// the nodes start, not only from the first step.
func TestNetworkLinksApplyFromTheStart(t *testing.T) {
	slow := sim.Link{Latency: sim.Fixed(300 * time.Millisecond)}
	n, err := NewNetwork(context.Background(), NetworkConfig{Seed: 1, Links: []LinkSpec{{From: "n1", To: "n2", Link: slow}}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if got := n.World.Net().LinkOf("n1", "n2"); got.String() != slow.String() {
		t.Errorf("link n1->n2 is %s, want %s", got, slow)
	}
	// Start-up crossed it: the first delivery n1 -> n2 came at least 300 ms after its send.
	for _, e := range n.Trace().Events() {
		if e.Kind == sim.KindDeliver && e.From == "n1" && e.To == "n2" {
			if e.At < 300*time.Millisecond {
				t.Errorf("a start-up message n1->n2 arrived at %s, before the link's 300ms", e.At)
			}
			return
		}
	}
	t.Error("no message n1->n2 during start-up")
}
