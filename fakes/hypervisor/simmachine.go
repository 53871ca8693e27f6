package hypervisor

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	agent "github.com/vmtestbed/vmtestbed/fakes/guestagent"
	"github.com/vmtestbed/vmtestbed/virtio"
)

// SimMachines is the default machine backend: each machine is a simulated
// guest on the fake's clock. Its serial console is a real pty pair (the
// guest, guest.go, prints a boot log and runs a tiny shell on the slave);
// each virtio-serial channel is a pty pair, opened when the guest boots,
// whose guest end is served by the project's guest agent
// (fakes/guestagent) and whose host end is a virtio.Channel on the master,
// as a libvirt pty channel would be. Its real counterpart is a libvirt
// domain (realhv); docs/FIDELITY.md lists what differs.
type SimMachines struct {
	// ShutdownDelay is how long a guest takes to power off after a graceful
	// stop request: 0 at once, negative never (only a deadline stops it).
	ShutdownDelay time.Duration
	// Agent configures the guest agent on each channel (Root "" refuses
	// file commands).
	Agent agent.Options
}

// NewMachine opens the console pty; the guest is off until PowerOn.
func (m SimMachines) NewMachine(spec MachineSpec, env MachineEnv) (Machine, error) {
	sm := &simMachine{spec: spec, env: env, delay: m.ShutdownDelay, agentOpts: m.Agent}
	master, slave, err := sm.openPTY("console")
	if err != nil {
		return nil, err
	}
	if err := setSize(master, 80, 24); err != nil {
		sm.closePTY(master, slave)
		return nil, fmt.Errorf("size console of %s: %w", spec.InstanceID, err)
	}
	sm.master, sm.slave = master, slave
	sm.guest = guest{hostname: spec.Hostname, instanceID: spec.InstanceID, clock: env.Clock, out: slave}
	sm.wg.Go(func() { sm.readSlave(slave) })
	return sm, nil
}

// simMachine is one simulated machine. mu guards the guest, the power
// state and the channels; it is never held while calling env.Off.
type simMachine struct {
	spec      MachineSpec
	env       MachineEnv
	delay     time.Duration
	agentOpts agent.Options

	mu       sync.Mutex
	master   *os.File // host end of the console
	slave    *os.File // the guest's end
	guest    guest
	powered  bool
	boot     uint64 // incremented at every power change; stale timers check it
	shutdown Timer  // a pending graceful shutdown (ShutdownDelay), stopped on power changes
	closed   bool
	channels map[string]*simChannel
	wg       sync.WaitGroup
}

// simChannel is one virtio-serial channel of a running guest.
type simChannel struct {
	host   virtio.Channel // on the master; the agent's Serve owns the slave
	path   string         // the slave's path, as libvirt shows a pty channel
	cancel context.CancelFunc
	done   chan struct{}
}

func (m *simMachine) openPTY(what string) (master, slave *os.File, err error) {
	if !m.env.TakePTY() {
		return nil, nil, fmt.Errorf("%w: open %s of %s", errNoPTY, what, m.spec.InstanceID)
	}
	master, slave, _, err = virtio.OpenPTYPair()
	if err != nil {
		m.env.ReleasePTY()
		return nil, nil, fmt.Errorf("open %s pty of %s: %w", what, m.spec.InstanceID, err)
	}
	return master, slave, nil
}

func (m *simMachine) closePTY(master, slave *os.File) {
	master.Close()
	slave.Close()
	m.env.ReleasePTY()
}

// readSlave feeds bytes typed on the console to the guest shell.
func (m *simMachine) readSlave(slave *os.File) {
	buf := make([]byte, 1024)
	for {
		n, err := slave.Read(buf)
		if n > 0 {
			m.mu.Lock()
			if !m.closed {
				m.guest.input(buf[:n])
			}
			m.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

func (m *simMachine) PowerOn() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errConsoleClosed
	}
	if m.powered {
		return nil
	}
	for _, name := range m.spec.Channels {
		if err := m.openChannelLocked(name); err != nil {
			m.closeChannelsLocked()
			return err
		}
	}
	m.powered = true
	m.boot++
	m.guest.boot()
	return nil
}

// openChannelLocked opens a channel's pty pair and starts the guest agent
// on its guest end.
func (m *simMachine) openChannelLocked(name string) error {
	master, slave, err := m.openPTY("channel " + name)
	if err != nil {
		return err
	}
	opts := m.agentOpts
	if opts.Clock == nil {
		opts.Clock = m.env.Clock // the guest's uptime runs on the fake's (the world's) clock
	}
	a, err := agent.New(opts)
	if err != nil {
		m.closePTY(master, slave)
		return fmt.Errorf("guest agent of %s: %w", m.spec.InstanceID, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &simChannel{host: virtio.NewPTYChannel(name, master), path: slave.Name(), cancel: cancel, done: make(chan struct{})}
	go func() { defer close(c.done); _ = a.Serve(ctx, slave) }()
	if m.channels == nil {
		m.channels = map[string]*simChannel{}
	}
	m.channels[name] = c
	return nil
}

// closeChannelsLocked stops the agents and closes the channel ptys: the
// host ends see the guest go away.
func (m *simMachine) closeChannelsLocked() {
	for name, c := range m.channels {
		c.cancel()
		<-c.done // Serve closed the slave
		_ = c.host.Close()
		m.env.ReleasePTY()
		delete(m.channels, name)
	}
}

func (m *simMachine) RequestShutdown() (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.powered {
		return true, nil
	}
	switch {
	case m.delay == 0:
		m.haltLocked(true)
		return true, nil
	case m.delay < 0:
		return false, nil // a guest that ignores the power button
	}
	boot := m.boot
	m.shutdown = m.env.Clock.AfterFunc(m.delay, func() {
		m.mu.Lock()
		if m.closed || !m.powered || m.boot != boot {
			m.mu.Unlock()
			return
		}
		m.haltLocked(true)
		m.mu.Unlock()
		m.env.Off(true)
	})
	return false, nil
}

func (m *simMachine) PowerOff() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.powered {
		m.haltLocked(false)
	}
	return nil
}

func (m *simMachine) haltLocked(graceful bool) {
	m.powered = false
	m.boot++
	m.stopShutdownLocked()
	m.closeChannelsLocked()
	if !m.closed {
		m.guest.halt(graceful)
	}
}

func (m *simMachine) stopShutdownLocked() {
	if m.shutdown != nil {
		m.shutdown.Stop()
		m.shutdown = nil
	}
}

func (m *simMachine) Console() io.ReadWriter { return m.master }

func (m *simMachine) Resize(cols, rows int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errConsoleClosed
	}
	return setSize(m.master, cols, rows)
}

// Channel returns the host end of a running guest's channel. Closing it
// only disconnects: the guest agent stays, as behind a libvirt channel.
func (m *simMachine) Channel(name string) (virtio.Channel, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.channels[name]
	switch {
	case ok:
		return sharedChannel{c.host}, nil
	case !slices.Contains(m.spec.Channels, name):
		return nil, fmt.Errorf("instance %s has no channel %q (channels: %v)", m.spec.InstanceID, name, m.spec.Channels)
	}
	return nil, fmt.Errorf("channel %s of instance %s: the guest is not running", name, m.spec.InstanceID)
}

// AgentFaulter is a machine whose guest agent can be made to misbehave
// until the guest reboots (a test hook of simulated machines).
type AgentFaulter interface {
	SetAgentFault(f agent.Fault) error
}

// SetAgentFault restarts the running guest's agents with fault mode f (on
// new channels: the host ends change, as when a guest restarts its agent
// service); the next boot brings the normal agent back.
func (m *simMachine) SetAgentFault(f agent.Fault) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.powered {
		return fmt.Errorf("instance %s: the guest is not running", m.spec.InstanceID)
	}
	m.closeChannelsLocked()
	saved := m.agentOpts
	m.agentOpts.Fault = f
	defer func() { m.agentOpts = saved }()
	for _, name := range m.spec.Channels {
		if err := m.openChannelLocked(name); err != nil {
			return err
		}
	}
	return nil
}

// sharedChannel is a view of a machine's channel whose Close disconnects.
type sharedChannel struct{ virtio.Channel }

func (c sharedChannel) Close() error { return c.Disconnect() }

func (m *simMachine) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.powered = false
	m.boot++
	m.stopShutdownLocked()
	m.closeChannelsLocked()
	m.closed = true
	m.mu.Unlock()
	m.closePTY(m.master, m.slave)
	m.wg.Wait()
	return nil
}

// DomainXML renders the machine as libvirt would describe it: a serial
// console and one pty channel per virtio-serial port (the slave path while
// the guest runs).
func (m *simMachine) DomainXML() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	type source struct {
		Path string `xml:"path,attr,omitempty"`
	}
	type target struct {
		Type string `xml:"type,attr"`
		Name string `xml:"name,attr,omitempty"`
		Port *int   `xml:"port,attr,omitempty"`
	}
	type chardev struct {
		Type   string `xml:"type,attr"`
		Source source `xml:"source"`
		Target target `xml:"target"`
	}
	type domain struct {
		XMLName  xml.Name  `xml:"domain"`
		Type     string    `xml:"type,attr"`
		Name     string    `xml:"name"`
		Memory   int64     `xml:"memory"`
		VCPU     int32     `xml:"vcpu"`
		Serials  []chardev `xml:"devices>serial"`
		Channels []chardev `xml:"devices>channel"`
	}
	zero := 0
	d := domain{Type: "sim", Name: m.spec.InstanceID, Memory: m.spec.MemoryBytes >> 10, VCPU: m.spec.CPUCores}
	d.Serials = []chardev{{Type: "pty", Source: source{Path: m.slave.Name()}, Target: target{Type: "isa-serial", Port: &zero}}}
	for _, name := range m.spec.Channels {
		c := chardev{Type: "pty", Target: target{Type: "virtio", Name: name}}
		if ch, ok := m.channels[name]; ok {
			c.Source.Path = ch.path
		}
		d.Channels = append(d.Channels, c)
	}
	out, err := xml.MarshalIndent(d, "", "  ")
	if err != nil {
		return "" // the types above always marshal
	}
	return string(out)
}
