package hypervisor

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// console is an instance's machine as the host sees it: the machine
// (Options.Machines, made on first use) and a multiplexer over its serial
// console. One goroutine reads the machine's console into a bounded history
// ring and fans the bytes out to attached clients; client input is written
// to the machine. The lifecycle code drives the machine through this type
// and never knows which backend it is.
//
// The machine is made lazily (first Start or first attach), so instances
// that never run cost nothing. It is closed on delete and on Server.Close.
//
// Locks: outMu guards history and subscribers (taken by the reader); mu
// guards the machine. Neither is held while taking the other.
type console struct {
	s    *Server
	spec MachineSpec

	outMu   sync.Mutex
	history []byte
	max     int
	subs    *hub[[]byte]

	mu      sync.Mutex
	machine Machine
	closed  bool
}

func newConsole(s *Server, spec MachineSpec) *console {
	return &console{
		s:    s,
		spec: spec,
		max:  s.opts.ConsoleHistory,
		subs: newHub[[]byte](s.opts.WatchBuffer),
	}
}

// errConsoleClosed is returned once the instance is gone.
var errConsoleClosed = errors.New("console closed")

// open makes the machine on first use and starts reading its console.
func (c *console) open() (Machine, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errConsoleClosed
	}
	if c.machine != nil {
		return c.machine, nil
	}
	m, err := c.s.opts.Machines.NewMachine(c.spec, MachineEnv{
		Off:        func(graceful bool) { c.s.machineOff(c.spec.InstanceID, c, graceful) },
		Clock:      c.s.clock,
		TakePTY:    c.s.takePTY,
		ReleasePTY: c.s.releasePTY,
	})
	if err != nil {
		return nil, err
	}
	c.machine = m
	c.s.wg.Go(func() { c.read(m) })
	return m, nil
}

// read copies console output into the history ring and to subscribers.
func (c *console) read(m Machine) {
	buf := make([]byte, 4096)
	for {
		n, err := m.Console().Read(buf)
		if n > 0 {
			chunk := append([]byte(nil), buf[:n]...)
			c.outMu.Lock()
			c.history = append(c.history, chunk...)
			if over := len(c.history) - c.max; over > 0 {
				c.history = append(c.history[:0:0], c.history[over:]...)
			}
			if c.subs != nil { // nil once closed
				c.subs.publish(chunk)
			}
			c.outMu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// attach returns the recent output and a watcher for what follows.
func (c *console) attach() ([]byte, *watcher[[]byte], error) {
	if _, err := c.open(); err != nil {
		return nil, nil, err
	}
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if c.subs == nil {
		return nil, nil, errConsoleClosed
	}
	return append([]byte(nil), c.history...), c.subs.subscribe(nil), nil
}

func (c *console) detach(w *watcher[[]byte]) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if c.subs != nil {
		c.subs.unsubscribe(w)
	}
}

// current is the machine, or nil before first use and after close.
func (c *console) current() Machine {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	return c.machine
}

// write sends keyboard input to the guest.
func (c *console) write(p []byte) error {
	m := c.current()
	if m == nil {
		return errConsoleClosed
	}
	if _, err := m.Console().Write(p); err != nil {
		return fmt.Errorf("write console of %s: %w", c.spec.InstanceID, err)
	}
	return nil
}

// resize sets the terminal size the guest sees.
func (c *console) resize(cols, rows int) error {
	m, err := c.open()
	if err != nil {
		return err
	}
	return m.Resize(cols, rows)
}

// powerOn boots the guest.
func (c *console) powerOn() error {
	m, err := c.open()
	if err != nil {
		return err
	}
	return m.PowerOn()
}

// requestShutdown asks the guest to power off; off reports it did at once.
func (c *console) requestShutdown() (off bool, err error) {
	m := c.current()
	if m == nil {
		return true, nil
	}
	return m.RequestShutdown()
}

// powerOff cuts the guest's power.
func (c *console) powerOff() {
	if m := c.current(); m != nil {
		_ = m.PowerOff()
	}
}

// restart reboots the guest; off reports the guest went off by itself. A
// graceful restart of a Rebooter waits at most timeout for that; other
// machines are asked (graceful) and, unless off at once, powered off.
func (c *console) restart(graceful bool, timeout time.Duration) (off bool, err error) {
	m, err := c.open()
	if err != nil {
		return false, err
	}
	if r, ok := m.(Rebooter); ok && graceful {
		return r.Reboot(timeout)
	}
	if graceful {
		off, err = m.RequestShutdown()
		off = off && err == nil
	}
	if !off {
		_ = m.PowerOff()
	}
	return off, m.PowerOn()
}

// close ends attached streams and closes the machine.
func (c *console) close() {
	c.mu.Lock()
	m := c.machine
	c.closed = true
	c.mu.Unlock()
	if m != nil {
		_ = m.Close()
	}
	c.outMu.Lock()
	if c.subs != nil {
		c.subs.closeAll()
		c.subs = nil
	}
	c.outMu.Unlock()
}

// setSize is pty.Setsize without Fd() (which would make the file blocking).
func setSize(f *os.File, cols, rows int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Col: uint16(cols), Row: uint16(rows)})
	})
	if err != nil {
		return err
	}
	return ioErr
}

// getSize reads the terminal size (used by the guest's stty).
func getSize(f *os.File) (cols, rows int, err error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var ws *unix.Winsize
	var ioErr error
	err = rc.Control(func(fd uintptr) { ws, ioErr = unix.IoctlGetWinsize(int(fd), unix.TIOCGWINSZ) })
	if err != nil {
		return 0, 0, err
	}
	if ioErr != nil {
		return 0, 0, ioErr
	}
	return int(ws.Col), int(ws.Row), nil
}
