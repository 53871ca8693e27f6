package guestagent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
)

// ErrOpenPort marks errors opening or listening on the guest end, before
// any request was served.
var ErrOpenPort = errors.New("cannot open port")

// ServePort opens the guest end of a channel by path — a virtio port such as
// /dev/virtio-ports/com.vmagent.sock or a pty slave such as /dev/pts/7 — puts
// it in raw mode when it is a terminal, and serves it until the host side
// goes away or ctx ends. A host that closes its pty master ends ServePort
// with nil, like end of file.
func (a *Agent) ServePort(ctx context.Context, path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrOpenPort, err)
	}
	if _, err := MakeRaw(f); err != nil {
		f.Close()
		return fmt.Errorf("%w: %w", ErrOpenPort, err)
	}
	err = a.Serve(ctx, f)
	if errors.Is(err, syscall.EIO) {
		return nil // the pty master was closed: the host side went away
	}
	return err
}

// ListenUnix serves every connection to a unix socket at path, the way
// qemu-ga -m unix-listen does, until ctx ends. The socket file is removed on
// return. Connections share the agent's state.
func (a *Agent) ListenUnix(ctx context.Context, path string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("%w: listen for agent connections: %w", ErrOpenPort, err)
	}
	return a.ServeListener(ctx, ln)
}

// ServeListener serves every connection accepted from ln until ctx ends or
// ln fails, then closes ln and waits for the connections' handlers. With
// Options.SingleClient it serves one connection at a time.
func (a *Agent) ServeListener(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		<-ctx.Done()
		ln.Close()
	})
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept agent connection: %w", err)
		}
		if a.opts.SingleClient {
			_ = a.Serve(ctx, c)
			continue
		}
		wg.Go(func() { _ = a.Serve(ctx, c) })
	}
}
