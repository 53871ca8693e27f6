package hypervisor

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// console is an instance's serial console: a real pty pair. The master side
// is the host's: one goroutine reads it into a bounded history ring and fans
// the bytes out to attached clients; client input is written to it. The
// slave side belongs to the fake guest (guest.go), put in raw mode so the
// line discipline neither echoes nor rewrites bytes.
//
// The pty is opened lazily (first Start or first attach), so instances that
// never run cost no pty. It is closed on delete and on Server.Close.
//
// Locks: outMu guards history and subscribers (taken by the master reader);
// guestMu guards the guest and writes to the slave. Neither is held while
// taking the other, so the master reader always drains what the guest writes.
type console struct {
	s *Server

	outMu   sync.Mutex
	history []byte
	max     int
	subs    *hub[[]byte]

	guestMu sync.Mutex
	master  *os.File
	slave   *os.File
	closed  bool
	guest   guest
}

func newConsole(s *Server, hostname, instanceID string) *console {
	return &console{
		s:     s,
		max:   s.opts.ConsoleHistory,
		subs:  newHub[[]byte](s.opts.WatchBuffer),
		guest: guest{hostname: hostname, instanceID: instanceID, clock: s.clock},
	}
}

// errConsoleClosed is returned once the instance is gone.
var errConsoleClosed = errors.New("console closed")

// errNoPTY is returned when Limits.MaxPTYs ptys are open.
var errNoPTY = errors.New("pty budget exhausted")

// open creates the pty pair on first use and starts its goroutines.
func (c *console) open() error {
	c.guestMu.Lock()
	defer c.guestMu.Unlock()
	return c.openLocked()
}

func (c *console) openLocked() error {
	if c.closed {
		return errConsoleClosed
	}
	if c.master != nil {
		return nil
	}
	if !c.s.takePTY() {
		return fmt.Errorf("%w: %d ptys are open (Limits.MaxPTYs); delete an instance first", errNoPTY, c.s.opts.Limits.MaxPTYs)
	}
	master, slave, err := pty.Open()
	if err != nil {
		c.s.ptys.Add(-1)
		return fmt.Errorf("open pty for %s: %w", c.guest.instanceID, err)
	}
	fail := func(what string, err error) error {
		master.Close()
		slave.Close()
		c.s.ptys.Add(-1)
		return fmt.Errorf("%s for %s: %w", what, c.guest.instanceID, err)
	}
	if err := makeRaw(slave); err != nil {
		return fail("raw mode", err)
	}
	if err := setSize(master, 80, 24); err != nil {
		return fail("size console", err)
	}
	c.master, c.slave = master, slave
	c.guest.out = slave
	c.s.wg.Add(2)
	go func() { defer c.s.wg.Done(); c.readMaster(master) }()
	go func() { defer c.s.wg.Done(); c.readSlave(slave) }()
	return nil
}

// readMaster copies guest output into the history ring and to subscribers.
func (c *console) readMaster(master *os.File) {
	buf := make([]byte, 4096)
	for {
		n, err := master.Read(buf)
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

// readSlave feeds bytes typed on the console to the guest shell.
func (c *console) readSlave(slave *os.File) {
	buf := make([]byte, 1024)
	for {
		n, err := slave.Read(buf)
		if n > 0 {
			c.guestMu.Lock()
			if !c.closed {
				c.guest.input(buf[:n])
			}
			c.guestMu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// attach returns the recent output and a watcher for what follows.
func (c *console) attach() ([]byte, *watcher[[]byte], error) {
	if err := c.open(); err != nil {
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

// write sends keyboard input to the guest.
func (c *console) write(p []byte) error {
	c.guestMu.Lock()
	master := c.master
	closed := c.closed
	c.guestMu.Unlock()
	if closed || master == nil {
		return errConsoleClosed
	}
	if _, err := master.Write(p); err != nil {
		return fmt.Errorf("write console of %s: %w", c.guest.instanceID, err)
	}
	return nil
}

// resize sets the terminal size the guest sees.
func (c *console) resize(cols, rows int) error {
	c.guestMu.Lock()
	defer c.guestMu.Unlock()
	if err := c.openLocked(); err != nil {
		return err
	}
	return setSize(c.master, cols, rows)
}

// powerOn boots the guest: it prints a boot log and a shell prompt.
func (c *console) powerOn() error {
	c.guestMu.Lock()
	defer c.guestMu.Unlock()
	if err := c.openLocked(); err != nil {
		return err
	}
	c.guest.boot()
	return nil
}

// powerOff stops the guest; a graceful stop prints the shutdown messages.
func (c *console) powerOff(graceful bool) {
	c.guestMu.Lock()
	defer c.guestMu.Unlock()
	if c.master != nil && !c.closed {
		c.guest.halt(graceful)
	}
}

// close ends attached streams and closes the pty; the goroutines exit on
// their next read (Server.Close waits for them).
func (c *console) close() {
	c.guestMu.Lock()
	if c.master != nil && !c.closed {
		c.master.Close()
		c.slave.Close()
		c.s.ptys.Add(-1)
	}
	c.closed = true
	c.guestMu.Unlock()
	c.outMu.Lock()
	if c.subs != nil {
		c.subs.closeAll()
		c.subs = nil
	}
	c.outMu.Unlock()
}

// makeRaw puts a tty in raw mode (as cfmakeraw does). It goes through
// SyscallConn, not Fd(), so the file stays non-blocking and Close still
// interrupts a pending Read.
func makeRaw(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			ioErr = err
			return
		}
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		t.Cc[unix.VMIN] = 1
		t.Cc[unix.VTIME] = 0
		ioErr = unix.IoctlSetTermios(int(fd), unix.TCSETS, t)
	})
	if err != nil {
		return err
	}
	return ioErr
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
