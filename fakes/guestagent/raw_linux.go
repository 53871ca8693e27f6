package guestagent

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// MakeRaw puts f in raw mode when it is a terminal (a pty slave): no echo, no
// line editing, no newline translation, so bytes pass through unchanged as on
// a virtio-serial port. It reports whether f was a terminal.
func MakeRaw(f *os.File) (bool, error) {
	fd := int(f.Fd())
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
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return true, fmt.Errorf("make %s raw: %w", f.Name(), err)
	}
	return true, nil
}
