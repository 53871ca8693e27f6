package virtio

import (
	"errors"
	"fmt"
)

// Sentinel errors returned (wrapped with the channel name and endpoint) by channels.
var (
	// ErrNotConnected: an operation needs an open endpoint and the channel is disconnected.
	ErrNotConnected = errors.New("channel not connected")
	// ErrClosed: the channel was closed for good.
	ErrClosed = errors.New("channel closed")
	// ErrDisconnected: Disconnect or Close interrupted a pending operation.
	ErrDisconnected = errors.New("channel disconnected during operation")
	// ErrTimeout: a deadline set with SetDeadline passed.
	ErrTimeout = errors.New("channel deadline exceeded")
)

// LineTooLongError is returned by ReceiveLine when no newline arrives within Max bytes.
// The rest of that line is discarded by the next ReceiveLine.
type LineTooLongError struct {
	Max int
}

func (e *LineTooLongError) Error() string {
	return fmt.Sprintf("line longer than %d bytes", e.Max)
}

// chanError wraps err with the channel's name, endpoint and operation.
func chanError(name, endpoint, op string, err error) error {
	return fmt.Errorf("virtio channel %s (%s): %s: %w", name, endpoint, op, err)
}
