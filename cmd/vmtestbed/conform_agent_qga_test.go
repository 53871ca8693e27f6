package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestConformAgentExecQemuGA: the command from the issue, against Debian's
// qemu-ga on a pty, passes (it failed GA-CHAN-002 without the readiness
// handshake: qemu-ga flushes the tty's input when it opens it).
func TestConformAgentExecQemuGA(t *testing.T) {
	qga, err := exec.LookPath("qemu-ga")
	if err != nil {
		qga = "/usr/sbin/qemu-ga"
	}
	if _, err := os.Stat(qga); err != nil {
		if os.Getenv("VMTESTBED_NO_QEMU_GA") == "1" {
			t.Skip("qemu-ga not installed and VMTESTBED_NO_QEMU_GA=1")
		}
		t.Fatal("qemu-ga not found: apt-get install qemu-guest-agent, or set VMTESTBED_NO_QEMU_GA=1 to skip")
	}
	dir := t.TempDir()
	cmd := qga + " -m isa-serial -p {pty} -t " + dir + " -f " + filepath.Join(dir, "qga.pid")
	for run := range 3 {
		res := runCLI(t, time.Minute, "conform", "agent", "--protocol", "qga", "--call-timeout", "2s", "--exec", cmd)
		if res.code != exitOK || !strings.Contains(res.out, "0 failed") {
			t.Fatalf("run %d: conform agent --exec %q exited %d:\n%s", run+1, cmd, res.code, res.out)
		}
	}
}

// TestConformAgentExecEscapedChildDoesNotHang: an agent command that leaves a
// child outside its process group holding the output pipe used to make
// `conform agent --exec` hang after the suite until that child exited.
func TestConformAgentExecEscapedChildDoesNotHang(t *testing.T) {
	bin := cliBinary(t)
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	agent := `setsid sh -c 'echo $$ > ` + pidFile + `; exec sleep 120' & exec ` + bin + ` agent --protocol line --port {pty}`
	start := time.Now()
	res := runCLI(t, 2*time.Minute, "conform", "agent", "--protocol", "line", "--exec", agent)
	if res.code != exitOK {
		t.Fatalf("exit %d:\n%s", res.code, res.out)
	}
	if el := time.Since(start); el > 60*time.Second {
		t.Fatalf("conform agent took %v: it waited for the escaped child", el)
	}
}
