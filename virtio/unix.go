package virtio

import (
	"context"
	"net"
)

// NewUnixChannel returns a channel whose endpoint is the unix socket at path (what libvirt binds).
// Connect dials the socket; Disconnect closes the connection and a later Connect dials again.
// When the far end goes away (EOF, EPIPE, ECONNRESET) the channel disconnects itself and the error
// wraps ErrPeerGone.
func NewUnixChannel(name, path string, opts ...Option) Channel {
	return newChannel(name, unixEndpoint{path: path}, opts)
}

type unixEndpoint struct{ path string }

func (u unixEndpoint) open(ctx context.Context) (stream, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", u.path)
}

func (u unixEndpoint) release(s stream) error { return s.(net.Conn).Close() }

func (u unixEndpoint) shutdown(s stream) error {
	if s == nil {
		return nil
	}
	return u.release(s)
}

func (unixEndpoint) dropOnPeerGone() bool { return true }

func (u unixEndpoint) String() string { return "unix:" + u.path }
