package avalanchego

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vmtestbed/vmtestbed/transport"
)

type outputKey struct{}

// PluginOutput returns the writer an in-process plugin should log to: it
// feeds Plugin.StderrTail and LaunchConfig.Log. Outside LaunchInProcess's
// serve context it returns io.Discard.
func PluginOutput(ctx context.Context) io.Writer {
	if w, ok := ctx.Value(outputKey{}).(io.Writer); ok {
		return w
	}
	return io.Discard
}

// LaunchInProcess runs serve in a goroutine exactly as a plugin binary would
// run: serve gets the runtime engine address (a bufnet address on tr) and
// must listen on tr, start its VM server, and call
// vm.runtime.Runtime/Initialize there. serve returns when the plugin is done
// (after Shutdown, or when its context is cancelled by Stop). Its context
// carries PluginOutput.
func LaunchInProcess(ctx context.Context, tr *transport.Bufnet, serve func(ctx context.Context, engineAddr string) error, cfg LaunchConfig) (*Plugin, error) {
	cfg = cfg.withDefaults()
	const path = "in-process"
	if tr == nil || serve == nil {
		return nil, &LaunchError{Path: path, Phase: PhaseStart, Err: fmt.Errorf("a bufnet and a serve func are required")}
	}
	l, addr, err := tr.Listen("runtime")
	if err != nil {
		return nil, &LaunchError{Path: path, Phase: PhaseStart, Err: err}
	}
	eng := startRuntimeEngine(l, addr, newHandshakeServer(cfg.Protocol, cfg.SameWire, path), cfg.Trace)
	tail := newTailWriter(cfg.Log)
	serveCtx, cancel := context.WithCancel(context.WithValue(context.Background(), outputKey{}, io.Writer(tail)))
	g := &goroutine{cancel: cancel, done: make(chan struct{})}
	go func() {
		err := serve(serveCtx, addr)
		g.finish(err)
	}()
	p := &Plugin{cfg: cfg, path: path, tail: tail, life: g, Transport: tr}
	return finishLaunch(ctx, p, eng)
}

// goroutine is an in-process plugin's lifecycle.
type goroutine struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	status string
}

func (g *goroutine) finish(err error) {
	g.mu.Lock()
	if err != nil {
		g.status = "returned error: " + err.Error()
	} else {
		g.status = "returned"
	}
	g.mu.Unlock()
	g.cancel()
	close(g.done)
}

func (g *goroutine) exited() <-chan struct{} { return g.done }
func (g *goroutine) pid() int                { return 0 }

func (g *goroutine) exitStatus() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.status
}

// terminate waits grace for serve to return by itself, then cancels its
// context and waits grace again; a serve that ignores cancellation is
// reported (a goroutine cannot be killed).
func (g *goroutine) terminate(ctx context.Context, grace time.Duration) error {
	if waitDone(ctx, g.done, grace) {
		return nil
	}
	g.cancel()
	if waitDone(context.WithoutCancel(ctx), g.done, grace) {
		return nil
	}
	return fmt.Errorf("in-process plugin did not return within %s of cancellation", grace)
}

func waitDone(ctx context.Context, done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}
