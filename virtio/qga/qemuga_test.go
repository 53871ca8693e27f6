package qga

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/virtio"
)

// blocked are the commands that could change this machine (tests may run as root).
// guest-exec stays allowed: the tests only run /bin/echo and /bin/sh printing to stdout/stderr.
var blocked = []string{
	"guest-shutdown", "guest-suspend-disk", "guest-suspend-ram", "guest-suspend-hybrid",
	"guest-set-time", "guest-set-user-password", "guest-fsfreeze-freeze", "guest-fsfreeze-freeze-list",
	"guest-fsfreeze-thaw", "guest-fstrim", "guest-set-vcpus", "guest-set-memory-blocks",
	"guest-ssh-add-authorized-keys", "guest-ssh-remove-authorized-keys",
}

// qemuGA finds qemu-ga; without it the test fails (CI installs it) unless VMTESTBED_NO_QEMU_GA=1.
func qemuGA(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("qemu-ga"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/bin/qemu-ga", "/usr/sbin/qemu-ga"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("VMTESTBED_NO_QEMU_GA") == "1" {
		t.Skip("qemu-ga not installed and VMTESTBED_NO_QEMU_GA=1")
	}
	t.Fatal("qemu-ga not found: install qemu-guest-agent (apt-get install qemu-guest-agent), or set VMTESTBED_NO_QEMU_GA=1 to skip")
	return ""
}

// startQGA runs qemu-ga with method on path (a socket to create, or a tty to open) with its
// state, pid file and log under dir. Cleanup kills it and prints the log tail if the test failed.
func startQGA(t *testing.T, dir, method, path string) {
	t.Helper()
	bin := qemuGA(t)
	logPath := filepath.Join(dir, "qga.log")
	cmd := exec.Command(bin, "-m", method, "-p", path, "-t", dir,
		"-f", filepath.Join(dir, "qga.pid"), "-l", logPath, "-v", "-b", strings.Join(blocked, ","))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(logPath)
			if len(log) > 4000 {
				log = log[len(log)-4000:]
			}
			t.Logf("qemu-ga %s %s stderr:\n%s\nlog tail:\n%s", method, path, stderr.String(), log)
		}
	})
}

// shortDir is a temp dir whose paths fit in a sockaddr_un.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "qga")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// eventually calls try every 5 ms until it succeeds or within elapses; it returns the last error.
func eventually(within time.Duration, try func() error) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		err := try()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// realUnixAgent starts qemu-ga on a unix socket and returns a synced client over it.
func realUnixAgent(t *testing.T) (*Client, string) {
	t.Helper()
	dir := shortDir(t)
	sock := filepath.Join(dir, "qga.sock")
	startQGA(t, dir, "unix-listen", sock)
	ch := virtio.NewUnixChannel("org.qemu.guest_agent.0", sock)
	t.Cleanup(func() { _ = ch.Close() })
	err := eventually(5*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return ch.Connect(ctx)
	})
	if err != nil {
		t.Fatalf("qemu-ga socket never accepted: %v", err)
	}
	c := New(ch, WithTimeout(5*time.Second))
	if err := c.Sync(context.Background()); err != nil {
		t.Fatalf("sync: %v", err)
	}
	return c, dir
}

// realPTYAgent starts qemu-ga in isa-serial mode on a pty slave; the client is on the master.
func realPTYAgent(t *testing.T) *Client {
	t.Helper()
	dir := shortDir(t)
	master, slave, slavePath, err := virtio.OpenPTYPair()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = slave.Close() })
	startQGA(t, dir, "isa-serial", slavePath)
	ch := virtio.NewPTYChannel("org.qemu.guest_agent.0", master)
	t.Cleanup(func() { _ = ch.Close() })
	if err := ch.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	// qemu-ga flushes the tty's input when it opens it: one Sync right after the start must
	// still succeed, resending until the agent answers.
	c := New(ch, WithTimeout(5*time.Second))
	if err := c.Sync(context.Background()); err != nil {
		t.Fatalf("sync over pty %s right after starting qemu-ga: %v", slavePath, err)
	}
	return c
}
