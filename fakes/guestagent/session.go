package guestagent

import (
	"os"
	"sync/atomic"
)

// session is the state of one served channel: its file root and the upload
// in progress.
type session struct {
	a       *Agent
	root    *os.Root // nil when file commands are disabled or the root failed to open
	rootErr error
	upload  *upload
	// afterReply runs once the reply to the current request is written
	// (poweroff: the host hears the answer before the guest goes away).
	afterReply func()
}

var uploadSeq atomic.Int64

func (a *Agent) newSession() *session {
	s := &session{a: a}
	if a.opts.Root != "" {
		s.root, s.rootErr = os.OpenRoot(a.opts.Root)
	}
	return s
}

// close drops an unfinished upload and releases the root.
func (s *session) close() {
	s.fileAbort()
	if s.root != nil {
		s.root.Close()
	}
}
