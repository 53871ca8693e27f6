package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/vmtestbed/vmtestbed/conformance/report"
	"github.com/vmtestbed/vmtestbed/internal/buildbin"
	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// hvBinary builds the vmtestbed CLI once per test process.
// hvServer is a `vmtestbed serve hypervisor` subprocess.
type hvServer struct {
	cmd    *exec.Cmd
	addr   string
	lines  chan string // stdout after the address line
	exited chan error
}

// startHVServer starts the serve command on 127.0.0.1:0 and waits (bounded)
// for the address it prints.
func startHVServer(t *testing.T, args ...string) *hvServer {
	t.Helper()
	cmd := exec.Command(cliBinary(t), append([]string{"serve", "hypervisor", "--listen", "127.0.0.1:0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &hvServer{cmd: cmd, lines: make(chan string, 16), exited: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
		s.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			for range s.lines {
			}
			<-s.exited
		}
	})
	select {
	case line, ok := <-s.lines:
		if !ok {
			t.Fatalf("serve hypervisor exited before printing its address: %v", <-s.exited)
		}
		// "hypervisor.v1 fake listening on 127.0.0.1:PORT (...)"
		_, rest, found := strings.Cut(line, "listening on ")
		if !found {
			t.Fatalf("unexpected first line %q", line)
		}
		s.addr, _, _ = strings.Cut(rest, " ")
	case <-time.After(30 * time.Second):
		t.Fatal("serve hypervisor printed no address within 30s")
	}
	return s
}

// stop sends SIGTERM and returns the exit error and remaining output.
func (s *hvServer) stop(t *testing.T) (string, error) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var rest []string
	timeout := time.After(15 * time.Second)
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				return strings.Join(rest, "\n"), <-s.exited
			}
			rest = append(rest, line)
		case <-timeout:
			t.Fatal("serve hypervisor did not stop within 15s of SIGTERM")
		}
	}
}

func hvDial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func TestServeHypervisorSubprocess(t *testing.T) {
	srv := startHVServer(t, "--nodes", "3", "--seed", "7")
	cc := hvDial(t, srv.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("health and pre-registered nodes", func(t *testing.T) {
		h, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health = %v, %v; want SERVING", h, err)
		}
		nodes, err := hv.NewClusterServiceClient(cc).ListNodes(ctx, &hv.ListNodesRequest{Status: hv.NodeStatus_NODE_STATUS_READY})
		if err != nil {
			t.Fatal(err)
		}
		if nodes.GetTotalCount() != 3 {
			t.Fatalf("READY nodes = %d, want 3 (--nodes 3)", nodes.GetTotalCount())
		}
	})

	t.Run("conformance suite over TCP", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "result.json")
		// 30 s leases in real time would add 105 s; TestConformHypervisorLeasesInRealTime checks them.
		res := runCLI(t, 120*time.Second, "conform", "hypervisor", "--addr", srv.addr, "--json", out, "--lease-wait", "5s")
		if res.code != exitOK {
			t.Fatalf("conform hypervisor --addr %s exited %d:\n%s", srv.addr, res.code, res.out)
		}
		r := readResult(t, out)
		if r.Passed < 40 || r.Failed != 0 {
			t.Fatalf("suite over TCP: %d passed, %d failed", r.Passed, r.Failed)
		}
	})

	t.Run("SIGTERM stops cleanly", func(t *testing.T) {
		rest, err := srv.stop(t)
		if err != nil {
			t.Fatalf("serve hypervisor exited with %v after SIGTERM; want 0", err)
		}
		if !strings.Contains(rest, "stopped") {
			t.Errorf("no stop message after SIGTERM: %q", rest)
		}
	})
}

func readResult(t *testing.T, path string) report.Result {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := report.ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// grpcurlBinary installs grpcurl v1.9.3 into the build cache, or skips the
// test when the module proxy cannot be reached.
func grpcurlBinary(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(buildbin.CacheDir(), "tools")
	bin := filepath.Join(dir, "grpcurl")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	cmd := exec.Command("go", "install", "github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3")
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("grpcurl v1.9.3 could not be installed (module proxy unreachable?): %v\n%s", err, out)
	}
	return bin
}

func TestGrpcurlAgainstServeHypervisor(t *testing.T) {
	grpcurl := grpcurlBinary(t)
	srv := startHVServer(t)
	call := func(method string, req any) map[string]any {
		t.Helper()
		body, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(grpcurl, "-plaintext", "-d", string(body), srv.addr, "hypervisor.v1."+method).CombinedOutput()
		if err != nil {
			t.Fatalf("grpcurl %s %s: %v\n%s", method, body, err, out)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("grpcurl %s printed non-JSON: %v\n%s", method, err, out)
		}
		return m
	}

	out, err := exec.Command(grpcurl, "-plaintext", srv.addr, "list").CombinedOutput()
	if err != nil {
		t.Fatalf("grpcurl list: %v\n%s", err, out)
	}
	for _, svc := range []string{"ClusterService", "ComputeService", "AgentService", "NetworkService", "StorageService"} {
		if !slices.Contains(strings.Fields(string(out)), "hypervisor.v1."+svc) {
			t.Errorf("grpcurl list lacks hypervisor.v1.%s:\n%s", svc, out)
		}
	}

	node := call("ClusterService/RegisterNode", map[string]any{
		"hostname": "grpcurl-node", "ip": "10.9.0.1", "port": 7000, "role": "NODE_ROLE_WORKER", "region": "r1",
		"capacity":               map[string]any{"cpuCores": 4, "memoryBytes": fmt.Sprint(8 << 30)},
		"supportedInstanceTypes": []string{"INSTANCE_TYPE_VM"},
	})
	if node["nodeId"] == "" || node["nodeId"] == nil {
		t.Fatalf("RegisterNode gave no nodeId: %v", node)
	}
	images := call("ComputeService/ListImages", map[string]any{"type": "INSTANCE_TYPE_VM"})
	list, _ := images["images"].([]any)
	if len(list) == 0 {
		t.Fatalf("ListImages returned no VM image: %v", images)
	}
	image := list[0].(map[string]any)["name"]
	inst := call("ComputeService/CreateInstance", map[string]any{
		"name": "grpcurl-inst", "type": "INSTANCE_TYPE_VM", "region": "r1",
		"spec": map[string]any{"image": image, "cpuCores": 1, "memoryBytes": fmt.Sprint(1 << 30)},
	})
	id, _ := inst["id"].(string)
	if id == "" || inst["nodeId"] != node["nodeId"] {
		t.Fatalf("CreateInstance = %v; want an id on node %v", inst, node["nodeId"])
	}
	waitState := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := call("ComputeService/GetInstance", map[string]any{"instanceId": id})
			if got["state"] == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("instance %s is %v; want %s", id, got["state"], want)
			}
		}
	}
	waitState("INSTANCE_STATE_STOPPED")
	call("ComputeService/StartInstance", map[string]any{"instanceId": id})
	waitState("INSTANCE_STATE_RUNNING")
	call("ComputeService/StopInstance", map[string]any{"instanceId": id, "force": true})
	waitState("INSTANCE_STATE_STOPPED")
	call("ComputeService/DeleteInstance", map[string]any{"instanceId": id})
	out, err = exec.Command(grpcurl, "-plaintext", "-d", `{"instanceId":"`+id+`"}`, srv.addr, "hypervisor.v1.ComputeService/GetInstance").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "NotFound") {
		t.Fatalf("GetInstance after DeleteInstance: err=%v\n%s", err, out)
	}
	if _, err := srv.stop(t); err != nil {
		t.Fatalf("serve hypervisor exit after SIGTERM: %v", err)
	}
}

// TestServeHypervisorKeepAliveLeavesMaintenance: the --nodes workers are kept
// alive by the fake itself, and a status a client sets survives the renewals
// (the old keep-alive loop heartbeated READY and undid MAINTENANCE).
func TestServeHypervisorKeepAliveLeavesMaintenance(t *testing.T) {
	srv := startHVServer(t, "--nodes", "1", "--heartbeat-interval", "1s", "--lease-ttl", "2s")
	cluster := hv.NewClusterServiceClient(hvDial(t, srv.addr))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes, err := cluster.ListNodes(ctx, &hv.ListNodesRequest{})
	if err != nil || len(nodes.GetNodes()) != 1 {
		t.Fatalf("ListNodes = %v, %v; want the one worker", nodes, err)
	}
	id := nodes.GetNodes()[0].GetId()
	set, err := cluster.UpdateNodeStatus(ctx, &hv.UpdateNodeStatusRequest{NodeId: id, Status: hv.NodeStatus_NODE_STATUS_MAINTENANCE})
	if err != nil {
		t.Fatal(err)
	}
	// Watch until the fake has renewed the lease at least twice (> one TTL).
	w, err := cluster.WatchNodes(ctx, &hv.WatchNodesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	renewals := 0
	for renewals < 3 {
		ev, err := w.Recv()
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		n := ev.GetNode()
		if n.GetId() != id || !n.GetLastSeen().AsTime().After(set.GetLastSeen().AsTime()) {
			continue
		}
		renewals++
		if n.GetStatus() != hv.NodeStatus_NODE_STATUS_MAINTENANCE {
			t.Fatalf("after a keep-alive renewal the worker is %v; want MAINTENANCE kept", n.GetStatus())
		}
	}
	if _, err := srv.stop(t); err != nil {
		t.Fatalf("serve hypervisor exit after SIGTERM: %v", err)
	}
}
