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

func (r *recorder) add(method string, err error) {
	code := status.Code(err)
	if errors.Is(err, io.EOF) {
		code = codes.OK
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.paused {
		r.calls = append(r.calls, report.Call{Method: method, Code: code.String()})
	}
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
	return &recordedStream{ClientStream: s, rec: r, method: method}, nil
}

// recordedStream records a stream once, when its first receive ends or fails:
// that is where a server's Unimplemented or validation error shows up.
type recordedStream struct {
	grpc.ClientStream
	rec    *recorder
	method string
	once   sync.Once
}

func (s *recordedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	s.once.Do(func() { s.rec.add(s.method, err) })
	return err
}
