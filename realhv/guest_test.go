package realhv

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cavaliergopher/cpio"
	"github.com/vmtestbed/vmtestbed/internal/buildbin"
)

// guestCache holds the kernel, busybox and initramfs BuildImage makes: a
// directory QEMU (run by libvirt, maybe as another user) can read.
func guestCache() string {
	if d := os.Getenv("VMTESTBED_GUEST_CACHE"); d != "" {
		return d
	}
	return "/var/cache/vmtestbed/guest"
}

// testImage builds the static agent and the guest image around it (from
// guestCache, so only the first test of a run pays for it).
func testImage(tb testing.TB, ctx context.Context) Image {
	tb.Helper()
	agent, err := buildbin.Build("./cmd/vmagent", "", "CGO_ENABLED=0")
	if err != nil {
		tb.Fatal(err)
	}
	img, err := BuildImage(ctx, guestCache(), agent)
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

// agentLine talks the agent's json line protocol over a domain channel's
// host socket. Each request carries an id; a late reply to an earlier,
// timed-out try (the agent answers every ping it finds once it is up) is
// skipped. Ids keep counting across redial, as such a reply may come on the
// next connection.
type agentLine struct {
	path string
	conn net.Conn
	r    *bufio.Reader
	id   int
}

func dialAgent(path string) (*agentLine, error) {
	a := &agentLine{path: path}
	return a, a.redial()
}

// redial hangs up (if connected) and connects again.
func (a *agentLine) redial() error {
	if a.conn != nil {
		a.conn.Close()
	}
	conn, err := net.Dial("unix", a.path)
	if err != nil {
		return err
	}
	a.conn, a.r = conn, bufio.NewReader(conn)
	return nil
}

func (a *agentLine) Close() error { return a.conn.Close() }

// call sends req (a json object) with the next id and reads until the reply
// with that id, within 2 s.
func (a *agentLine) call(req string) (string, error) {
	a.id++
	tag := fmt.Sprintf(`"id":%d`, a.id)
	_ = a.conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := a.conn.Write([]byte(strings.Replace(req, "{", "{"+tag+",", 1) + "\n")); err != nil {
		return "", err
	}
	for {
		line, err := a.r.ReadString('\n')
		if err != nil || strings.Contains(line, tag+",") || strings.Contains(line, tag+"}") {
			return line, err
		}
	}
}

// awaitPong pings until the agent answers pong or ctx ends. Until the
// kernel has booted and loaded the modules, QEMU takes the bytes and nobody
// reads them: each try times out.
func (a *agentLine) awaitPong(ctx context.Context) error {
	for ctx.Err() == nil {
		if pong, _ := a.call(`{"command":"ping"}`); strings.Contains(pong, "pong") {
			return nil
		}
	}
	return ctx.Err()
}

// TestGuestBootsAgent boots the project's tiny guest (Debian's cloud kernel,
// our static agent as /init) in a real domain and talks to the agent over
// the domain's virtio-serial channel: ping, exec of a busybox applet, then
// poweroff, after which the domain is off by itself.
func TestGuestBootsAgent(t *testing.T) {
	h := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	img := testImage(t, ctx)
	t.Logf("guest: kernel %s, initramfs %s; accelerator %s", img.KernelVersion, filepath.Base(img.Initrd), h.Accel())
	sock := filepath.Join(sharedDir(t), "agent.sock")
	start := time.Now()
	d, err := h.Create(ctx, "guest", Spec{
		MemoryMiB: 256, Kernel: img.Kernel, Initrd: img.Initrd, Cmdline: Cmdline,
		Channels: []Channel{{Name: "com.vmagent.sock", Socket: sock}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := d.Remove(); err != nil {
			t.Error(err)
		}
	}()
	src, err := d.Channel("com.vmagent.sock")
	if err != nil {
		t.Fatal(err)
	}
	// The host end of the channel, as libvirt made it: a unix socket QEMU listens on.
	agent, err := dialAgent(src.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	// The agent answers once the kernel has booted and loaded the modules.
	if err := agent.awaitPong(ctx); err != nil {
		t.Fatalf("no pong from the guest agent: %v", err)
	}
	t.Logf("first pong %s after the domain started", time.Since(start).Round(10*time.Millisecond))
	out, err := agent.call(`{"command":"exec","cmd":"uname","args":["-r"]}`)
	if err != nil || !strings.Contains(out, img.KernelVersion) {
		t.Errorf("exec uname -r in the guest: %v, %v; want %s", out, err, img.KernelVersion)
	}
	// The host hangs up and comes back: the agent (PID 1's child) reads end
	// of file, opens its port again, and answers the new connection.
	if err := agent.redial(); err != nil {
		t.Fatal(err)
	}
	if err := agent.awaitPong(ctx); err != nil {
		t.Fatalf("no pong after the host reconnected: %v", err)
	}
	if r, err := agent.call(`{"command":"poweroff"}`); err != nil || !strings.Contains(r, "powering off") {
		t.Fatalf("poweroff: %v, %v", r, err)
	}
	if err := d.WaitStopped(ctx); err != nil {
		t.Fatalf("the guest did not power off: %v", err)
	}
}

// TestBuildImageConcurrentAndWarm: processes building the same new initramfs
// at once each get a whole archive (no shared temp name), and a warm cache
// builds with no subprocess at all (no PATH).
func TestBuildImageConcurrentAndWarm(t *testing.T) {
	connect(t) // needs the guest cache a libvirt host's setup fills
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	testImage(t, ctx) // warms the cache
	agent, err := buildbin.Build("./cmd/vmagent", "", "CGO_ENABLED=0")
	if err != nil {
		t.Fatal(err)
	}
	// A copy of the agent with a unique tail hashes to an initramfs no one built.
	b, err := os.ReadFile(agent)
	if err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(t.TempDir(), "vmagent")
	if err := os.WriteFile(fresh, append(b, []byte(t.Name()+time.Now().String())...), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", "") // a subprocess would fail: the cache must answer everything
	const n = 4
	imgs := make([]Image, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			imgs[i], errs[i] = BuildImage(ctx, guestCache(), fresh)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if imgs[i] != imgs[0] {
			t.Fatalf("builds disagree: %+v and %+v", imgs[i], imgs[0])
		}
	}
	defer os.Remove(imgs[0].Initrd)
	f, err := os.Open(imgs[0].Initrd)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Mode().Perm()&0o044 != 0o044 {
		t.Errorf("initramfs not readable by QEMU's user: %v %v", fi.Mode(), err)
	}
	r := cpio.NewReader(f)
	entries := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("initramfs entry %d: %v", entries, err)
		}
		entries++
	}
	// 7 directories, init, the modules, their order, busybox, its applets.
	if want := 7 + 1 + len(guestModules) + 1 + 1 + len(busyboxApplets); entries != want {
		t.Errorf("initramfs has %d entries, want %d", entries, want)
	}
}
