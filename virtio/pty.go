package virtio

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// NewPTYChannel returns a channel over the master side of a pty pair. The caller keeps ownership
// of the slave side (the guest agent's end); the channel owns master and Close closes it.
//
// A pty master cannot be re-dialled: Connect starts using master, Disconnect stops using it
// (pending Receive/Send return an error wrapping ErrDisconnected; bytes buffered by the channel
// are dropped, bytes still in the kernel are read after the next Connect).
// master must be non-blocking so deadlines work: use one from OpenPTYPair. Connect fails otherwise.
func NewPTYChannel(name string, master *os.File, opts ...Option) Channel {
	return newChannel(name, &ptyEndpoint{master: master, desc: ptyDesc(master)}, opts)
}

type ptyEndpoint struct {
	master *os.File
	desc   string
}

func (p *ptyEndpoint) open(context.Context) (stream, error) {
	if p.master == nil {
		return nil, errors.New("no pty master")
	}
	if err := p.master.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("pty master does not support deadlines (open it with OpenPTYPair): %w", err)
	}
	return p.master, nil
}

func (p *ptyEndpoint) release(stream) error {
	return p.master.SetDeadline(interrupted)
}

func (p *ptyEndpoint) shutdown(stream) error {
	if p.master == nil {
		return nil
	}
	return p.master.Close()
}

func (*ptyEndpoint) dropOnPeerGone() bool { return false }

func (p *ptyEndpoint) String() string { return p.desc }

// ptyDesc names a master by its slave's path, e.g. "pty:/dev/pts/7".
func ptyDesc(master *os.File) string {
	if master == nil {
		return "pty:<nil>"
	}
	n, err := ptyNumber(master)
	if err != nil {
		return "pty:" + master.Name()
	}
	return fmt.Sprintf("pty:/dev/pts/%d", n)
}

func ptyNumber(master *os.File) (int, error) {
	rc, err := master.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var ierr error
	if err := rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN) }); err != nil {
		return 0, err
	}
	return n, ierr
}

// OpenPTYPair opens a pty pair with the slave in raw mode (no echo, no line editing) and both
// ends non-blocking, so deadlines and Close interrupt reads. It returns the master, the slave and
// the slave's path (e.g. /dev/pts/7). To hand the slave to a subprocess, let the subprocess open
// slavePath itself (or open it again without O_NONBLOCK).
func OpenPTYPair() (master, slave *os.File, slavePath string, err error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, nil, "", fmt.Errorf("open pty pair: %w", err)
	}
	slavePath = s.Name()
	defer func() {
		_ = m.Close()
		_ = s.Close()
	}()
	if _, err := term.MakeRaw(int(s.Fd())); err != nil {
		return nil, nil, "", fmt.Errorf("open pty pair: raw mode on %s: %w", slavePath, err)
	}
	master, err = pollable(m, "/dev/ptmx")
	if err != nil {
		return nil, nil, "", fmt.Errorf("open pty pair: master of %s: %w", slavePath, err)
	}
	slave, err = pollable(s, slavePath)
	if err != nil {
		_ = master.Close()
		return nil, nil, "", fmt.Errorf("open pty pair: slave %s: %w", slavePath, err)
	}
	return master, slave, slavePath, nil
}

// pollable returns a new *os.File on a non-blocking duplicate of f's descriptor, so the runtime
// poller serves it and deadlines work (f.Fd() put f in blocking mode). The caller closes f.
func pollable(f *os.File, name string) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dup: %w", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("set non-blocking: %w", err)
	}
	return os.NewFile(uintptr(fd), name), nil
}
