package recorder

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recording"
)

// hub owns the session's proxies and counts the calls in flight.
type hub struct {
	rec *recording.Writer

	mu       sync.Mutex
	proxies  map[string]*proxy                           // key: direction + target
	counters map[string]int                              // per endpoint-name prefix
	open     map[*recording.CallRecorder]context.Context // calls in flight and their server contexts
	inflight int
	idle     chan struct{} // closed while inflight == 0
	closed   bool
}

func newHub(rec *recording.Writer) *hub {
	idle := make(chan struct{})
	close(idle)
	return &hub{rec: rec, open: map[*recording.CallRecorder]context.Context{}, proxies: map[string]*proxy{}, counters: map[string]int{}, idle: idle}
}

// begin opens a recorded call. Before it takes its start time, every open
// call whose caller has given up is marked ended: gRPC cancels a stream's
// context as it reads the RST_STREAM frame, before it reads the next call
// on the connection, so a call the node cancelled before starting this one
// ends before this one starts, as the node saw it. The returned func ends
// the tracking.
func (h *hub) begin(ctx context.Context, dir recording.Direction, endpoint, method string) (*recording.CallRecorder, func()) {
	h.mu.Lock()
	for c, cctx := range h.open {
		if cctx.Err() != nil {
			c.MarkEnd()
		}
	}
	call := h.rec.Begin(dir, endpoint, method)
	h.open[call] = ctx
	if h.inflight == 0 {
		h.idle = make(chan struct{})
	}
	h.inflight++
	h.mu.Unlock()
	return call, func() {
		h.mu.Lock()
		delete(h.open, call)
		h.inflight--
		if h.inflight == 0 {
			close(h.idle)
		}
		h.mu.Unlock()
	}
}

// drain waits up to d for the calls in flight to end: after the plugin
// exited, calls to it end at once and calls the plugin made are cut off.
func (h *hub) drain(d time.Duration) {
	h.mu.Lock()
	idle := h.idle
	h.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
	}
}

// nextName numbers an endpoint name prefix: "http-writer:" -> "http-writer:1".
func (h *hub) nextName(prefix string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counters[prefix]++
	return prefix + strconv.Itoa(h.counters[prefix])
}

// proxyFor returns the address of a proxy forwarding to target, starting
// one under name unless one exists for the same target and direction.
// scoped proxies are stopped by the returned release func (a per-request
// HTTP writer ends with its Handle call); others live until closeAll.
func (h *hub) proxyFor(name string, dir recording.Direction, target string, scoped bool) (string, func(), error) {
	key := string(dir) + " " + target
	h.mu.Lock()
	if p, ok := h.proxies[key]; ok && !scoped {
		h.mu.Unlock()
		return p.addr, func() {}, nil
	}
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return "", nil, fmt.Errorf("proxy %s: the session has ended", name)
	}
	p, err := startProxy(h, name, dir, target)
	if err != nil {
		return "", nil, err
	}
	if scoped {
		return p.addr, p.stop, nil
	}
	h.mu.Lock()
	if prev, ok := h.proxies[key]; ok { // lost a race: keep the first
		h.mu.Unlock()
		p.stop()
		return prev.addr, func() {}, nil
	}
	h.proxies[key] = p
	h.mu.Unlock()
	return p.addr, func() {}, nil
}

// add registers a proxy started elsewhere (the VM endpoint).
func (h *hub) add(p *proxy) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.proxies[string(p.dir)+" "+p.target] = p
}

// closeAll stops every long-lived proxy.
func (h *hub) closeAll() {
	h.mu.Lock()
	h.closed = true
	ps := make([]*proxy, 0, len(h.proxies))
	for _, p := range h.proxies {
		ps = append(ps, p)
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.stop()
		}()
	}
	wg.Wait()
}
