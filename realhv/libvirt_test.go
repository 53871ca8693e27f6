package realhv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"go.uber.org/goleak"

	"github.com/vmtestbed/vmtestbed/internal/realhvtest"
)

// These tests talk to a real libvirtd (qemu:///system, or
// $VMTESTBED_LIBVIRT_URI) driving real QEMU. Without one they skip, unless
// VMTESTBED_REALHV=1 (make test-realhv, CI), which makes that a failure.

const testPrefix = "vmtestbed-test"

// TestMain checks that no test leaves a goroutine (go-libvirt's included) behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func connect(t testing.TB) *Host {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := Connect(ctx, os.Getenv("VMTESTBED_LIBVIRT_URI"), Options{Prefix: testPrefix})
	if err != nil {
		realhvtest.Unavailable(t, "libvirt", err)
	}
	// What an interrupted run left behind goes first.
	if swept, err := h.Sweep(); err != nil {
		t.Fatalf("sweep leftovers: %v", err)
	} else if len(swept) > 0 {
		t.Logf("swept %d domains an earlier run left: %v", len(swept), swept)
	}
	t.Cleanup(func() {
		if _, err := h.Sweep(); err != nil {
			t.Errorf("sweep: %v", err)
		}
		if err := h.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return h
}

// sharedDir is a directory QEMU (which libvirt may run as another user) can
// create sockets in.
func sharedDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestDomainLifecycle: a firmware-only domain (no guest: it never answers
// the ACPI power button) starts, reports stats, a pty console and its
// channel socket; a graceful shutdown runs out its deadline and destroys
// it; removing it leaves nothing.
func TestDomainLifecycle(t *testing.T) {
	h := connect(t)
	t.Logf("libvirt %s, accelerator %s", h.URI(), h.Accel())
	dir := sharedDir(t)
	sock := filepath.Join(dir, "agent.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := h.Create(ctx, "lifecycle", Spec{MemoryMiB: 64, Channels: []Channel{{Name: "com.vmagent.sock", Socket: sock}}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.Name, testPrefix+"-") {
		t.Errorf("domain name %q lacks the prefix", d.Name)
	}
	st, err := d.Stats()
	if err != nil || st.State != libvirt.DomainRunning || st.MemoryKiB != 64*1024 || st.VCPUs != 1 {
		t.Errorf("stats %+v, %v", st, err)
	}
	pty, err := d.ConsolePTY()
	if err != nil || !strings.HasPrefix(pty, "/dev/pts/") {
		t.Errorf("console pty %q, %v", pty, err)
	}
	src, err := d.Channel("com.vmagent.sock")
	if err != nil || src.Path != sock {
		t.Errorf("channel discovered from the live XML: %+v, %v", src, err)
	}
	if _, err := os.Stat(sock); err != nil {
		t.Errorf("QEMU did not create the channel socket: %v", err)
	}
	names, err := h.Domains()
	if err != nil || !slices.Contains(names, d.Name) {
		t.Errorf("Domains() = %v, %v; want %s in it", names, err, d.Name)
	}

	start := time.Now()
	graceful, err := d.Shutdown(ctx, 2*time.Second)
	if err != nil || graceful {
		t.Fatalf("Shutdown of a guest that ignores ACPI: graceful=%v err=%v, want a destroy after the deadline", graceful, err)
	}
	if took := time.Since(start); took < 2*time.Second || took > 15*time.Second {
		t.Errorf("Shutdown took %s with a 2s deadline", took)
	}
	if s, err := d.State(); err != nil || s != libvirt.DomainShutoff {
		t.Errorf("after Shutdown: state %v, %v", s, err)
	}
	if err := d.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(); err != nil {
		t.Errorf("a second Remove: %v", err)
	}
	if names, _ := h.Domains(); slices.Contains(names, d.Name) {
		t.Errorf("%s still defined after Remove", d.Name)
	}
}

// TestSweepRemovesLeftovers: a run that ended without cleaning up (its Host
// closed, its domain still running) is swept by the next Host with the
// same prefix.
func TestSweepRemovesLeftovers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	first := connect(t)
	d, err := first.Create(ctx, "leftover", Spec{MemoryMiB: 64})
	if err != nil {
		t.Fatal(err)
	}
	// The next run's Host (same prefix) sweeps it.
	second, err := Connect(ctx, os.Getenv("VMTESTBED_LIBVIRT_URI"), Options{Prefix: testPrefix})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	swept, err := second.Sweep()
	if err != nil || !slices.Contains(swept, d.Name) {
		t.Fatalf("Sweep = %v, %v; want %s swept", swept, err, d.Name)
	}
	if names, _ := first.Domains(); len(names) != 0 {
		t.Errorf("after Sweep: %v", names)
	}
}

func TestCreateRefusesBadSpec(t *testing.T) {
	h := connect(t)
	if _, err := h.Create(context.Background(), "bad", Spec{Initrd: "/x"}); err == nil {
		t.Fatal("an initrd without a kernel was accepted")
	}
	if names, _ := h.Domains(); len(names) != 0 {
		t.Errorf("a refused spec left %v", names)
	}
}

// testDriver connects to libvirt's test driver (test:///default: domains
// without QEMU), closed when the test ends.
func testDriver(ctx context.Context, t *testing.T) *Host {
	t.Helper()
	h, err := Connect(ctx, "test:///default", Options{Prefix: testPrefix})
	if err != nil {
		realhvtest.Unavailable(t, "libvirt's test driver", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// TestLifecycleOnTestDriver is the fast, lifecycle-only tier: libvirt's own
// test driver (test:///default) defines, starts, reports and removes
// domains without QEMU, through the same code as qemu:///system.
func TestLifecycleOnTestDriver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := testDriver(ctx, t)
	var names []string
	for _, short := range []string{"a", "b", "c"} {
		d, err := h.Create(ctx, short, Spec{MemoryMiB: 64, VCPUs: 2})
		if err != nil {
			t.Fatal(err)
		}
		st, err := d.Stats()
		if err != nil || st.State != libvirt.DomainRunning || st.VCPUs != 2 {
			t.Errorf("%s: stats %+v, %v", d.Name, st, err)
		}
		names = append(names, d.Name)
	}
	swept, err := h.Sweep()
	if err != nil || len(swept) != 3 {
		t.Fatalf("Sweep = %v, %v; want the 3 domains %v", swept, err, names)
	}
	if left, _ := h.Domains(); len(left) != 0 {
		t.Errorf("left after Sweep: %v", left)
	}
}

// TestWaitStoppedSeveralDomains: libvirt gives a connection one event
// subscription, so a Host shares one among all its waits: three domains
// watched at once each see their own stop, and a wait on a running domain
// keeps waiting. (Each wait used to subscribe itself, and all but the first
// failed at once with "event callback already tracked".)
func TestWaitStoppedSeveralDomains(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := testDriver(ctx, t)
	defer h.Sweep()
	var doms []*Domain
	for _, short := range []string{"w1", "w2", "w3", "keep"} {
		d, err := h.Create(ctx, short, Spec{MemoryMiB: 64, VCPUs: 1})
		if err != nil {
			t.Fatal(err)
		}
		doms = append(doms, d)
	}
	errs := make(chan error, len(doms))
	for _, d := range doms {
		go func() { errs <- d.WaitStopped(ctx) }()
	}
	// A wait that could not subscribe returns at once; give them a moment
	// to fail before the stops (a failure is an error below either way).
	keepCtx, keepCancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer keepCancel()
	if err := doms[3].WaitStopped(keepCtx); err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a wait on a running domain ended with %v, want its deadline", err)
	}
	for _, d := range doms[:3] {
		if err := d.Destroy(); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Errorf("WaitStopped: %v", err)
		}
	}
	if err := doms[3].Destroy(); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Errorf("WaitStopped of the last domain: %v", err)
	}
}
