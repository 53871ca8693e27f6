package realhv

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/internal/buildbin"
)

// benchGuest boots one tiny guest and returns its agent connection once the
// agent answers, with the time from define to that answer.
func benchGuest(b *testing.B, h *Host, img Image, dir, name string) (net.Conn, *bufio.Reader, *Domain, time.Duration) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sock := filepath.Join(dir, name+".sock")
	start := time.Now()
	d, err := h.Create(ctx, name, Spec{Kernel: img.Kernel, Initrd: img.Initrd, Cmdline: Cmdline,
		Channels: []Channel{{Name: "com.vmagent.sock", Socket: sock}}})
	if err != nil {
		b.Fatal(err)
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	r := bufio.NewReader(conn)
	for id := 1; ; id++ {
		line, err := roundTrip(conn, r, id)
		if err == nil && strings.Contains(line, "pong") {
			break
		}
		if ctx.Err() != nil {
			b.Fatalf("no pong from %s: %v", name, ctx.Err())
		}
	}
	return conn, r, d, time.Since(start)
}

// roundTrip pings with an id and reads until the reply with that id.
func roundTrip(conn net.Conn, r *bufio.Reader, id int) (string, error) {
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	tag := fmt.Sprintf(`"id":%d`, id)
	if _, err := fmt.Fprintf(conn, "{%s,\"command\":\"ping\"}\n", tag); err != nil {
		return "", err
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil || strings.Contains(line, tag+",") || strings.Contains(line, tag+"}") {
			return line, err
		}
	}
}

func benchSetup(b *testing.B) (*Host, Image, string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	h, err := Connect(ctx, "", Options{Prefix: testPrefix})
	if err != nil {
		b.Skipf("no libvirt here: %v", err)
	}
	b.Cleanup(func() { _, _ = h.Sweep(); _ = h.Close() })
	agent, err := buildbin.Build("./cmd/vmagent", "", "CGO_ENABLED=0")
	if err != nil {
		b.Fatal(err)
	}
	img, err := BuildImage(ctx, guestCache(), agent)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	for d := dir; d != "/tmp" && d != "/"; d = filepath.Dir(d) {
		_ = chmodAll(d)
	}
	return h, img, dir
}

// BenchmarkGuestLifecycle: define to agent ready, agent round trips over
// the real virtio-serial channel, and destroy + undefine, per guest, with
// one guest or two at once (TCG here; KVM on KVM hosts).
func BenchmarkGuestLifecycle(b *testing.B) {
	for _, par := range []int{1, 2} {
		b.Run(fmt.Sprintf("guests=%d", par), func(b *testing.B) {
			h, img, dir := benchSetup(b)
			var ready, destroy, rtt time.Duration
			for i := 0; i < b.N; i++ {
				var mu sync.Mutex
				var wg sync.WaitGroup
				for g := range par {
					wg.Go(func() {
						conn, r, d, took := benchGuest(b, h, img, dir, fmt.Sprintf("bench-%d-%d", i, g))
						const pings = 100
						start := time.Now()
						for id := 1000; id < 1000+pings; id++ {
							if _, err := roundTrip(conn, r, id); err != nil {
								b.Error(err)
								break
							}
						}
						perPing := time.Since(start) / pings
						conn.Close()
						start = time.Now()
						if err := d.Remove(); err != nil {
							b.Error(err)
						}
						gone := time.Since(start)
						mu.Lock()
						ready, rtt, destroy = ready+took, rtt+perPing, destroy+gone
						mu.Unlock()
					})
				}
				wg.Wait()
			}
			n := time.Duration(b.N * par)
			b.ReportMetric(float64((ready / n).Milliseconds()), "ms/define-to-agent-ready")
			b.ReportMetric(float64((rtt / n).Microseconds()), "µs/agent-round-trip")
			b.ReportMetric(float64((destroy / n).Milliseconds()), "ms/destroy")
		})
	}
}

func chmodAll(d string) error { return os.Chmod(d, 0o777) }
