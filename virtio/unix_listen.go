package virtio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
)

// NewUnixListenChannel returns a channel for a unix socket in libvirt's source mode 'connect':
// QEMU dials the socket, so the host listens on path. Connect listens (once; a stale socket file
// is replaced) and accepts one connection; Disconnect closes that connection and a later Connect
// accepts the next. Close also closes the listener and removes the socket file.
func NewUnixListenChannel(name, path string, opts ...Option) Channel {
	return newChannel(name, &listenEndpoint{path: path}, opts)
}

type listenEndpoint struct {
	path string
	mu   sync.Mutex
	ln   *net.UnixListener
}

func (l *listenEndpoint) listener() (*net.UnixListener, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		return l.ln, nil
	}
	if fi, err := os.Lstat(l.path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		_ = os.Remove(l.path) // a socket left by an earlier run
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: l.path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	l.ln = ln
	return ln, nil
}

func (l *listenEndpoint) open(ctx context.Context) (stream, error) {
	ln, err := l.listener()
	if err != nil {
		return nil, err
	}
	dl, _ := ctx.Deadline()
	if err := ln.SetDeadline(dl); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = ln.SetDeadline(interrupted) })
	defer stop()
	c, err := ln.AcceptUnix()
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("accept on %s: %w", l.path, context.Cause(ctx))
		}
		return nil, fmt.Errorf("accept on %s: %w", l.path, err)
	}
	return c, nil
}

func (l *listenEndpoint) release(s stream) error { return s.(net.Conn).Close() }

func (l *listenEndpoint) shutdown(s stream) error {
	var errs []error
	if s != nil {
		errs = append(errs, l.release(s))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		errs = append(errs, l.ln.Close())
		l.ln = nil
	}
	return errors.Join(errs...)
}

func (*listenEndpoint) dropOnPeerGone() bool { return true }

func (l *listenEndpoint) String() string { return "unix-listen:" + l.path }
