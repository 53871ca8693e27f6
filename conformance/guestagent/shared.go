package guestagent

import (
	"context"

	"github.com/vmtestbed/vmtestbed/virtio"
)

// Shared returns a Dial for a target with a single channel, such as a pty
// master: every Dial connects ch and hands out a view whose Close only
// disconnects, so the next spec can connect again. The caller closes ch.
func Shared(ch virtio.Channel) func(ctx context.Context) (virtio.Channel, error) {
	return func(ctx context.Context) (virtio.Channel, error) {
		if err := ch.Connect(ctx); err != nil {
			return nil, err
		}
		return sharedView{ch}, nil
	}
}

type sharedView struct{ virtio.Channel }

// Close disconnects without releasing the underlying channel.
func (v sharedView) Close() error { return v.Disconnect() }
