package avalanchego_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ava-labs/avalanchego/ids"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rpcdbpb "github.com/ava-labs/avalanchego/proto/pb/rpcdb"
	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/transport"
)

// The chain start in the order calls reach the VM (rpcchainvm.md, "Call
// sequence" 2-4, and the recordings of a v1.14.2 node): Connected for the
// node itself, then the bootstrapping WaitForEvent is opened (it may reach
// the VM before or after a peer's Connected) and is still open at
// SetPreference; one GetBlockIDAtHeight(0), for the node's own GetAccepted
// query; no Version.
func TestStartOrderAsAvalancheGo(t *testing.T) {
	v := &scriptVM{}
	peer := ids.GenerateTestNodeID()
	startScripted(t, v, avalanchego.NodeConfig{}, &avalanchego.Sequencer{Peers: []ids.NodeID{peer}, HealthPeriod: -1}, avalanchego.LaunchConfig{})
	want := []string{
		"Initialize", "CreateHandlers", "NewHTTPHandler", "StateSyncEnabled", "SetState(STATE_BOOTSTRAPPING)",
		"Connected", "Connected", "GetBlockIDAtHeight(0)", "SetPreference",
		"SetState(STATE_NORMAL_OP)", "WaitForEvent",
	}
	waitFor(t, "the loop's first WaitForEvent", func() bool {
		calls, _, _, _, _, _ := v.snapshot()
		return len(calls) >= len(want)+1
	})
	calls, _, _, _, _, conns := v.snapshot()
	boot := slices.Index(calls, "WaitForEvent")
	if boot < slices.Index(calls, "Connected") || boot > slices.Index(calls, "SetPreference") {
		t.Fatalf("the bootstrapping WaitForEvent is not open between Connected(self) and SetPreference: %v", calls)
	}
	rest := slices.Delete(slices.Clone(calls), boot, boot+1)
	if got := rest[:min(len(rest), len(want))]; !slices.Equal(got, want) {
		t.Fatalf("call order\n got %v\nwant %v (and one WaitForEvent before SetPreference)", calls, want)
	}
	if slices.Contains(calls, "Version") {
		t.Fatal("Version asked in the chain process; AvalancheGo asks it only in pre-init")
	}
	// Connected announces the release of the emulated protocol.
	for _, c := range conns {
		if c.GetName() != "avalanchego" || c.GetMajor() != 1 || c.GetMinor() != 15 || c.GetPatch() != 0 {
			t.Fatalf("Connected announced %s/%d.%d.%d, want avalanchego/1.15.0", c.GetName(), c.GetMajor(), c.GetMinor(), c.GetPatch())
		}
	}
}

func TestConnectedAnnouncesConfiguredRelease(t *testing.T) {
	v := &scriptVM{}
	startScripted(t, v, avalanchego.NodeConfig{NodeVersion: "avalanchego/1.14.2"}, &avalanchego.Sequencer{HealthPeriod: -1}, avalanchego.LaunchConfig{})
	_, _, _, _, _, conns := v.snapshot()
	if len(conns) != 1 || conns[0].GetMinor() != 14 || conns[0].GetPatch() != 2 {
		t.Fatalf("Connected %v, want 1.14.2 once", conns)
	}
}

// A failing WaitForEvent is asked again after 100 ms, as AvalancheGo's
// NotificationForwarder does, instead of ending the loop.
func TestWaitForEventRetriedAfterError(t *testing.T) {
	v := &scriptVM{waitFails: 2, build: true}
	seq := startScripted(t, v, avalanchego.NodeConfig{}, &avalanchego.Sequencer{HealthPeriod: -1}, avalanchego.LaunchConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case msg, ok := <-seq.Events():
		if !ok || msg != vmpb.Message_MESSAGE_BUILD_BLOCK {
			t.Fatalf("event %v (open %v), loop error %v", msg, ok, seq.LoopErr())
		}
	case <-ctx.Done():
		t.Fatalf("no event after two failed WaitForEvent calls; loop error %v", seq.LoopErr())
	}
	_, _, _, _, errs, _ := v.snapshot()
	if len(errs) != 2 || errs[1].Sub(errs[0]) < 90*time.Millisecond {
		t.Fatalf("failed WaitForEvent calls at %v, want two at least 100 ms apart", errs)
	}
	if err := seq.LoopErr(); err == nil || !strings.Contains(err.Error(), "WaitForEvent: Internal: scripted failure") {
		t.Fatalf("loop error %v", err)
	}
}

// Stop cancels the loop's pending WaitForEvent (the v1.14.2 recordings show
// it ending Canceled just before Shutdown), sends Shutdown once and waits
// for it however long it takes (no limit by default), and stops the node's
// services before the plugin is terminated.
func TestStopCancelsWaitForEventAndShutsDownOnce(t *testing.T) {
	v := &scriptVM{shutdown: 300 * time.Millisecond}
	seq := startScripted(t, v, avalanchego.NodeConfig{}, &avalanchego.Sequencer{HealthPeriod: -1}, avalanchego.LaunchConfig{})
	waitFor(t, "the loop's WaitForEvent", func() bool {
		_, waiting, _, _, _, _ := v.snapshot()
		return waiting > 0
	})
	if err := seq.Stop(context.Background()); err != nil {
		t.Fatalf("stop: %v", err)
	}
	calls, _, _, _, _, _ := v.snapshot()
	if n := strings.Count(strings.Join(calls, ","), "Shutdown"); n != 1 {
		t.Fatalf("Shutdown sent %d times, want once: %v", n, calls)
	}
	if events, open := <-seq.Events(); open {
		t.Fatalf("the WaitForEvent loop still delivers (%v) after Stop", events)
	}
	// The node's rpcdb server is gone: a plugin writing after Shutdown fails.
	db := rpcdbpb.NewDatabaseClient(dialNodeDB(t, seq))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := db.Put(ctx, &rpcdbpb.PutRequest{Key: []byte("k"), Value: []byte("v")}); status.Code(err) != codes.Unavailable && status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("rpcdb Put after Stop: %v, want the server gone", err)
	}
}

// A Shutdown that takes longer than LaunchConfig.ShutdownTimeout, when one
// is set, is cut and reported.
func TestShutdownTimeoutWhenSet(t *testing.T) {
	v := &scriptVM{shutdown: 2 * time.Second}
	seq := startScripted(t, v, avalanchego.NodeConfig{}, &avalanchego.Sequencer{HealthPeriod: -1}, avalanchego.LaunchConfig{ShutdownTimeout: 100 * time.Millisecond})
	err := seq.Stop(context.Background())
	if err == nil || !strings.Contains(err.Error(), "Shutdown: DeadlineExceeded") {
		t.Fatalf("stop error %v, want the Shutdown deadline named", err)
	}
}

func TestHealthAndGatherLoops(t *testing.T) {
	v := &scriptVM{}
	seq := startScripted(t, v, avalanchego.NodeConfig{}, &avalanchego.Sequencer{HealthPeriod: 10 * time.Millisecond, GatherPeriod: 10 * time.Millisecond}, avalanchego.LaunchConfig{})
	waitFor(t, "two health checks and two scrapes", func() bool {
		_, _, health, gather, _, _ := v.snapshot()
		return health >= 2 && gather >= 2
	})
	n, details, err := seq.HealthChecks()
	if n < 2 || err != nil || string(details) != `{"ok":true}` {
		t.Fatalf("health checks %d, details %s, error %v", n, details, err)
	}
	if err := seq.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestStopLetsHealthInFlightFinish: a Health call in flight when Stop
// begins is not cancelled (a cancelled call can still reach the plugin after
// Shutdown, which the real node's recordings never show): Stop waits for
// it, and Shutdown comes after it returned.
func TestStopLetsHealthInFlightFinish(t *testing.T) {
	v := &scriptVM{healthHold: make(chan struct{}), healthIn: make(chan struct{}), healthCancelled: make(chan struct{})}
	seq := startScripted(t, v, avalanchego.NodeConfig{}, &avalanchego.Sequencer{HealthPeriod: 5 * time.Millisecond}, avalanchego.LaunchConfig{})
	select {
	case <-v.healthIn:
	case <-time.After(10 * time.Second):
		t.Fatal("no Health call within 10 s")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- seq.Stop(context.Background()) }()
	// A negative check needs a bound: the old Stop cancelled the call at
	// once, well within it. (The order check below fails on it too.)
	bound := time.NewTimer(300 * time.Millisecond)
	select {
	case <-v.healthCancelled:
		t.Error("Stop cancelled the Health call in flight")
	case <-bound.C:
	}
	close(v.healthHold)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	calls, _, _, _, _, _ := v.snapshot()
	returned, shutdown := slices.Index(calls, "Health returned"), slices.Index(calls, "Shutdown")
	if returned < 0 || shutdown < returned {
		t.Errorf("calls %v: want Shutdown after the held Health returned", calls)
	}
}

// dialNodeDB dials the node's rpcdb address on the sequencer's transport.
func dialNodeDB(t *testing.T, seq *avalanchego.Sequencer) *grpc.ClientConn {
	t.Helper()
	c, err := transport.Dial(seq.Plugin.Transport, seq.Node.DBServerAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
