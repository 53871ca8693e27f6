package realhv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	agent "github.com/vmtestbed/vmtestbed/fakes/guestagent"
	fakehv "github.com/vmtestbed/vmtestbed/fakes/hypervisor"
	"github.com/vmtestbed/vmtestbed/virtio"
)

// Machines runs the hypervisor fake's instances as libvirt domains booting
// the project's tiny guest: the fake's machine seam (fakes/hypervisor
// Options.Machines) on real libvirt + QEMU. Each instance's virtio-serial
// channels are unix sockets under Dir that QEMU listens on; its console is
// the domain's serial pty.
type Machines struct {
	Host *Host
	// Hosts, when set, runs each instance on the libvirt host named by the
	// hostname of the hypervisor node the fake placed it on (a run spread
	// over several libvirt hosts); instances on other nodes run on Host.
	Hosts map[string]*Host
	// Spread, when set, runs the instances of nodes Hosts does not name on
	// its hosts: each node seen first goes to the next host in turn and
	// stays there (for node names only known at run time, as a conformance
	// suite's).
	Spread *Spread
	Image  Image
	// Dir holds the channel sockets; QEMU must be able to create them there.
	Dir string
	// MemoryMiB of every domain (default 256; the instance's memory_bytes
	// is a scheduling figure, often far more than a test host has).
	MemoryMiB uint
}

var _ fakehv.Machines = Machines{}

// NewMachine prepares a machine; its domain is created at PowerOn and
// removed at PowerOff, as a host agent would.
func (ms Machines) NewMachine(spec fakehv.MachineSpec, env fakehv.MachineEnv) (fakehv.Machine, error) {
	host := ms.Host
	if h, ok := ms.Hosts[spec.Node]; ok {
		host = h
	} else if h := ms.Spread.Place(spec.Node); h != nil {
		host = h
	}
	if host == nil || ms.Image.Kernel == "" {
		return nil, errors.New("realhv machines: a Host and the Image are required")
	}
	pr, pw := io.Pipe()
	return &machine{ms: ms, host: host, spec: spec, env: env, out: pr, outW: pw}, nil
}

// Spread places hypervisor nodes on libvirt hosts in turn (Machines.Spread).
type Spread struct {
	mu     sync.Mutex
	hosts  []*Host
	byNode map[string]*Host
}

// NewSpread spreads nodes over hosts, in this order.
func NewSpread(hosts ...*Host) *Spread {
	return &Spread{hosts: hosts, byNode: map[string]*Host{}}
}

// Place returns the libvirt host of node, placing it on the next host in
// turn the first time it is asked ("": unplaced, none), nil without hosts.
func (s *Spread) Place(node string) *Host {
	if s == nil || len(s.hosts) == 0 || node == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.byNode[node]
	if !ok {
		h = s.hosts[len(s.byNode)%len(s.hosts)]
		s.byNode[node] = h
	}
	return h
}

// Nodes lists, per libvirt host URI, the nodes placed on it so far.
func (s *Spread) Nodes() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{}
	for node, h := range s.byNode {
		out[h.URI()] = append(out[h.URI()], node)
	}
	for _, nodes := range out {
		slices.Sort(nodes)
	}
	return out
}

type machine struct {
	ms   Machines
	host *Host // where the domain runs
	spec fakehv.MachineSpec
	env  fakehv.MachineEnv

	out  *io.PipeReader // what the console printed, for the fake's reader
	outW *io.PipeWriter

	mu     sync.Mutex
	dom    *Domain
	pty    *os.File
	closed bool
	// rebooting is the domain Reboot is stopping: its watch does not tell
	// the fake (the instance stays RUNNING through a reboot).
	rebooting *Domain
	wg        sync.WaitGroup
}

var _ fakehv.Rebooter = (*machine)(nil)

func (m *machine) socket(name string) string {
	return filepath.Join(m.ms.Dir, m.spec.InstanceID+"."+name)
}

func (m *machine) PowerOn() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("machine closed")
	}
	if m.dom != nil {
		return nil
	}
	// Spec applies the defaults (256 MiB, 1 vCPU).
	spec := Spec{MemoryMiB: m.ms.MemoryMiB, Kernel: m.ms.Image.Kernel, Initrd: m.ms.Image.Initrd, Cmdline: Cmdline}
	for _, name := range m.spec.Channels {
		_ = os.Remove(m.socket(name))
		spec.Channels = append(spec.Channels, Channel{Name: name, Socket: m.socket(name)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dom, err := m.host.Create(ctx, m.spec.InstanceID, spec)
	if err != nil {
		return err
	}
	path, err := dom.ConsolePTY()
	if err != nil {
		_ = dom.Remove()
		return err
	}
	pty, err := openRawTTY(path)
	if err != nil {
		_ = dom.Remove()
		return fmt.Errorf("open console of %s: %w", dom.Name, err)
	}
	m.dom, m.pty = dom, pty
	m.wg.Go(func() { _, _ = io.Copy(m.outW, pty) }) // ends when the pty closes
	m.wg.Go(func() { m.watch(dom) })
	return nil
}

// watch tells the fake when the domain stops by itself (the guest powered
// off, or QEMU died).
func (m *machine) watch(dom *Domain) {
	if err := dom.WaitStopped(context.Background()); err != nil {
		return
	}
	m.mu.Lock()
	mine := m.dom == dom && !m.closed && m.rebooting != dom // each PowerOn makes a new *Domain
	if mine {
		m.teardownLocked()
	}
	m.mu.Unlock()
	if mine {
		m.env.Off(true)
	}
}

// RequestShutdown asks the guest's agent to power off (as libvirt's agent
// shutdown mode does); without an agent channel, the ACPI power button.
func (m *machine) RequestShutdown() (bool, error) {
	m.mu.Lock()
	dom := m.dom
	m.mu.Unlock()
	if dom == nil {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return false, m.askShutdown(ctx, dom)
}

// askShutdown asks the guest of dom to power off: its agent, else the ACPI
// power button.
func (m *machine) askShutdown(ctx context.Context, dom *Domain) error {
	if err := m.agentPowerOff(ctx); err == nil {
		return nil
	}
	return dom.PowerButton()
}

// Reboot restarts the guest gracefully (fakehv.Rebooter): the guest is asked
// to power off and given at most timeout to do so before its domain is
// destroyed, then a new domain boots. graceful reports the guest went off
// by itself.
func (m *machine) Reboot(timeout time.Duration) (graceful bool, err error) {
	m.mu.Lock()
	dom := m.dom
	m.rebooting = dom
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.rebooting = nil
		m.mu.Unlock()
	}()
	if dom != nil {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		// The agent's poweroff, else Shutdown's ACPI power button; Shutdown
		// reports whether the guest went off by itself within timeout (the
		// agent's share included) and destroys it if not.
		_ = m.agentPowerOff(ctx)
		graceful, _ = dom.Shutdown(ctx, timeout)
		cancel()
		if err := m.PowerOff(); err != nil {
			return graceful, err
		}
	}
	return graceful, m.PowerOn()
}

func (m *machine) agentPowerOff(ctx context.Context) error {
	ch, err := m.Channel(fakehv.AgentChannel)
	if err != nil {
		return err
	}
	// The agent's command form: {"command":"ping"} answers {"result":"pong"}.
	cl := virtio.NewClient(ch, virtio.NewCustomJSONHandler("command", "result"), 2*time.Second, virtio.DefaultReconnect)
	defer cl.Close()
	// The guest drops what the host sends while its agent has the port
	// closed (it reopens it after a host hung up): ping on this connection
	// until the agent answers, then ask it to power off.
	if err := virtio.AwaitPongOn(ctx, cl); err != nil {
		return fmt.Errorf("the agent did not answer a ping: %w", err)
	}
	out, err := cl.Request(ctx, []byte("poweroff"))
	if err != nil {
		return err
	}
	if !strings.Contains(string(out), "powering off") {
		return fmt.Errorf("the agent answered poweroff with %q", out)
	}
	return nil
}

func (m *machine) PowerOff() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.teardownLocked()
}

// teardownLocked removes the domain and closes its console.
func (m *machine) teardownLocked() error {
	if m.dom == nil {
		return nil
	}
	err := m.dom.Remove()
	m.pty.Close()
	m.dom, m.pty = nil, nil
	return err
}

func (m *machine) Console() io.ReadWriter {
	return struct {
		io.Reader
		io.Writer
	}{m.out, consoleWriter{m}}
}

type consoleWriter struct{ m *machine }

func (w consoleWriter) Write(p []byte) (int, error) {
	w.m.mu.Lock()
	pty := w.m.pty
	w.m.mu.Unlock()
	if pty == nil {
		return 0, errors.New("the guest is not running")
	}
	return pty.Write(p)
}

func (m *machine) Resize(int, int) error { return nil } // a QEMU serial port has no size

// Channel returns the host end of a running domain's channel: its unix
// socket, found in the live domain XML.
func (m *machine) Channel(name string) (virtio.Channel, error) {
	m.mu.Lock()
	dom := m.dom
	m.mu.Unlock()
	if dom == nil {
		return nil, fmt.Errorf("channel %s of instance %s: the guest is not running", name, m.spec.InstanceID)
	}
	src, err := dom.Channel(name)
	if err != nil {
		return nil, err
	}
	return virtio.NewUnixChannel(name, src.Path), nil
}

func (m *machine) DomainXML() string {
	m.mu.Lock()
	dom := m.dom
	m.mu.Unlock()
	if dom == nil {
		return ""
	}
	x, _ := dom.XML()
	return x
}

func (m *machine) Close() error {
	m.mu.Lock()
	m.closed = true
	err := m.teardownLocked()
	m.mu.Unlock()
	m.outW.Close()
	m.wg.Wait()
	return err
}

// openRawTTY opens the host end of a domain's serial pty non-blocking (so
// Close interrupts a pending Read) in raw mode (no echo, no line editing).
func openRawTTY(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if _, err := agent.MakeRaw(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
