package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	fakehv "github.com/vmtestbed/vmtestbed/fakes/hypervisor"
	"github.com/vmtestbed/vmtestbed/sim"
	"github.com/vmtestbed/vmtestbed/virtio"
)

// runHostFailure plays the full-stack story: three validators in three
// instances on three hosts build a block; the host of n1 dies (its
// instance loses power, its validator stops); the others go on building;
// the control plane marks the instance FAILED when the host's lease lapses,
// the orchestrator reschedules it on another host, its guest agent answers
// over the new channel, and n1 restarts on its database and bootstraps to
// the same last accepted block as the rest.
func runHostFailure(t *testing.T, seed int64) (*Cluster, []byte) {
	t.Helper()
	c, err := NewCluster(context.Background(), ClusterConfig{Network: NetworkConfig{Seed: seed}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	build := func(node string, h uint64) {
		t.Helper()
		if err := c.Issue(node, fmt.Sprintf("k%d", h), "v"); err != nil {
			t.Fatal(err)
		}
		if err := c.Build(node); err != nil {
			t.Fatal(err)
		}
		if err := c.RunUntilHeight(h, time.Minute); err != nil {
			t.Fatalf("height %d: %v (heights %s)", h, err, c.Heights())
		}
	}
	build("n2", 1)
	before := c.Placement()["n1"]
	if err := c.FailHost(before); err != nil {
		t.Fatal(err)
	}
	if got := c.Placement()["n1"]; got != "" {
		t.Fatalf("n1 still placed on %q after its host failed", got)
	}
	build("n2", 2) // two of three validators still decide
	// The lease lapses (15 s), the grace period ends (15 s), the
	// orchestrator's next pass reschedules.
	if err := c.RunUntil(func() bool { return c.Placement()["n1"] != "" }, 2*time.Minute); err != nil {
		t.Fatalf("n1 was not rescheduled: %v", err)
	}
	if after := c.Placement()["n1"]; after == before {
		t.Errorf("n1 came back on its failed host %s", after)
	}
	if err := c.RunUntil(func() bool { return c.Node("n1").Up() && c.Node("n1").LastAccepted().Height == 2 }, time.Minute); err != nil {
		t.Fatalf("n1 did not catch up: %v (heights %s)", err, c.Heights())
	}
	var buf bytes.Buffer
	if err := c.Trace().WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	return c, buf.Bytes()
}

func TestClusterHostFailure(t *testing.T) {
	c, trace := runHostFailure(t, 7)
	for _, want := range []string{`"name":"host-failure"`, `"name":"instance-failed"`, `"name":"agent"`, `"name":"RegisterNode"`} {
		if !bytes.Contains(trace, []byte(want)) {
			t.Errorf("the trace lacks %s", want)
		}
	}
	if n := bytes.Count(trace, []byte(`"name":"agent"`)); n != 4 {
		t.Errorf("%d agent answers in the trace, want 4 (three first boots and the rescheduled one)", n)
	}
	if v := c.World.Err(); v != nil {
		t.Errorf("the world stopped: %v", v)
	}
	// The simulated client watching WatchNodes saw the lost host go
	// NOT_READY, then removed.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, want := range []string{"NOT_READY", "EVENT_TYPE_DELETED"} {
		if err := c.AwaitWatched(ctx, want); err != nil {
			t.Error(err)
		}
	}
	t.Logf("virtual time %s, %d events", c.World.Elapsed(), len(c.Trace().Events()))
}

func TestClusterSameSeedSameTrace(t *testing.T) {
	_, a := runHostFailure(t, 3)
	_, b := runHostFailure(t, 3)
	if !bytes.Equal(a, b) {
		ea, _ := sim.ReadEventsJSON(bytes.NewReader(a))
		eb, _ := sim.ReadEventsJSON(bytes.NewReader(b))
		for i := range min(len(ea), len(eb)) {
			if fmt.Sprint(ea[i]) != fmt.Sprint(eb[i]) {
				t.Fatalf("traces differ at event %d:\n%+v\n%+v", i, ea[i], eb[i])
			}
		}
		t.Fatalf("traces differ in length: %d and %d events", len(ea), len(eb))
	}
	if !strings.Contains(string(a), "host-failure") {
		t.Error("no host failure in the trace")
	}
}

// slowMachines are simulated machines whose agent channel refuses the
// first connects after each power-on, as a real guest's does while it boots.
type slowMachines struct {
	fakehv.SimMachines
	refusals int
}

func (s slowMachines) NewMachine(spec fakehv.MachineSpec, env fakehv.MachineEnv) (fakehv.Machine, error) {
	m, err := s.SimMachines.NewMachine(spec, env)
	if err != nil {
		return nil, err
	}
	return &slowMachine{Machine: m, refusals: s.refusals}, nil
}

type slowMachine struct {
	fakehv.Machine
	refusals int
	left     atomic.Int32 // refusals left in this boot
	tried    atomic.Int32 // connects refused, over all boots
}

func (m *slowMachine) PowerOn() error {
	m.left.Store(int32(m.refusals))
	return m.Machine.PowerOn()
}

func (m *slowMachine) Channel(name string) (virtio.Channel, error) {
	ch, err := m.Machine.Channel(name)
	if err != nil {
		return nil, err
	}
	return bootingChannel{Channel: ch, m: m}, nil
}

type bootingChannel struct {
	virtio.Channel
	m *slowMachine
}

func (c bootingChannel) Connect(ctx context.Context) error {
	if c.m.left.Add(-1) >= 0 {
		c.m.tried.Add(1)
		return errors.New("the guest is still booting")
	}
	return c.Channel.Connect(ctx)
}

// TestClusterAgentWaitRetries: with AgentWait (as on realhv) the cluster
// retries a guest agent that is not up yet, in wall time, while the world
// waits: agents that need several tries give the very trace of agents that
// answer at once. Without AgentWait the first refusal fails the start-up.
func TestClusterAgentWaitRetries(t *testing.T) {
	trace := func(cfg ClusterConfig) []byte {
		t.Helper()
		c, err := NewCluster(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var buf bytes.Buffer
		if err := c.Trace().WriteJSON(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	prompt := trace(ClusterConfig{Network: NetworkConfig{Seed: 5}})
	late := trace(ClusterConfig{Network: NetworkConfig{Seed: 5}, Machines: slowMachines{refusals: 3}, AgentWait: 30 * time.Second})
	if !bytes.Equal(prompt, late) {
		t.Errorf("agents that answer late changed the trace:\n%s\n---\n%s", prompt, late)
	}
	if n := bytes.Count(late, []byte(`"name":"agent"`)); n != 3 {
		t.Errorf("%d agent answers, want 3", n)
	}
	c, err := NewCluster(context.Background(), ClusterConfig{Network: NetworkConfig{Seed: 5}, Machines: slowMachines{refusals: 1}})
	if err == nil {
		if cerr := c.Close(); cerr != nil {
			t.Errorf("close cluster: %v", cerr)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "still booting") {
		t.Errorf("without AgentWait a booting guest's agent should fail the start-up, got %v", err)
	}
}
