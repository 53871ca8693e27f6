package avalanchego

import (
	"context"
	"sync"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	messengerpb "github.com/vmtestbed/vmtestbed/proto/messenger"
)

// FirstWaitForEventProtocol is the protocol (v1.13.3) in which VM.WaitForEvent
// replaced messenger.Messenger/Notify. Below it the plugin notifies the node.
const FirstWaitForEventProtocol uint = 42

// UsesMessenger reports whether a plugin of protocol p announces block
// building through messenger.Messenger/Notify instead of VM.WaitForEvent.
func UsesMessenger(p uint) bool { return p != 0 && p < FirstWaitForEventProtocol }

// notifyBuffer is how many notifications the node keeps that nobody has
// taken yet; AvalancheGo's engine keeps one pending notification per kind,
// so a plugin that notifies faster than blocks are built loses nothing that
// matters when the oldest are dropped.
const notifyBuffer = 16

// messenger serves messenger.Messenger for plugins of protocol < 42 and
// turns each Notify into a node notification.
type messenger struct {
	messengerpb.UnimplementedMessengerServer

	mu     sync.Mutex
	ch     chan vmpb.Message
	closed bool
}

func newMessenger() *messenger { return &messenger{ch: make(chan vmpb.Message, notifyBuffer)} }

// Notify queues the message; an unknown message is InvalidArgument.
func (m *messenger) Notify(_ context.Context, req *messengerpb.NotifyRequest) (*messengerpb.NotifyResponse, error) {
	msg := vmpb.Message(req.GetMessage())
	if msg != vmpb.Message_MESSAGE_BUILD_BLOCK && msg != vmpb.Message_MESSAGE_STATE_SYNC_FINISHED {
		return nil, status.Errorf(codes.InvalidArgument, "messenger: unknown message %d", req.GetMessage())
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, status.Error(codes.Unavailable, "messenger: node closed")
	}
	for {
		select {
		case m.ch <- msg:
			return &messengerpb.NotifyResponse{}, nil
		default:
			<-m.ch // full: drop the oldest, keep the newest
		}
	}
}

func (m *messenger) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		close(m.ch)
	}
}

// Notifications are the messages a plugin of protocol < 42 sent through
// messenger.Messenger/Notify, in order. The channel closes with the node.
func (n *Node) Notifications() <-chan vmpb.Message { return n.messenger.ch }
