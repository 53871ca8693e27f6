package main

import (
	"encoding/xml"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestConformHypervisorInProcess(t *testing.T) {
	dir := t.TempDir()
	junit, js := filepath.Join(dir, "r.xml"), filepath.Join(dir, "r.json")
	res := runCLI(t, 120*time.Second, "conform", "hypervisor", "--junit", junit, "--json", js)
	if res.code != exitOK {
		t.Fatalf("conform hypervisor (in-process fake) exited %d:\n%s", res.code, res.out)
	}
	for _, want := range []string{"ok   [HV-CLU-001]", "79 methods: 79 conformant", " 0 failed, 0 skipped"} {
		if !strings.Contains(res.out, want) {
			t.Errorf("output lacks %q:\n%s", want, res.out)
		}
	}
	b, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(b, new(struct{})); err != nil {
		t.Errorf("--junit wrote invalid XML: %v", err)
	}
	if r := readResult(t, js); len(r.Methods) != 79 || r.Failed != 0 {
		t.Errorf("--json: %d methods, %d failed", len(r.Methods), r.Failed)
	}
}

func TestConformHypervisorExitCodes(t *testing.T) {
	// A gRPC server that serves none of hypervisor.v1: every RPC is Unimplemented.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	empty := grpc.NewServer()
	healthpb.RegisterHealthServer(empty, health.NewServer())
	done := make(chan struct{})
	go func() { defer close(done); _ = empty.Serve(lis) }()
	defer func() { empty.Stop(); <-done }()

	// An address nobody listens on.
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := gone.Addr().String()
	gone.Close()

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"focused pass", []string{"--focus", `HV-CLU-00[12]`}, exitOK, "2 passed, 0 failed, 68 skipped"},
		{"nothing implemented", []string{"--addr", lis.Addr().String(), "--focus", `HV-CLU-001`}, exitFailed, "79 unimplemented"},
		{"nothing implemented says so", []string{"--addr", lis.Addr().String()}, exitFailed, "no spec ran"},
		{"unreachable", []string{"--addr", deadAddr, "--connect-timeout", "1s"}, exitUsage, "unreachable"},
		{"bad focus", []string{"--focus", "(["}, exitUsage, "spec filter"},
		{"unknown flag", []string{"--no-such-flag"}, exitUsage, "unknown flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runCLI(t, 60*time.Second, append([]string{"conform", "hypervisor"}, tc.args...)...)
			if res.code != tc.code || !strings.Contains(res.out, tc.want) {
				t.Fatalf("exit %d (want %d), output lacks %q?\n%s", res.code, tc.code, tc.want, res.out)
			}
		})
	}
}

func TestServeHypervisorBadFlags(t *testing.T) {
	for _, args := range [][]string{{"--nodes", "-1"}, {"--listen", "256.0.0.1:1"}, {"--lease-ttl", "1s", "--heartbeat-interval", "2s"}, {"--lease-ttl", "1500ms"}} {
		res := runCLI(t, 30*time.Second, append([]string{"serve", "hypervisor"}, args...)...)
		if res.code != exitUsage {
			t.Errorf("serve hypervisor %v exited %d, want %d:\n%s", args, res.code, exitUsage, res.out)
		}
	}
}

// TestConformHypervisorLeasesInRealTime checks the lease specs against the
// served fake with real time (no ServerClock): a 2 s lease is renewed by
// heartbeats and lapses without them; a 30 s one does not fit in --lease-wait
// and is skipped with that reason.
func TestConformHypervisorLeasesInRealTime(t *testing.T) {
	short := startHVServer(t, "--lease-ttl", "2s", "--heartbeat-interval", "1s")
	res := runCLI(t, 60*time.Second, "conform", "hypervisor", "--addr", short.addr, "--focus", `HV-CLU-00[69]`)
	if res.code != exitOK || !strings.Contains(res.out, "2 passed, 0 failed") {
		t.Errorf("2 s leases in real time: exit %d, want 0 and both lease specs passed:\n%s", res.code, res.out)
	}
	if _, err := short.stop(t); err != nil {
		t.Error(err)
	}
	long := startHVServer(t)
	res = runCLI(t, 60*time.Second, "conform", "hypervisor", "--addr", long.addr, "--focus", `HV-CLU-00[69]`, "--lease-wait", "5s")
	if res.code != exitFailed || !strings.Contains(res.out, "raise --lease-wait") || !strings.Contains(res.out, "no spec ran") {
		t.Errorf("30 s leases with --lease-wait 5s: exit %d, want 1 (no spec ran) and the skip reason:\n%s", res.code, res.out)
	}
	if _, err := long.stop(t); err != nil {
		t.Error(err)
	}
}
