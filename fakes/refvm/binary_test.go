package refvm

import (
	"bytes"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"

	"github.com/vmtestbed/vmtestbed/internal/buildbin"
	"github.com/vmtestbed/vmtestbed/transport"
)

func buildRefvm(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds cmd/refvm")
	}
	bin, err := buildbin.Build("./cmd/refvm", "")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestBinaryListBroken(t *testing.T) {
	out, err := exec.Command(buildRefvm(t), "--list-broken").Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, v := range Variants() {
		want = append(want, v.Name)
	}
	if got := strings.Fields(string(out)); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("--list-broken printed %q, want %q", got, want)
	}
	out, err = exec.Command(buildRefvm(t), "--version").Output()
	if err != nil || strings.TrimSpace(string(out)) != Version {
		t.Fatalf("--version: %q %v", out, err)
	}
	if err := exec.Command(buildRefvm(t), "--bogus").Run(); err == nil || err.(*exec.ExitError).ExitCode() != 2 {
		t.Fatalf("--bogus: %v, want exit status 2", err)
	}
}

// The binary over loopback TCP: handshake, ignores SIGTERM before Shutdown,
// serves Initialize against the node's real rpcdb server, exits 0 after Shutdown.
func TestBinaryHandshakeAndShutdown(t *testing.T) {
	bin := buildRefvm(t)
	node := newTestNode(t, transport.TCP{})
	var stderr bytes.Buffer
	cmd := exec.Command(bin)
	cmd.Env = []string{"AVALANCHE_VM_RUNTIME_ENGINE_ADDR=" + node.runtimeAddr}
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	var addr string
	select {
	case req := <-node.handshakes:
		if req.ProtocolVersion != uint32(DefaultProtocol) {
			t.Fatalf("binary announced protocol %d", req.ProtocolVersion)
		}
		addr = req.Addr
	case err := <-exited:
		exited <- err
		t.Fatalf("refvm exited before the handshake: %v\n%s", err, stderr.String())
	case <-time.After(wait):
		t.Fatal("no handshake from the binary")
	}
	conn, err := transport.Dial(transport.TCP{}, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	vm := vmpb.NewVMClient(conn)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	tv := &testVM{t: t, node: node, vm: vm}
	if _, err := vm.Initialize(ctxT(t), tv.initRequest(nil)); err != nil {
		t.Fatalf("Initialize after SIGTERM: %v", err)
	}
	if _, err := vm.Shutdown(ctxT(t), &emptypb.Empty{}); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("refvm exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(wait):
		t.Fatal("refvm still running after Shutdown")
	}
}

// A failed handshake (nothing listens at the engine address) exits 1 with the reason on stderr.
func TestBinaryHandshakeFailure(t *testing.T) {
	bin := buildRefvm(t)
	cmd := exec.Command(bin)
	cmd.Env = []string{"AVALANCHE_VM_RUNTIME_ENGINE_ADDR=127.0.0.1:1"}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "runtime handshake") {
		t.Fatalf("got %v, output %q; want exit status 1 naming the handshake", err, out)
	}
}
