// Package transport gives every in-process component one way to listen and
// dial, so the same fake can run over bufconn (in-process, hermetic) or over
// real loopback TCP (where a plugin subprocess must dial an address).
//
// A Transport hands out listeners with addresses that its own DialOptions can
// reach. Bufconn addresses look like "bufnet:<name>"; TCP ones "127.0.0.1:port".
package transport

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// Transport creates listeners and knows how to dial the addresses they return.
type Transport interface {
	// Listen returns a new listener and the address a client passes to Dial.
	// name is a hint used to build readable bufconn addresses.
	Listen(name string) (net.Listener, string, error)
	// DialContext connects to an address returned by Listen.
	DialContext(ctx context.Context, addr string) (net.Conn, error)
	// DialOptions are the grpc options that make grpc.NewClient reach Listen's addresses.
	DialOptions() []grpc.DialOption
}

// Dial opens a gRPC client connection to addr over t.
func Dial(t Transport, addr string, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	opts := append(t.DialOptions(), extra...)
	target := addr
	if _, ok := t.(*Bufnet); ok {
		// passthrough keeps grpc from trying DNS on a bufnet name.
		target = "passthrough:///" + addr
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return conn, nil
}

// TCP listens on loopback TCP with kernel-chosen ports.
type TCP struct{}

var _ Transport = TCP{}

// Listen opens 127.0.0.1:0.
func (TCP) Listen(string) (net.Listener, string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("listen on loopback: %w", err)
	}
	return l, l.Addr().String(), nil
}

// DialContext dials a TCP address.
func (TCP) DialContext(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// DialOptions are insecure credentials: everything stays on loopback.
func (TCP) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
}

// Bufnet is an address book of in-memory bufconn listeners keyed by name.
// The zero value is not usable; call NewBufnet.
type Bufnet struct {
	mu        sync.Mutex
	listeners map[string]*bufconn.Listener
	seq       map[string]int
}

var _ Transport = (*Bufnet)(nil)

// BufnetPrefix starts every bufnet address.
const BufnetPrefix = "bufnet:"

const bufSize = 1 << 20

// NewBufnet returns an empty address book.
func NewBufnet() *Bufnet {
	return &Bufnet{listeners: map[string]*bufconn.Listener{}, seq: map[string]int{}}
}

// Listen registers a new bufconn listener. Repeated names get a numeric suffix.
func (b *Bufnet) Listen(name string) (net.Listener, string, error) {
	if name == "" {
		name = "anon"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq[name]++
	addr := fmt.Sprintf("%s%s-%d", BufnetPrefix, name, b.seq[name])
	l := bufconn.Listen(bufSize)
	b.listeners[addr] = l
	return &bufListener{Listener: l, addr: addr, book: b}, addr, nil
}

// DialContext connects to a listener registered under addr.
func (b *Bufnet) DialContext(ctx context.Context, addr string) (net.Conn, error) {
	addr = strings.TrimPrefix(addr, "passthrough:///")
	b.mu.Lock()
	l, ok := b.listeners[addr]
	b.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("bufnet: no listener at %q", addr)
	}
	return l.DialContext(ctx)
}

// DialOptions route grpc dials through the address book.
func (b *Bufnet) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(b.DialContext),
	}
}

type bufListener struct {
	*bufconn.Listener
	addr string
	book *Bufnet
}

// Addr is the listener's address in the book ("bufnet:NAME-N"), so a
// server given only the listener can be dialed through the book.
func (l *bufListener) Addr() net.Addr { return bufAddr(l.addr) }

// bufAddr is a bufnet address as a net.Addr.
type bufAddr string

func (a bufAddr) Network() string { return "bufnet" }
func (a bufAddr) String() string  { return string(a) }

// Close unregisters the address before closing the listener.
func (l *bufListener) Close() error {
	l.book.mu.Lock()
	delete(l.book.listeners, l.addr)
	l.book.mu.Unlock()
	return l.Listener.Close()
}
