package hypervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vmtestbed/vmtestbed/conformance/report"
)

// recorder wraps a client connection and records the method and final status
// code of every RPC, so each spec's report says which methods it exercised,
// and remembers which call a failure is about (see blame).
//
// Before a call it consults the probe: a method the server does not implement
// (or cannot be reached for) skips the spec with that reason instead of
// failing it, since the spec's precondition cannot be met.
type recorder struct {
	cc    grpc.ClientConnInterface
	probe *Probe
	log   *callLog
}

// callLog is the state the recorders of one spec share (one per endpoint).
type callLog struct {
	mu       sync.Mutex
	calls    []report.Call
	last     string   // method of the last call not made while polling
	subject  string   // method an ongoing wait is about ("" when none)
	polling  int      // > 0 while a poll loop runs: its calls are not blamed
	cleaning bool     // cleanup: calls are not recorded, a failing one is remembered
	cleanErr string   // method of the last cleanup call that failed (not NotFound)
	blamed   []string // set by blameAll: the methods of every failed case
}

var _ grpc.ClientConnInterface = (*recorder)(nil)

func newRecorder(cc grpc.ClientConnInterface, p *Probe) *recorder {
	return &recorder{cc: cc, probe: p, log: &callLog{}}
}

// on returns a recorder for another endpoint that records into r's log.
func (r *recorder) on(cc grpc.ClientConnInterface) *recorder {
	return &recorder{cc: cc, probe: r.probe, log: r.log}
}

func (r *recorder) add(method string, err error) int {
	r.log.mu.Lock()
	defer r.log.mu.Unlock()
	if r.log.cleaning {
		if err != nil && status.Code(err) != codes.NotFound {
			r.log.cleanErr = method
		}
		return -1
	}
	if r.log.polling == 0 {
		r.log.last = method
	}
	r.log.calls = append(r.log.calls, report.Call{Method: method, Code: callCode(err)})
	return len(r.log.calls) - 1
}

// settle sets the code of call i (a stream recorded when it opened).
func (r *recorder) settle(i int, err error) {
	if i < 0 {
		return
	}
	r.log.mu.Lock()
	defer r.log.mu.Unlock()
	r.log.calls[i].Code = callCode(err)
}

func callCode(err error) string {
	if errors.Is(err, io.EOF) {
		return codes.OK.String()
	}
	return status.Code(err).String()
}

// cleanup switches to cleanup mode: calls are no longer part of what the
// spec checks.
func (r *recorder) cleanup() {
	r.log.mu.Lock()
	r.log.cleaning = true
	r.log.mu.Unlock()
}

// poll marks the calls f makes as polling: a failure while polling is
// blamed on the call that started the change being waited for, not on the
// reads that watch for it.
func (r *recorder) poll(f func()) {
	r.log.mu.Lock()
	r.log.polling++
	r.log.mu.Unlock()
	f() // on failure f panics out and polling stays set: the spec is over
	r.log.mu.Lock()
	r.log.polling--
	r.log.mu.Unlock()
}

// about names the method an assertion or wait checks, until done is called.
// A failure before done is blamed on method.
func (r *recorder) about(method string) (done func()) {
	r.log.mu.Lock()
	prev := r.log.subject
	r.log.subject = method
	r.log.mu.Unlock()
	return func() {
		r.log.mu.Lock()
		r.log.subject = prev
		r.log.mu.Unlock()
	}
}

// blameAll names the methods a spec's failed cases are about.
func (r *recorder) blameAll(methods []string) {
	r.log.mu.Lock()
	r.log.blamed = append(r.log.blamed, methods...)
	r.log.mu.Unlock()
}

// blame returns the methods a failure of the spec is about: those of its
// failed cases, else the subject of an ongoing wait, else the last call made
// outside polling. For a spec whose body passed (bodyFailed false) and whose
// cleanup failed, the delete that failed.
func (r *recorder) blame(bodyFailed bool) []string {
	r.log.mu.Lock()
	defer r.log.mu.Unlock()
	switch {
	case !bodyFailed:
		return nonEmpty(r.log.cleanErr)
	case len(r.log.blamed) > 0:
		return slices.Compact(slices.Sorted(slices.Values(r.log.blamed)))
	case r.log.subject != "":
		return nonEmpty(r.log.subject)
	default:
		return nonEmpty(r.log.last)
	}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func (r *recorder) encoded() string {
	r.log.mu.Lock()
	defer r.log.mu.Unlock()
	return report.EncodeCalls(r.log.calls)
}

// need skips the spec when the probe found method unimplemented or
// unreachable (not in cleanup, which reports what it could not delete).
func (r *recorder) need(method string) {
	r.log.mu.Lock()
	cleaning := r.log.cleaning
	r.log.mu.Unlock()
	if cleaning || r.probe == nil {
		return
	}
	if res, ok := r.probe.Result(method); ok && res.Class != Implemented {
		reason := fmt.Sprintf("precondition not met: %s is %s (probe: %s", short(method), res.Class, res.Code)
		if res.Detail != "" {
			reason += ", " + res.Detail
		}
		Skip(reason + ")")
	}
}

func (r *recorder) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	r.need(method)
	err := r.cc.Invoke(ctx, method, args, reply, opts...)
	r.add(method, err)
	return err
}

func (r *recorder) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	r.need(method)
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
