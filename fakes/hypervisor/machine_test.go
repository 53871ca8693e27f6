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
	m, _ := e.srv.Machine(id)
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
