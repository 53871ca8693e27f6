// Package virtio is the host side of a virtio-serial channel: one Channel
// interface over a unix socket (what libvirt exposes) or a pty master (what the
// simulated backend gives), protocol handlers, and a QEMU guest agent client.
// Contract: the virtio-serial spec; the facts the code relies on are in
// conformance/guestagent/testdata/contract.md.
package virtio

import (
	"context"
	"time"
)

// Channel is one host endpoint of a virtio-serial port.
// Implementations are safe for concurrent use: reads are serialised with reads and writes with
// writes, so one reader and one writer run in parallel; Client.Request serialises whole
// request/response exchanges. Errors name the channel and its endpoint and wrap ErrNotConnected,
// ErrClosed, ErrDisconnected, ErrTimeout, ErrPeerGone, *LineTooLongError or the context's error.
// NewUnixChannel and NewPTYChannel are the implementations.
type Channel interface {
	// Name is the channel's target name, e.g. "com.vmagent.sock".
	Name() string
	// Connect opens the endpoint. Connecting a connected channel is a no-op.
	Connect(ctx context.Context) error
	// Disconnect closes the endpoint; a later Connect opens it again.
	Disconnect() error
	// Connected reports whether the endpoint is open.
	Connected() bool
	// Send writes raw bytes.
	Send(ctx context.Context, b []byte) error
	// SendString writes s unchanged.
	SendString(ctx context.Context, s string) error
	// Receive reads whatever bytes are available (at least one), up to max.
	Receive(ctx context.Context, max int) ([]byte, error)
	// ReceiveLine reads one line and returns it without the trailing "\n" (or "\r\n").
	ReceiveLine(ctx context.Context) (string, error)
	// SetDeadline bounds every following read and write; zero clears it.
	// A context deadline, when earlier, wins.
	SetDeadline(t time.Time) error
	// Close releases the channel for good.
	Close() error
}
