package fidelity_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/fidelity/fidelitytest"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recording"
	"github.com/vmtestbed/vmtestbed/fakes/refvm"
	"github.com/vmtestbed/vmtestbed/internal/buildbin"
)

// goleveldb's mpoolDrain lingers up to one second after DB.Close by design.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"))
}

// TestRulesHoldOnRealRecordings is the self-check: every rule holds on
// every committed session of the real AvalancheGo v1.14.2, and each is
// witnessed by at least one of them, so the rules say what the real node
// does rather than what we expected of it.
func TestRulesHoldOnRealRecordings(t *testing.T) {
	sessions := fidelitytest.RealSessions(t)
	rules := fidelitytest.Rules(t)
	kinds := map[bool]int{}
	for _, s := range sessions {
		kinds[s.IsChain()]++
	}
	if kinds[true] == 0 || kinds[false] == 0 {
		t.Fatalf("%d chain and %d pre-init sessions: the rules need both", kinds[true], kinds[false])
	}
	o := fidelitytest.Evaluate(rules, sessions)
	for _, err := range append(o.Failed, o.Known...) {
		t.Errorf("the real node breaks a rule: %v", err)
	}
	for i := range rules {
		if o.Witnessed[i] == 0 {
			t.Errorf("%s: no real session gives the rule anything to check; a rule must be derived from the recordings", &rules[i])
		}
	}
	t.Logf("%d rules hold on %d real sessions (%d chain, %d pre-init)", len(rules), len(sessions), kinds[true], kinds[false])
}

func refvmRun(t *testing.T) fidelitytest.Run {
	bin, err := buildbin.Build("./cmd/refvm", "")
	if err != nil {
		t.Fatal(err)
	}
	return fidelitytest.Run{
		Plugin: bin,
		// A real chain has the genesis of its CreateChainTx; refvm's is JSON.
		Node:   avalanchego.NodeConfig{Genesis: []byte(`{"timestamp":1700000000}`)},
		Peers:  1, // as the 2-node recording: Connected and GetAccepted for a peer too
		Blocks: 3,
		Issue: func(ctx context.Context, c *fidelitytest.Chain, i int) error {
			hc, err := c.Handler(refvm.RPCPrefix)
			if err != nil {
				return err
			}
			defer hc.Close()
			return hc.JSONRPC(ctx, "", "refvm.issueTx", map[string]string{"key": "k" + string(rune('a'+i)), "value": "v"}, nil)
		},
	}
}

// TestFakeNodeDrivingRefVM: the fake node drives refvm behind the recorder
// through pre-init, chain start (one peer), three blocks and stop; every
// rule holds on its two sessions, or breaks as the fidelity ledger says.
func TestFakeNodeDrivingRefVM(t *testing.T) {
	// The rules mean something only next to the recordings they come from.
	fidelitytest.RealSessions(t)
	sessions := fidelitytest.Record(t, refvmRun(t))
	fidelitytest.CheckFake(t, sessions)
}

// TestMisbehavingFakeIsCaught: the checker can fail. A fake that asks for
// the Version in the chain process (as the real node never does) breaks
// "chain never Version"; recordings edited so that CreateHandlers goes out
// before Initialize, or a WaitForEvent stays open across Shutdown (the fake
// before FIX-1), break the order rules, each failure naming its rule.
func TestMisbehavingFakeIsCaught(t *testing.T) {
	run := refvmRun(t)
	run.Blocks = 1
	run.Misbehave = func(ctx context.Context, c *fidelitytest.Chain) error {
		_, err := c.Plugin.VM.Version(ctx, &emptypb.Empty{})
		return err
	}
	sessions := fidelitytest.Record(t, run)
	rules := fidelitytest.Rules(t)
	o := fidelitytest.Evaluate(rules, sessions)
	requireFailure(t, o.Failed, "chain never Version` broken by session fake/2-chain: 1 Version calls, want none: Version (seq")

	// The same chain session with Initialize and CreateHandlers swapped.
	chain := sessions[1]
	if !chain.IsChain() {
		t.Fatalf("session %s is no chain session", chain.Name)
	}
	edited := swapStarts(t, chain, "/vm.VM/Initialize", "/vm.VM/CreateHandlers")
	o = fidelitytest.Evaluate(rules, []*recording.Session{edited})
	requireFailure(t, o.Failed, "chain first Initialize` broken by session fake/2-chain: the first call is CreateHandlers")
	requireFailure(t, o.Failed, "chain before Initialize CreateHandlers` broken by session fake/2-chain: Initialize (seq")

	// The fake as it was before docs/FIDELITY.md FIX-1: the loop's last
	// WaitForEvent still open when Shutdown starts, cut off by the exit.
	edited = keepWaitOpenAcrossShutdown(t, chain)
	o = fidelitytest.Evaluate(rules, []*recording.Session{edited})
	requireFailure(t, o.Failed, "chain closed-at WaitForEvent Shutdown` broken by session fake/2-chain: WaitForEvent (seq")
	requireFailure(t, o.Failed, "chain field WaitForEvent code ~ ^(OK|Canceled)$` broken by session fake/2-chain: WaitForEvent (seq")
}

// keepWaitOpenAcrossShutdown ends the last WaitForEvent of s after its
// Shutdown started, with the Unavailable a plugin's exit gives it.
func keepWaitOpenAcrossShutdown(t *testing.T, s *recording.Session) *recording.Session {
	t.Helper()
	out := *s
	out.Calls = append([]recording.Call(nil), s.Calls...)
	wait, shut := -1, -1
	for i, c := range out.Calls {
		switch c.Method {
		case "/vm.VM/WaitForEvent":
			wait = i
		case "/vm.VM/Shutdown":
			shut = i
		}
	}
	if wait < 0 || shut < 0 || out.Calls[wait].Seq > out.Calls[shut].Seq {
		t.Fatalf("no WaitForEvent before a Shutdown in %s", s.Name)
	}
	end := out.Calls[shut].StartNS + 1000
	out.Calls[wait].EndNS, out.Calls[wait].Code, out.Calls[wait].Response = &end, "Unavailable", nil
	return &out
}

// swapStarts exchanges the start order of the first a and b calls of s.
func swapStarts(t *testing.T, s *recording.Session, a, b string) *recording.Session {
	t.Helper()
	out := *s
	out.Calls = append([]recording.Call(nil), s.Calls...)
	ia, ib := -1, -1
	for i, c := range out.Calls {
		if c.Dir != recording.NodeToPlugin {
			continue
		}
		if c.Method == a && ia < 0 {
			ia = i
		}
		if c.Method == b && ib < 0 {
			ib = i
		}
	}
	if ia < 0 || ib < 0 {
		t.Fatalf("no %s or %s in %s", a, b, s.Name)
	}
	ca, cb := &out.Calls[ia], &out.Calls[ib]
	ca.Seq, cb.Seq = cb.Seq, ca.Seq
	ca.StartNS, cb.StartNS = cb.StartNS, ca.StartNS
	ca.EndNS, cb.EndNS = cb.EndNS, ca.EndNS
	return &out
}

func requireFailure(t *testing.T, failed []error, want string) {
	t.Helper()
	for _, err := range failed {
		if strings.Contains(err.Error(), want) {
			return
		}
	}
	t.Errorf("no failure containing %q among %d: %v", want, len(failed), errors.Join(failed...))
}

// The ledger rows the rules point at exist (CheckFake also checks this).
func TestKnownDifferencesAreInTheLedger(t *testing.T) {
	ids := fidelitytest.LedgerIDs(t)
	if len(ids) == 0 {
		t.Fatalf("no ledger rows in %s", fidelitytest.LedgerFile)
	}
	for _, r := range fidelitytest.Rules(t) {
		if r.KnownDifference != "" && !ids[r.KnownDifference] {
			t.Errorf("%s: no row %s in %s", &r, r.KnownDifference, fidelitytest.LedgerFile)
		}
	}
}
