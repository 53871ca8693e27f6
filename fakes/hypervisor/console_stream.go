package hypervisor

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// consoleOf returns an instance's console (NotFound if unknown).
func (s *Server) consoleOf(id string) (*console, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, err := s.getInstance(id)
	if err != nil {
		return nil, err
	}
	return in.console, nil
}

// consoleErr maps console errors to gRPC codes.
func consoleErr(id string, err error) error {
	if errors.Is(err, errConsoleClosed) {
		return status.Errorf(codes.NotFound, "instance %q was deleted", id)
	}
	return status.Errorf(codes.ResourceExhausted, "console of %s: %v", id, err)
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
