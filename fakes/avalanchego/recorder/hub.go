package recorder

import (
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
	proxies  map[string]*proxy // key: direction + target
	counters map[string]int    // per endpoint-name prefix
	inflight int
	idle     chan struct{} // closed while inflight == 0
	closed   bool
}

func newHub(rec *recording.Writer) *hub {
	idle := make(chan struct{})
	close(idle)
	return &hub{rec: rec, proxies: map[string]*proxy{}, counters: map[string]int{}, idle: idle}
}

// callStarted counts a call in flight; the returned func ends it.
func (h *hub) callStarted() func() {
	h.mu.Lock()
	if h.inflight == 0 {
		h.idle = make(chan struct{})
	}
	h.inflight++
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
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
