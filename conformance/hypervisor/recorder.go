package hypervisor

import (
	"context"
	"errors"
	"io"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vmtestbed/vmtestbed/conformance/report"
)

// recorder wraps a client connection and records the method and final status
// code of every RPC, so each spec's report says which methods it exercised.
type recorder struct {
	cc grpc.ClientConnInterface

	mu     sync.Mutex
	calls  []report.Call
	paused bool
}

var _ grpc.ClientConnInterface = (*recorder)(nil)

func (r *recorder) add(method string, err error) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.paused {
		return -1
	}
	r.calls = append(r.calls, report.Call{Method: method, Code: callCode(err)})
	return len(r.calls) - 1
}

// settle sets the code of call i (a stream recorded when it opened).
func (r *recorder) settle(i int, err error) {
	if i < 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[i].Code = callCode(err)
}

func callCode(err error) string {
	if errors.Is(err, io.EOF) {
		return codes.OK.String()
	}
	return status.Code(err).String()
}

// pause stops recording (cleanup calls are not part of what a spec checks).
func (r *recorder) pause() {
	r.mu.Lock()
	r.paused = true
	r.mu.Unlock()
}

func (r *recorder) encoded() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return report.EncodeCalls(r.calls)
}

func (r *recorder) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	err := r.cc.Invoke(ctx, method, args, reply, opts...)
	r.add(method, err)
	return err
}

func (r *recorder) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := r.cc.NewStream(ctx, desc, method, opts...)
	if err != nil {
		r.add(method, err)
		return nil, err
	}
	// Recorded now, so a spec that fails before the first message still
	// names the stream; its code is settled by the first receive.
	return &recordedStream{ClientStream: s, rec: r, call: r.add(method, nil)}, nil
}

// recordedStream settles its recorded code once, when its first receive ends
// or fails: that is where a server's Unimplemented or validation error shows up.
type recordedStream struct {
	grpc.ClientStream
	rec  *recorder
	call int
	once sync.Once
}

func (s *recordedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	s.once.Do(func() { s.rec.settle(s.call, err) })
	return err
}
