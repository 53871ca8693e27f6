package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/internal/buildbin"
	"github.com/vmtestbed/vmtestbed/internal/realhvtest"
	"github.com/vmtestbed/vmtestbed/realhv"
)

// realhvOrSkip skips unless libvirt answers here (VMTESTBED_REALHV=1, as in
// CI and make test-realhv, turns that into a failure) and returns the
// static guest agent to boot.
func realhvOrSkip(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := realhv.Connect(ctx, "", realhv.Options{})
	if err != nil {
		realhvtest.Unavailable(t, "libvirt", err)
	}
	_ = h.Close()
	agent, err := buildbin.Build("./cmd/vmagent", "", "CGO_ENABLED=0")
	if err != nil {
		t.Fatal(err)
	}
	return agent
}

// TestConformBackends: the guest-agent and hypervisor suites, unchanged,
// on both backends: the project's agent on a pty in process and as /init
// of a real QEMU guest over its virtio-serial socket; the hypervisor fake's
// instances as simulated machines and as real guests (console, lifecycle,
// graceful stop through the guest agent).
func TestConformBackends(t *testing.T) {
	res := runCLI(t, time.Minute, "conform", "agent", "--backend", "fake")
	if res.code != exitOK || !strings.Contains(res.out, "0 failed") {
		t.Fatalf("conform agent --backend fake: exit %d\n%s", res.code, res.out)
	}
	agent := realhvOrSkip(t)
	res = runCLI(t, 3*time.Minute, "conform", "agent", "--backend", "realhv", "--guest-agent", agent)
	if res.code != exitOK || !strings.Contains(res.out, "21 passed, 0 failed") {
		t.Fatalf("conform agent --backend realhv: exit %d\n%s", res.code, res.out)
	}
	// With a second libvirt host, the suite's nodes spread over both.
	hvArgs := []string{"conform", "hypervisor", "--backend", "realhv", "--guest-agent", agent, "--focus", `HV-(AGT|CMP)-`}
	uri2 := os.Getenv(realhvtest.EnvURI2)
	if uri2 != "" {
		hvArgs = append(hvArgs, "--libvirt-uri", realhv.DefaultURI, "--libvirt-uri", uri2)
	}
	res = runCLI(t, 3*time.Minute, hvArgs...)
	if res.code != exitOK || !strings.Contains(res.out, " 0 failed") {
		t.Fatalf("conform hypervisor --backend realhv: exit %d\n%s", res.code, res.out)
	}
	if uri2 != "" {
		for _, uri := range []string{realhv.DefaultURI, uri2} {
			if !regexp.MustCompile(`(?m)^backend realhv: nodes on ` + regexp.QuoteMeta(uri) + `: [^(\s]`).MatchString(res.out) {
				t.Errorf("no node of the run on %s:\n%s", uri, res.out)
			}
		}
	}
	t.Logf("realhv: %s", res.duration.Round(time.Millisecond))
	if out := res.out; strings.Contains(out, "vmtestbed-cli-") {
		t.Errorf("a domain name leaked into the report:\n%s", out)
	}
}

func TestBackendFlagsRefuseNonsense(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // the refusal, not some later failure with the same exit code
	}{
		{[]string{"conform", "agent", "--backend", "vmware"}, `--backend "vmware": want fake or realhv`},
		{[]string{"conform", "agent", "--backend", "realhv", "--socket", "/nonexistent"}, "--backend realhv boots its own"},
		{[]string{"conform", "hypervisor", "--backend", "realhv", "--addr", "127.0.0.1:1"}, "--addr names the server under test"},
	} {
		if res := runCLI(t, 30*time.Second, tc.args...); res.code != exitUsage || !strings.Contains(res.out, tc.want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s", tc.args, res.code, exitUsage, tc.want, res.out)
		}
	}
}

// bootingAgentRun starts `conform agent --backend realhv` on a host swept
// clean and returns once the run says its guest is booting (its domain is
// defined): the moment the interrupt tests stop it at. The run is killed
// when the test ends, should the test fail first.
func bootingAgentRun(t *testing.T, ctx context.Context) (*exec.Cmd, io.Reader, *realhv.Host) {
	t.Helper()
	agent := realhvOrSkip(t)
	h, err := realhv.Connect(ctx, "", realhv.Options{Prefix: "vmtestbed-cli"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	// A domain an earlier run left would prove nothing: start clean.
	if _, err := h.Sweep(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, cliBinary(t), "conform", "agent", "--backend", "realhv", "--guest-agent", agent)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || !strings.Contains(line, "booting") {
		t.Fatalf("the run's first line %q (%v), want its guest booting", line, err)
	}
	if names, _ := h.Domains(); len(names) == 0 {
		t.Fatal("the run has no domain: nothing to prove")
	}
	return cmd, out, h
}

// TestRealhvInterruptedRunLeavesNothing: a `conform agent --backend realhv`
// killed with SIGKILL while its guest boots leaves a domain behind; the next
// run sweeps it first, and after that run no domain is defined.
func TestRealhvInterruptedRunLeavesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd, _, h := bootingAgentRun(t, ctx)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if names, _ := h.Domains(); len(names) == 0 {
		t.Fatal("the killed run left no domain: nothing to prove")
	}
	res := runCLI(t, 3*time.Minute, "conform", "agent", "--backend", "realhv", "--guest-agent", realhvOrSkip(t), "--focus", "GA-PING-001")
	if res.code != exitOK {
		t.Fatalf("the next run: exit %d\n%s", res.code, res.out)
	}
	if names, _ := h.Domains(); len(names) != 0 {
		t.Errorf("domains left after the next run: %v", names)
	}
}

// TestRealhvSignalledRunLeavesNothing: a `conform agent --backend realhv`
// sent SIGINT while its guest boots (what ci/nightly.sh's `timeout -s INT`
// does) removes its domain before it exits. Signalled at the CLI's boot
// line, before the suite and its own interrupt handler run: without the
// command's signal context the process died there and left the domain.
func TestRealhvSignalledRunLeavesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd, out, h := bootingAgentRun(t, ctx)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }() // the run may still print while it stops
	_ = cmd.Wait()
	if ctx.Err() != nil {
		t.Fatal("the run did not stop within its bound after SIGINT")
	}
	if names, _ := h.Domains(); len(names) != 0 {
		t.Errorf("domains left after SIGINT: %v", names)
	}
}
