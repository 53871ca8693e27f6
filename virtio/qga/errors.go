package qga

import (
	"errors"
	"fmt"
	"strings"
)

// Error is an {"error":{"class","desc"}} reply.
type Error struct {
	Command string
	Class   string
	Desc    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("qga %s: %s: %s", e.Command, e.Class, e.Desc)
}

// Sentinels matched by errors.Is on an *Error.
var (
	// ErrDisabled: the agent was started with the command blocked (qemu-ga -b).
	ErrDisabled = errors.New("command disabled")
	// ErrCommandNotFound: the agent does not know the command.
	ErrCommandNotFound = errors.New("command not found")
)

// Is lets errors.Is(err, ErrDisabled) and errors.Is(err, ErrCommandNotFound) classify agent errors.
// qemu-ga reports a blocked command as CommandNotFound ("Command X has been disabled"; older
// versions: GenericError "The command X has been disabled for this instance").
func (e *Error) Is(target error) bool {
	switch target {
	case ErrDisabled:
		return e.Disabled()
	case ErrCommandNotFound:
		return e.Class == "CommandNotFound" && !e.Disabled()
	}
	return false
}

// Disabled reports whether the agent refused the command because it is blocked.
func (e *Error) Disabled() bool {
	return (e.Class == "CommandNotFound" || e.Class == "GenericError") && strings.Contains(e.Desc, "has been disabled")
}

// ProtocolError is a reply the client cannot use; Raw keeps it.
type ProtocolError struct {
	Command string
	Raw     []byte
	Err     error
}

func (e *ProtocolError) Error() string {
	raw := e.Raw
	if len(raw) > 200 {
		raw = append(raw[:200:200], "..."...)
	}
	return fmt.Sprintf("qga %s: bad reply %q: %v", e.Command, raw, e.Err)
}

func (e *ProtocolError) Unwrap() error { return e.Err }
