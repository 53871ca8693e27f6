package realhv

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// benchGuest boots one tiny guest and returns its agent connection once the
// agent answers, with the time from define to that answer. It runs off the
// benchmark's goroutine, so it returns errors instead of failing b; on an
// error it closes what it opened (the domain goes with the host's sweep).
func benchGuest(h *Host, img Image, dir, name string) (*agentLine, *Domain, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sock := filepath.Join(dir, name+".sock")
	start := time.Now()
	d, err := h.Create(ctx, name, Spec{Kernel: img.Kernel, Initrd: img.Initrd, Cmdline: Cmdline,
		Channels: []Channel{{Name: "com.vmagent.sock", Socket: sock}}})
	if err != nil {
		return nil, nil, 0, err
	}
	agent, err := dialAgent(sock)
	if err != nil {
		return nil, nil, 0, errors.Join(err, d.Remove())
	}
	if err := agent.awaitPong(ctx); err != nil {
		agent.Close()
		return nil, nil, 0, errors.Join(fmt.Errorf("no pong from %s: %w", name, err), d.Remove())
	}
	return agent, d, time.Since(start), nil
}

// benchSetup connects to the libvirt host and builds the guest image, once
// per benchmark (not per round).
func benchSetup(b *testing.B) (*Host, Image, string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return connect(b), testImage(b, ctx), sharedDir(b)
}

// BenchmarkGuestLifecycle: define to agent ready, agent round trips over
// the real virtio-serial channel, and destroy + undefine, per guest, with
// one guest or two at once (TCG here; KVM on KVM hosts).
func BenchmarkGuestLifecycle(b *testing.B) {
	h, img, dir := benchSetup(b)
	for _, par := range []int{1, 2} {
		b.Run(fmt.Sprintf("guests=%d", par), func(b *testing.B) {
			var ready, destroy, rtt time.Duration
			var guests int
			for i := 0; i < b.N; i++ {
				var mu sync.Mutex
				var wg sync.WaitGroup
				for g := range par {
					wg.Go(func() {
						agent, d, took, err := benchGuest(h, img, dir, fmt.Sprintf("bench-%d-%d-%d", par, i, g))
						if err != nil {
							b.Error(err)
							return
						}
						const pings = 100
						start := time.Now()
						for range pings {
							if _, err := agent.call(`{"command":"ping"}`); err != nil {
								b.Error(err)
								break
							}
						}
						perPing := time.Since(start) / pings
						agent.Close()
						start = time.Now()
						if err := d.Remove(); err != nil {
							b.Error(err)
						}
						gone := time.Since(start)
						mu.Lock()
						ready, rtt, destroy = ready+took, rtt+perPing, destroy+gone
						guests++
						mu.Unlock()
					})
				}
				wg.Wait()
			}
			if guests == 0 {
				return
			}
			n := time.Duration(guests)
			b.ReportMetric(float64((ready / n).Milliseconds()), "ms/define-to-agent-ready")
			b.ReportMetric(float64((rtt / n).Microseconds()), "µs/agent-round-trip")
			b.ReportMetric(float64((destroy / n).Milliseconds()), "ms/destroy")
		})
	}
}
