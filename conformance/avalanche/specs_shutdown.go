package avalanche

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // ginkgo DSL
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
)

// shutdownSpecs: stopping a chain in normal operation as AvalancheGo
// does: the Shutdown RPC goes out while the node's WaitForEvent is still
// pending and API requests are being served, and right after it returns
// the node stops serving the plugin's database.
func (s *suite) shutdownSpecs() {
	Describe("stopping a chain", Ordered, func() {
		var t *target
		var shut shutdownRun
		BeforeAll(func(ctx SpecContext) {
			t = s.mustLaunch()
			expectOK(t.start(ctx), "starting the chain (Initialize, SetState, SetPreference, SetState) failed")
		})

		s.it("AVA-SHD-002", func(ctx SpecContext) {
			shut = t.shutdownUnderLoad(ctx)
			expectOK(shut.err, "Shutdown with %s in flight did not return; AvalancheGo sends it without cancelling or awaiting them, and waits for it", shut.inFlight)
		})

		s.it("AVA-SHD-003", func(ctx SpecContext) {
			s.needs("AVA-SHD-002")
			if shut.returned.IsZero() || shut.err != nil {
				Fail("Shutdown did not return (see AVA-SHD-002), so there is no \"after Shutdown\" to check")
			}
			// AvalancheGo stops serving the database right after Shutdown
			// returned; the suite keeps serving it until the plugin is gone,
			// to see whether the plugin still uses it.
			termErr := t.terminate()
			late := t.db.lateCalls()
			t.node.StopServices()
			if len(late) > 0 {
				Fail(fmt.Sprintf("after Shutdown returned, the plugin called its database %d times (%s) before it exited (%s, %v); AvalancheGo stops serving the database as soon as Shutdown returns, so these calls fail and what they write is lost", len(late), strings.Join(late, ", "), t.plugin.ExitStatus(), termErr))
			}
		})
	})
}

// shutdownRun is what AVA-SHD-002 did: Shutdown's outcome and the calls
// that were in flight.
type shutdownRun struct {
	err      error
	inFlight string
	http     *httpLoad
	returned time.Time // when Shutdown returned
}

// shutdownUnderLoad sends Shutdown while a WaitForEvent is pending and HTTP
// requests are being served. The calls in flight are ended when the spec is.
func (t *target) shutdownUnderLoad(ctx SpecContext) shutdownRun {
	run := shutdownRun{inFlight: "no call"}
	callCtx, cancelCalls := context.WithCancel(context.Background())
	DeferCleanup(cancelCalls)
	var what []string
	if !avalanchego.UsesMessenger(t.cfg.Protocol) {
		t.pendingWaitForEvent(callCtx)
		what = append(what, "a WaitForEvent")
	}
	if c, err := t.anyHTTPClient(ctx); err == nil && c != nil {
		run.http = startHTTPLoad(callCtx, c, 4)
		expectOK(run.http.started(ctx, t.cfg.CallTimeout), "the VM's HTTP handler did not answer before Shutdown")
		what = append(what, "HTTP requests")
	}
	// A whole round trip on the plugin's connection after the WaitForEvent
	// went out: it is being served now.
	t.health(ctx, "before Shutdown")
	if len(what) > 0 {
		run.inFlight = fmt.Sprint(what)
	}
	run.err = t.shutdown(ctx)
	run.returned = time.Now()
	// Then, as AvalancheGo, stop waiting for the event and the API.
	cancelCalls()
	run.http.stop()
	return run
}

// pendingWaitForEvent sends a WaitForEvent and returns once it is on its
// way to the plugin; the channel gets its outcome.
func (t *target) pendingWaitForEvent(ctx context.Context) <-chan error {
	sent := &sendSignal{ch: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		// Not through do: the spec times the call itself, not its diagnosis.
		id := t.s.running.add("WaitForEvent")
		defer t.s.running.done(id)
		_, err := t.vm.WaitForEvent(ctx, &emptypb.Empty{}, grpc.PerRPCCredentials(sent))
		done <- err
	}()
	select {
	case <-sent.ch:
	case err := <-done:
		done <- err
	}
	return done
}

// sendSignal is per-call "credentials" that only say when the call's
// headers are being written.
type sendSignal struct {
	once sync.Once
	ch   chan struct{}
}

func (s *sendSignal) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	s.once.Do(func() { close(s.ch) })
	return nil, nil
}

func (*sendSignal) RequireTransportSecurity() bool { return false }

// anyHTTPClient is a client for the VM's HTTP API: the workload's handler,
// the first CreateHandlers handler, or the NewHTTPHandler server; nil if
// the VM serves none.
func (t *target) anyHTTPClient(ctx context.Context) (*avalanchego.HTTPClient, error) {
	if _, c, err := t.workload(ctx); err == nil {
		return c, nil
	}
	handlers, err := t.createHandlers(ctx)
	if err != nil {
		return nil, err
	}
	if len(handlers) > 0 {
		return t.httpClient(handlers[0], "")
	}
	if avalanchego.UsesMessenger(t.cfg.Protocol) {
		return nil, nil
	}
	addr, err := t.newHTTPHandler(ctx)
	if err != nil || addr == "" {
		return nil, err
	}
	return t.httpClient(nil, addr)
}

// httpLoad keeps n HTTP requests in flight until stopped.
type httpLoad struct {
	first   chan struct{} // closed when a request was answered
	once    sync.Once
	stopped atomic.Bool   // no new requests
	ended   chan struct{} // closed when every worker stopped
}

func startHTTPLoad(ctx context.Context, c *avalanchego.HTTPClient, n int) *httpLoad {
	l := &httpLoad{first: make(chan struct{}), ended: make(chan struct{})}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !l.stopped.Load() {
				if _, _, _, err := c.Simple(ctx, http.MethodGet, "/", nil, nil); err != nil {
					return // the plugin stopped serving: Shutdown ended it
				}
				l.once.Do(func() { close(l.first) })
			}
		}()
	}
	go func() { wg.Wait(); close(l.ended) }()
	return l
}

// started waits for the first answer.
func (l *httpLoad) started(ctx context.Context, limit time.Duration) error {
	select {
	case <-l.first:
		return nil
	case <-l.ended:
		return fmt.Errorf("every HTTP request failed")
	case <-time.After(limit):
		return fmt.Errorf("no HTTP answer within %s", limit)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop ends the load: no new requests; the caller cancelled those in
// flight, and they end with the plugin's connection anyway.
func (l *httpLoad) stop() {
	if l == nil {
		return
	}
	l.stopped.Store(true)
	<-l.ended
}
