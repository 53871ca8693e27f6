package hypervisor

import (
	"context"
	"encoding/xml"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
	"github.com/vmtestbed/vmtestbed/virtio"
)

// TestSimMachineGuestAgent: a running instance's guest agent answers over
// its virtio-serial channel (a pty pair, as a libvirt pty channel), the
// domain XML names the channel and its pty, and after a stop and a start
// the agent answers on the new channel.
func TestSimMachineGuestAgent(t *testing.T) {
	e := newEnv(t, Options{}, nil)
	e.register(t, workerReq("w1"))
	id := e.create(t, vmReq("agent-vm")).Id
	start := func() {
		if _, err := e.compute.StartInstance(ctxT(t), &hv.StartInstanceRequest{InstanceId: id}); err != nil {
			t.Fatal(err)
		}
	}
	ping := func() (string, string) {
		t.Helper()
		m, err := e.srv.Machine(id)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := m.Channel(AgentChannel)
		if err != nil {
			t.Fatal(err)
		}
		defer ch.Close()
		cl := virtio.NewClient(ch, virtio.NewJSONHandler(), 2*time.Second, virtio.NoReconnect)
		if err := cl.Connect(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		out, err := cl.Request(ctxT(t), []byte("ping"))
		if err != nil {
			t.Fatalf("ping the guest agent: %v", err)
		}
		return string(out), m.DomainXML()
	}
	start()
	pong, doc := ping()
	if pong != "pong" {
		t.Fatalf("agent answered %q, want pong", pong)
	}
	var d struct {
		Channels []struct {
			Type   string `xml:"type,attr"`
			Source struct {
				Path string `xml:"path,attr"`
			} `xml:"source"`
			Target struct {
				Type string `xml:"type,attr"`
				Name string `xml:"name,attr"`
			} `xml:"target"`
		} `xml:"devices>channel"`
	}
	if err := xml.Unmarshal([]byte(doc), &d); err != nil || len(d.Channels) != 1 {
		t.Fatalf("domain XML: %v\n%s", err, doc)
	}
	c := d.Channels[0]
	if c.Type != "pty" || c.Target.Type != "virtio" || c.Target.Name != AgentChannel || !strings.HasPrefix(c.Source.Path, "/dev/pts/") {
		t.Errorf("agent channel in the domain XML: %+v", c)
	}

	if _, err := e.compute.StopInstance(ctxT(t), &hv.StopInstanceRequest{InstanceId: id}); err != nil {
		t.Fatal(err)
	}
	m, err := e.srv.Machine(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Channel(AgentChannel); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("the channel of a stopped guest: %v, want 'not running'", err)
	}
	start()
	if pong, _ := ping(); pong != "pong" {
		t.Errorf("after a restart the agent answered %q", pong)
	}
}

// recMachine is a Machines backend that records what the lifecycle asks
// of it: the seam test's proof that lifecycle code drives only the
// interface.
type recMachines struct {
	mu    sync.Mutex
	calls []string
	env   MachineEnv
}

func (r *recMachines) log(c string) { r.mu.Lock(); r.calls = append(r.calls, c); r.mu.Unlock() }

func (r *recMachines) took() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *recMachines) NewMachine(spec MachineSpec, env MachineEnv) (Machine, error) {
	r.log("new " + strings.Join(spec.Channels, ","))
	r.env = env
	pr, pw := io.Pipe()
	return &recMachine{r: r, out: pr, in: pw}, nil
}

type recMachine struct {
	r   *recMachines
	out *io.PipeReader
	in  *io.PipeWriter
}

func (m *recMachine) PowerOn() error { m.r.log("on"); return nil }
func (m *recMachine) RequestShutdown() (bool, error) {
	m.r.log("shutdown")
	return false, nil
}
func (m *recMachine) PowerOff() error { m.r.log("off"); return nil }
func (m *recMachine) Console() io.ReadWriter {
	return struct {
		io.Reader
		io.Writer
	}{m.out, io.Discard}
}
func (m *recMachine) Resize(int, int) error                  { return nil }
func (m *recMachine) Channel(string) (virtio.Channel, error) { return nil, io.EOF }
func (m *recMachine) DomainXML() string                      { return "<domain/>" }
func (m *recMachine) Close() error                           { m.r.log("close"); return m.in.Close() }

// TestLifecycleDrivesOnlyTheMachine: start, a graceful stop the guest
// obeys (it calls Off), a graceful stop it ignores (the deadline cuts the
// power), and a delete, all through the Machine interface.
func TestLifecycleDrivesOnlyTheMachine(t *testing.T) {
	rec := &recMachines{}
	e := newEnv(t, Options{Machines: rec}, nil)
	e.register(t, workerReq("w1"))
	id := e.create(t, vmReq("seam")).Id
	call := func(f func(context.Context) error) {
		t.Helper()
		if err := f(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	state := func() hv.InstanceState {
		in, err := e.compute.GetInstance(ctxT(t), &hv.GetInstanceRequest{InstanceId: id})
		if err != nil {
			t.Fatal(err)
		}
		return in.GetState()
	}
	startIt := func(ctx context.Context) error {
		_, err := e.compute.StartInstance(ctx, &hv.StartInstanceRequest{InstanceId: id})
		return err
	}
	stopIt := func(ctx context.Context) error {
		_, err := e.compute.StopInstance(ctx, &hv.StopInstanceRequest{InstanceId: id, TimeoutSeconds: 5})
		return err
	}
	call(startIt)
	call(stopIt)
	if st := state(); st != hv.InstanceState_INSTANCE_STATE_RUNNING {
		t.Fatalf("after a stop request the guest has not obeyed yet: %v, want RUNNING (stopping)", st)
	}
	rec.env.Off(true) // the guest powers itself off
	if st := state(); st != hv.InstanceState_INSTANCE_STATE_STOPPED {
		t.Fatalf("after the guest powered off: %v, want STOPPED", st)
	}
	call(startIt)
	call(stopIt)
	e.clock.Advance(5 * time.Second) // the guest ignores it: the deadline forces it off
	if st := state(); st != hv.InstanceState_INSTANCE_STATE_STOPPED {
		t.Fatalf("after the stop deadline: %v, want STOPPED", st)
	}
	if _, err := e.compute.DeleteInstance(ctxT(t), &hv.DeleteInstanceRequest{InstanceId: id}); err != nil {
		t.Fatal(err)
	}
	want := []string{"new " + AgentChannel, "on", "shutdown", "on", "shutdown", "off", "close"}
	if got := rec.took(); !slices.Equal(got, want) {
		t.Errorf("machine calls %v, want %v", got, want)
	}
}

// rebootMachines makes recMachines that are Rebooters: Reboot logs its
// timeout and answers graceful as told.
type rebootMachines struct {
	*recMachines
	graceful bool
}

func (r rebootMachines) NewMachine(spec MachineSpec, env MachineEnv) (Machine, error) {
	m, err := r.recMachines.NewMachine(spec, env)
	if err != nil {
		return nil, err
	}
	return rebootMachine{m.(*recMachine), r.graceful}, nil
}

type rebootMachine struct {
	*recMachine
	graceful bool
}

func (m rebootMachine) Reboot(timeout time.Duration) (bool, error) {
	m.r.log("reboot " + timeout.String())
	return m.graceful, nil
}

// TestRestartThroughTheMachine: a graceful restart of a machine that reboots
// itself (realhv's domains) is its Reboot, bounded by Options.StopTimeout; a
// forced one cuts the power; a machine that cannot reboot itself is asked to
// shut down and powered off. The state reason says when the power was cut
// on a graceful restart.
func TestRestartThroughTheMachine(t *testing.T) {
	restart := func(t *testing.T, machines Machines, force bool) (reason string) {
		t.Helper()
		e := newEnv(t, Options{Machines: machines, StopTimeout: 7 * time.Second}, nil)
		e.register(t, workerReq("w1"))
		id := e.create(t, vmReq("reboot")).Id
		if _, err := e.compute.StartInstance(ctxT(t), &hv.StartInstanceRequest{InstanceId: id}); err != nil {
			t.Fatal(err)
		}
		in, err := e.compute.RestartInstance(ctxT(t), &hv.RestartInstanceRequest{InstanceId: id, Force: force})
		if err != nil {
			t.Fatal(err)
		}
		if in.GetState() != hv.InstanceState_INSTANCE_STATE_RUNNING {
			t.Errorf("after restart: %v, want RUNNING", in.GetState())
		}
		return in.GetStateReason()
	}
	for _, tc := range []struct {
		name     string
		graceful bool // the Rebooter's guest went off by itself
		force    bool
		reboots  bool // the machine is a Rebooter
		calls    []string
		reason   string
	}{
		{"graceful reboot", true, false, true, []string{"reboot 7s"}, "restarted"},
		{"reboot that cut the power", false, false, true, []string{"reboot 7s"}, "restarted: the guest did not shut down in time, its power was cut"},
		{"forced on a rebooter", true, true, true, []string{"off", "on"}, "restarted"},
		{"graceful, no rebooter", false, false, false, []string{"shutdown", "off", "on"}, "restarted: the guest did not shut down in time, its power was cut"},
		{"forced, no rebooter", false, true, false, []string{"off", "on"}, "restarted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recMachines{}
			var ms Machines = rec
			if tc.reboots {
				ms = rebootMachines{rec, tc.graceful}
			}
			if got := restart(t, ms, tc.force); got != tc.reason {
				t.Errorf("reason %q, want %q", got, tc.reason)
			}
			calls := rec.took()
			if got, want := calls[2:], tc.calls; !slices.Equal(got, want) { // after "new", "on"
				t.Errorf("machine calls after start %v, want %v", got, want)
			}
		})
	}
}
