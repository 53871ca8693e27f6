package hypervisor

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
)

// consoleOf returns an instance's console (NotFound if unknown) and takes
// one of Limits.MaxConsoleStreams (ResourceExhausted when none is left);
// release gives it back.
func (s *Server) consoleOf(id string) (con *console, release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, err := s.getInstance(id)
	if err != nil {
		return nil, nil, err
	}
	if s.consoleStreams >= s.opts.Limits.MaxConsoleStreams {
		return nil, nil, errf(codes.ResourceExhausted, "%d console streams are attached, the limit (Limits.MaxConsoleStreams); detach one first", s.consoleStreams)
	}
	s.consoleStreams++
	return in.console, func() { // called once, deferred by the stream
		s.mu.Lock()
		s.consoleStreams--
		s.mu.Unlock()
	}, nil
}

// takeWatcher counts a new watch stream against Limits.MaxWatchers
// (ResourceExhausted when none is left). Call with s.mu held; the stream
// decrements s.watchers when it ends.
func (s *Server) takeWatcher() error {
	if s.watchers >= s.opts.Limits.MaxWatchers {
		return errf(codes.ResourceExhausted, "%d watch streams are open, the limit (Limits.MaxWatchers); close one first", s.watchers)
	}
	s.watchers++
	return nil
}

// consoleErr maps console errors to gRPC codes.
func consoleErr(id string, err error) error {
	if errors.Is(err, errConsoleClosed) {
		return errf(codes.NotFound, "instance %q was deleted", id)
	}
	return errf(codes.ResourceExhausted, "console of %s: %v", id, err)
}

// streamConsole attaches to con, signals readiness (headers), sends the
// history, then live output until the client leaves (nil), the instance is
// deleted (nil), the server closes (Unavailable) or the client reads too
// slowly (ResourceExhausted).
func streamConsole(ctx context.Context, done <-chan struct{}, con *console, id string, ready func() error, send func([]byte) error) error {
	history, w, err := con.attach()
	if err != nil {
		return consoleErr(id, err)
	}
	defer con.detach(w)
	if err := ready(); err != nil {
		return err
	}
	if len(history) > 0 {
		if err := send(history); err != nil {
			return err
		}
	}
	return pump(ctx, done, w, send)
}

// Machine returns the machine instance id runs on (made on first use), for
// a harness that reaches the guest: its channels (the guest agent's), its
// console and its domain XML. NotFound if the instance is unknown.
func (s *Server) Machine(id string) (Machine, error) {
	s.mu.Lock()
	in, err := s.getInstance(id)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	m, err := in.console.open()
	if err != nil {
		return nil, consoleErr(id, err)
	}
	return m, nil
}
