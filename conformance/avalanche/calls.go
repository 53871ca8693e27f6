package avalanche

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // ginkgo DSL
)

// Every VM call of the suite goes through target.do: it bounds the call,
// keeps a list of the calls in flight (named when the run's Timeout runs
// out) and turns a failure into one readable error: "CALL: code: message",
// plus the plugin's exit status and last output lines when it died.

// inflight is the set of VM calls running right now, across targets.
type inflight struct {
	mu    sync.Mutex
	next  int
	calls map[int]runningCall
}

type runningCall struct {
	name    string
	started time.Time
}

func (f *inflight) add(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[int]runningCall{}
	}
	f.next++
	f.calls[f.next] = runningCall{name: name, started: time.Now()}
	return f.next
}

func (f *inflight) done(id int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.calls, id)
}

// String names the calls in flight, oldest first, with how long each ran.
func (f *inflight) String() string {
	f.mu.Lock()
	calls := make([]runningCall, 0, len(f.calls))
	for _, c := range f.calls {
		calls = append(calls, c)
	}
	f.mu.Unlock()
	if len(calls) == 0 {
		return "no VM call was running"
	}
	slices.SortFunc(calls, func(a, b runningCall) int { return a.started.Compare(b.started) })
	names := make([]string, len(calls))
	for i, c := range calls {
		names[i] = fmt.Sprintf("%s (running for %s)", c.name, time.Since(c.started).Round(time.Millisecond))
	}
	return "still running: " + strings.Join(names, ", ")
}

// errRunTimeout marks an error from a call cut off by Config.Timeout.
var errRunTimeout = errors.New("the suite's time limit ran out")

// runCtx bounds ctx by the run's deadline.
func (s *suite) runCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithDeadline(ctx, s.deadline)
}

// do runs one VM call named name, bounded by limit (0 = none but the run's
// Timeout). Its error is diagnosed: see target.diagnose.
func (t *target) do(ctx context.Context, name string, limit time.Duration, call func(context.Context) error) error {
	err := t.run(ctx, name, limit, call)
	if errors.Is(err, errRunTimeout) {
		return err
	}
	return t.diagnose(name, err)
}

// run is do without the diagnosis, for calls that diagnose themselves.
func (t *target) run(ctx context.Context, name string, limit time.Duration, call func(context.Context) error) error {
	ctx, cancel := t.s.runCtx(ctx)
	defer cancel()
	if limit > 0 {
		var cancelLimit context.CancelFunc
		ctx, cancelLimit = context.WithTimeout(ctx, limit)
		defer cancelLimit()
	}
	id := t.s.running.add(name)
	defer t.s.running.done(id)
	err := call(ctx)
	if err != nil && !time.Now().Before(t.s.deadline) {
		return fmt.Errorf("%s: %w (Timeout %s): %s", name, errRunTimeout, t.cfg.Timeout, t.s.running.String())
	}
	return err
}

// doCall is do with the per-call limit (Config.CallTimeout).
func (t *target) doCall(ctx context.Context, name string, call func(context.Context) error) error {
	return t.do(ctx, name, t.cfg.CallTimeout, call)
}

// expectOK fails the spec when err is set: what the spec expected, then the
// diagnosed error, never a dump of the error's structure.
func expectOK(err error, format string, args ...any) {
	if err == nil {
		return
	}
	if errors.Is(err, errRunTimeout) {
		AbortSuite(fmt.Sprintf(format, args...)+"\n"+err.Error(), 1)
	}
	Fail(fmt.Sprintf(format, args...)+"\n"+err.Error(), 1)
}

// diagnose turns a failed call into "CALL: code: message", and when the
// plugin died during it, adds its exit status or signal and the last lines
// of its output (the node's Plugin.Diagnose).
func (t *target) diagnose(call string, err error) error {
	if err == nil {
		return nil
	}
	return t.plugin.Diagnose(call, err)
}

// call bounds work that is not one VM call (HTTP requests to the VM's
// handlers, waits) by CallTimeout and the run's Timeout.
func (t *target) call(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := t.s.runCtx(ctx)
	ctx, cancelCall := context.WithTimeout(ctx, t.cfg.CallTimeout)
	return ctx, func() { cancelCall(); cancel() }
}
