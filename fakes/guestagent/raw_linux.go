package guestagent

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// MakeRaw puts f in raw mode when it is a terminal (a pty end, a serial
// console): no echo, no line editing, no newline translation, so bytes pass
// through unchanged as on a virtio-serial port. It reports whether f was a
// terminal. It goes through SyscallConn, not Fd(), so a non-blocking f stays
// non-blocking and Close still interrupts a pending Read.
func MakeRaw(f *os.File) (bool, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	var tty bool
	var ierr error
	if err := rc.Control(func(fd uintptr) { tty, ierr = makeRaw(int(fd)) }); err != nil {
		return false, err
	}
	if ierr != nil {
		return tty, fmt.Errorf("make %s raw: %w", f.Name(), ierr)
	}
	return tty, nil
}

func makeRaw(fd int) (bool, error) {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return false, nil // not a terminal: a socket or a virtio port
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	return true, unix.IoctlSetTermios(fd, unix.TCSETS, t)
}
