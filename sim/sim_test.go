package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// toyWorld runs a gossip toy on three endpoints over lossy, duplicating,
// reordering links with a partition and a heal, and returns the trace.
func toyWorld(t *testing.T, seed int64) []byte {
	t.Helper()
	w := New(Config{Seed: seed})
	n := w.Net()
	n.SetDefault(Link{Latency: Normal{Mean: 10 * time.Millisecond, StdDev: 4 * time.Millisecond}, Loss: 0.1, Duplicate: 0.1, Reorder: 0.2})
	nodes := []string{"n1", "n2", "n3"}
	var send func(from string, hop int)
	send = func(from string, hop int) {
		if hop > 6 {
			return
		}
		to := nodes[w.Rand().IntN(len(nodes))]
		n.Send(Message{From: from, To: to, Kind: "gossip", Detail: fmt.Sprintf("hop %d", hop), Deliver: func() {
			sp := w.Trace().Begin(Event{Node: to, Kind: KindCall, Name: "vm.VM/AppGossip", From: "node", To: "plugin"})
			send(to, hop+1)
			sp.End("ok", nil)
		}})
	}
	for i, from := range nodes {
		w.At(time.Duration(i)*time.Millisecond, func() { send(from, 0) })
	}
	w.At(20*time.Millisecond, func() { n.Partition([]string{"n1"}, []string{"n2", "n3"}) })
	w.At(60*time.Millisecond, func() { n.Heal() })
	w.Faults().At(30*time.Millisecond, FaultDrop, "n2->n3", "1")
	if err := w.RunUntilIdle(time.Minute); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := w.Trace().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSameSeedSameTraceBytes(t *testing.T) {
	a, b := toyWorld(t, 7), toyWorld(t, 7)
	if !bytes.Equal(a, b) {
		t.Fatalf("seed 7 gave two traces:\n%s\n---\n%s", a, b)
	}
	if c := toyWorld(t, 8); bytes.Equal(a, c) {
		t.Fatal("seeds 7 and 8 gave the same trace")
	}
	evs, err := ReadEventsJSON(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for i, ev := range evs {
		if ev.Seq != i+1 {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
		kinds[ev.Kind] = true
	}
	for _, k := range []string{KindSend, KindDeliver, KindCall, KindTopology, KindFault} {
		if !kinds[k] {
			t.Errorf("no %s event in the toy trace", k)
		}
	}
}

func TestQueueOrderAndClock(t *testing.T) {
	w := New(Config{Seed: 1})
	var got []string
	w.At(20*time.Millisecond, func() { got = append(got, "b@"+w.Elapsed().String()) })
	w.At(10*time.Millisecond, func() {
		got = append(got, "a1@"+w.Elapsed().String())
		w.Clock().AfterFunc(0, func() { got = append(got, "a3") })
	})
	w.At(10*time.Millisecond, func() { got = append(got, "a2") })
	stopped := w.Clock().AfterFunc(15*time.Millisecond, func() { got = append(got, "never") })
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop should report pending once")
	}
	if err := w.RunUntil(15 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if w.Elapsed() != 15*time.Millisecond || !w.Now().Equal(DefaultEpoch.Add(15*time.Millisecond)) {
		t.Fatalf("clock at %s after RunUntil(15ms)", w.Elapsed())
	}
	if err := w.RunUntilIdle(time.Second); err != nil {
		t.Fatal(err)
	}
	want := "a1@10ms a2 a3 b@20ms"
	if s := strings.Join(got, " "); s != want {
		t.Fatalf("ran %q, want %q", s, want)
	}
}

func TestVirtualSleepFromAnotherGoroutine(t *testing.T) {
	w := New(Config{Seed: 1})
	woke := make(chan time.Duration, 1) // the sleeper never blocks on it
	started := make(chan struct{})
	sctx, scancel := context.WithCancel(context.Background())
	t.Cleanup(scancel) // a failing test does not leave the sleeper behind
	go func() {
		close(started)
		if err := w.Clock().Sleep(sctx, time.Hour); err != nil && sctx.Err() == nil {
			t.Error(err)
		}
		woke <- w.Elapsed()
	}()
	<-started
	// The sleeper's timer is in the queue once Pending counts it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for w.Pending() == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("sleeper never registered")
		default:
		}
		if err := (RealClock{}).Sleep(ctx, time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.RunUntilIdle(2 * time.Hour); err != nil {
		t.Fatal(err)
	}
	if at := <-woke; at != time.Hour {
		t.Fatalf("woke at %s, want 1h", at)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if err := w.Clock().Sleep(cctx, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled sleep: %v", err)
	}
}

func TestPartitionDropsAndHealRestores(t *testing.T) {
	w := New(Config{Seed: 3})
	n := w.Net()
	n.SetDefault(Link{Latency: Fixed(time.Millisecond)})
	changes := 0
	n.OnTopology(func() { changes++ })
	delivered := 0
	send := func() { n.Send(Message{From: "a", To: "b", Kind: "m", Deliver: func() { delivered++ }}) }
	n.Partition([]string{"a"}, []string{"b", "c"})
	if n.Reachable("a", "b") || !n.Reachable("b", "c") || n.Reachable("a", "x") {
		t.Fatal("wrong reachability in partition")
	}
	send()
	n.Heal()
	send()
	// in flight across a new cut: lost on arrival
	n.Partition([]string{"a"}, []string{"b"})
	if err := w.RunUntilIdle(time.Second); err != nil {
		t.Fatal(err)
	}
	if delivered != 0 || changes != 3 {
		t.Fatalf("delivered %d (want 0), %d topology changes (want 3)", delivered, changes)
	}
	n.Heal()
	send()
	if err := w.RunUntilIdle(time.Second); err != nil {
		t.Fatal(err)
	}
	if delivered != 1 {
		t.Fatalf("delivered %d after heal, want 1", delivered)
	}
}

func TestFaultsScriptAndChance(t *testing.T) {
	w := New(Config{Seed: 5})
	n := w.Net()
	n.SetDefault(Link{Latency: Fixed(time.Millisecond)})
	var fired []string
	w.Faults().Handle(FaultCrash, func(target, arg string) error { fired = append(fired, "crash "+target); return nil })
	w.Faults().At(time.Second, FaultCrash, "n1", "")
	if err := w.Faults().Fire(FaultDrop, "a->b", "2"); err != nil {
		t.Fatal(err)
	}
	if err := w.Faults().Fire(FaultDelay, "a->c", "1s"); err != nil {
		t.Fatal(err)
	}
	got := map[string]time.Duration{}
	for i := range 3 {
		n.Send(Message{From: "a", To: "b", Kind: "m", Deliver: func() { got[fmt.Sprint("b", i)] = w.Elapsed() }})
	}
	n.Send(Message{From: "a", To: "c", Kind: "m", Deliver: func() { got["c"] = w.Elapsed() }})
	if err := w.RunUntilIdle(time.Minute); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["b2"] != time.Millisecond || got["c"] != time.Second+time.Millisecond {
		t.Fatalf("deliveries %v: want only b2 at 1ms and c at 1.001s", got)
	}
	if len(fired) != 1 {
		t.Fatalf("scripted crash fired %d times", len(fired))
	}
	if err := w.Faults().Fire("nope", "x", ""); err == nil {
		t.Fatal("unknown fault kind accepted")
	}
	w.Faults().Chance(FaultCrash, "", 1, "")
	if !w.Faults().Roll(FaultCrash, "n2") || len(fired) != 2 {
		t.Fatal("a certain chance did not fire")
	}
	w.Faults().Chance(FaultCrash, "", 0, "")
	if w.Faults().Roll(FaultCrash, "n2") || len(fired) != 2 {
		t.Fatal("a chance set to 0 still fired")
	}
}

func TestInvariantStopsTheRun(t *testing.T) {
	w := New(Config{Seed: 42})
	height := uint64(0)
	w.Invariants().Add("height-below-3", func() *Violation {
		if height >= 3 {
			return &Violation{Node: "n2", Height: height, Detail: "too high"}
		}
		return nil
	})
	for i := range 10 {
		w.At(time.Duration(i)*time.Second, func() { height++ })
	}
	err := w.RunUntilIdle(time.Hour)
	var v *Violation
	if !errors.As(err, &v) {
		t.Fatalf("got %v, want a violation", err)
	}
	if v.Invariant != "height-below-3" || v.Node != "n2" || v.Height != 3 || v.Seed != 42 || v.At != 2*time.Second {
		t.Fatalf("violation %+v", v)
	}
	for _, s := range []string{"height-below-3", "n2", "height 3", "seed 42"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%q lacks %q", err, s)
		}
	}
	w2 := New(Config{Seed: 1})
	w2.Invariants().Enable("x", false)
	if w2.Invariants().Report(Violation{Invariant: "x"}) || w2.Err() != nil {
		t.Fatal("a disabled invariant stopped the world")
	}
}

func TestTraceNesting(t *testing.T) {
	tr := NewTrace(nil)
	outer := tr.Begin(Event{Node: "n1", Kind: KindCall, Name: "vm.VM/AppGossip"})
	inner := tr.Add(Event{Node: "n1", Kind: KindCall, Name: "appsender.AppSender/SendAppGossip"})
	other := tr.Add(Event{Node: "n2", Kind: KindNote, Name: "x"})
	outer.End("ok", nil)
	bg := tr.Add(Event{Node: "n1", Kind: KindCall, Name: "later"})
	if inner.Parent != outer.ID() || other.Parent != 0 || bg.Parent != 0 {
		t.Fatalf("parents: inner %d (want %d), other %d, after end %d", inner.Parent, outer.ID(), other.Parent, bg.Parent)
	}
	if evs := tr.Events(); evs[0].Detail != "-> ok" {
		t.Fatalf("end detail %q", evs[0].Detail)
	}
	tr.Limit(5)
	tr.Add(Event{Name: "kept"})
	tr.Add(Event{Name: "dropped"})
	if tr.Len() != 5 || tr.Dropped() != 1 {
		t.Fatalf("len %d dropped %d", tr.Len(), tr.Dropped())
	}
}

func TestDistributions(t *testing.T) {
	r := NewRand(1)
	for range 1000 {
		if d := (Uniform{Min: time.Millisecond, Max: 2 * time.Millisecond}).Sample(r); d < time.Millisecond || d > 2*time.Millisecond {
			t.Fatalf("uniform gave %s", d)
		}
		if d := (Normal{Mean: time.Millisecond, StdDev: 10 * time.Millisecond}).Sample(r); d < 0 {
			t.Fatalf("normal gave %s", d)
		}
	}
	if Fixed(time.Second).Sample(r) != time.Second {
		t.Fatal("fixed")
	}
}
