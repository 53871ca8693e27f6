package hypervisor_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	conform "github.com/vmtestbed/vmtestbed/conformance/hypervisor"
	"github.com/vmtestbed/vmtestbed/conformance/report"
	fakehv "github.com/vmtestbed/vmtestbed/fakes/hypervisor"
	"github.com/vmtestbed/vmtestbed/internal/killtest"
	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// The suite runs once per process (ginkgo's limit), so faulted runs happen in
// child processes of this test binary (internal/killtest): TestMain runs the
// child named by $VMTESTBED_KILL_CHILD (a fault, a variant, or "none"),
// shaped by these.
const (
	envFocus = "HVCONFORM_CHILD_FOCUS"
	envAddr  = "HVCONFORM_CHILD_ADDR"  // a server to check instead of a fake of the child's own
	envAgent = "HVCONFORM_CHILD_AGENT" // "separate" or "dead": where AgentService is
)

func TestMain(m *testing.M) {
	if killtest.ChildName() != "" {
		os.Exit(killtest.Main(child))
	}
	// Ginkgo's interrupt handler goroutine lives for the whole process by design.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/onsi/ginkgo/v2/internal/interrupt_handler.(*InterruptHandler).registerForInterrupts.func2"))
}

func TestSuiteInProcess(t *testing.T) {
	cfg, stop, err := startFake()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	cfg.SpecTimeout = 20 * time.Second
	start := time.Now()
	conform.Run(t, cfg)
	t.Logf("suite ran in %s against the in-process fake over bufconn", time.Since(start).Round(time.Millisecond))
}

// child runs the suite in this (child) process against a fake broken by the
// fault name, or a server named by $HVCONFORM_CHILD_ADDR.
func child(name string) (report.Result, error) {
	var f fault
	if name != "none" {
		var ok bool
		if f, ok = faultByName(name); !ok {
			f, ok = variantByName(name)
		}
		if !ok {
			return report.Result{}, fmt.Errorf("unknown fault %s", name)
		}
	}
	var cfg conform.Config
	if addr := os.Getenv(envAddr); addr != "" {
		// A shared server on real time: its 30 s leases are skipped.
		cfg.Addr, cfg.LeaseWait = addr, 5*time.Second
	} else if mode := os.Getenv(envAgent); mode != "" {
		var stop func()
		var err error
		cfg, stop, err = startFakeWithAgent(mode == "dead")
		if err != nil {
			return report.Result{}, err
		}
		defer stop()
	} else {
		var stop func()
		var err error
		cfg, stop, err = startFake(f.opts...)
		if err != nil {
			return report.Result{}, err
		}
		defer stop()
	}
	opts := report.Options{Focus: f.focus}
	if fo := os.Getenv(envFocus); fo != "" {
		opts.Focus = fo
	}
	cfg.SpecTimeout, cfg.WaitTimeout = 20*time.Second, 3*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := conform.RunSuite(ctx, cfg, opts)
	if err != nil {
		return report.Result{}, err
	}
	if f.wantClean {
		if err := leftovers(ctx, cfg); err != nil {
			return report.Result{}, err
		}
	}
	return res, nil
}

// runChild runs the suite in a child process against the fake broken by fault.
func runChild(t testing.TB, fault, focus string, env ...string) report.Result {
	t.Helper()
	res, _ := killtest.RunChild(t, nil, fault, append([]string{envFocus + "=" + focus}, env...)...)
	return res
}

// TestFaults is the suite's kill matrix: each fault makes the specs it
// targets fail, skips what it must and shows up in the method table, and
// every spec fails under some fault.
func TestFaults(t *testing.T) {
	var ids []string
	for _, s := range conform.Specs() {
		ids = append(ids, s.ID)
	}
	var children []killtest.Child
	for _, f := range faults {
		children = append(children, killtest.Child{
			Name: f.name, Semantic: f.semantic, What: f.what, Want: f.wantFail,
			Env: []string{envFocus + "="},
			Check: func(t *testing.T, res report.Result, _ []byte) {
				for id, want := range f.wantMessage {
					for _, s := range res.Specs {
						if s.ID == id && !strings.Contains(s.Failure, want) {
							t.Errorf("fault %s: the failure of %s lacks %q:\n%s", f.name, id, want, s.Failure)
						}
					}
				}
				for _, id := range f.wantSkip {
					if st := specState(res, id); st != "skipped" {
						t.Errorf("fault %s: spec %s is %q; a spec whose precondition the server cannot meet MUST be skipped", f.name, id, st)
					}
				}
				for m, want := range f.wantMethods {
					if row, _ := res.Method(m); row.Status != want {
						t.Errorf("fault %s: method table says %s is %q, want %q", f.name, m, row.Status, want)
					}
				}
			},
		})
	}
	killtest.Run(t, killtest.Suite{Name: "hypervisor", Specs: ids, Children: children})
}

// specState returns the state of spec id in res ("" when it did not run).
func specState(res report.Result, id string) string {
	for _, s := range res.Specs {
		if s.ID == id {
			return s.State
		}
	}
	return ""
}

// TestFourSuitesAtOnce runs four suites at the same time, each in its own
// process, against one fake served on a loopback port: run-unique names and
// VNIs, membership instead of arithmetic on totals, and cleanup of what each
// created keep them from failing each other. The fake keeps real time here,
// so the lease specs (30 s TTL) are skipped with their reason.
func TestFourSuitesAtOnce(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served, err := fakehv.Serve(fakehv.Options{Seed: 1}, fakehv.ServeOptions{Listener: lis})
	if err != nil {
		t.Fatal(err)
	}
	defer served.Stop()

	results := make([]report.Result, 4)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runChild(t, "none", "", envAddr+"="+served.Addr())
		}()
	}
	wg.Wait()
	for i, res := range results {
		if res.Failed > 0 {
			for _, s := range res.Specs {
				if s.Failed() {
					t.Errorf("suite %d: %s failed: %s", i, s.ID, s.Failure)
				}
			}
		}
		if res.Passed < 60 {
			t.Errorf("suite %d: only %d specs passed, want at least 60 (%d skipped)", i, res.Passed, res.Skipped)
		}
		for _, s := range res.Specs {
			if !s.Passed() && !s.Failed() && s.ID != "HV-CLU-006" && s.ID != "HV-CLU-009" {
				t.Errorf("suite %d: %s was skipped; only the lease specs may be", i, s.ID)
			}
		}
	}
	t.Logf("four suites at once: %d, %d, %d and %d specs passed", results[0].Passed, results[1].Passed, results[2].Passed, results[3].Passed)
	// Everything the four suites created is gone again.
	cc := served.Conn()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nodes, err := hv.NewClusterServiceClient(cc).ListNodes(ctx, &hv.ListNodesRequest{PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	nets, err := hv.NewNetworkServiceClient(cc).ListNetworks(ctx, &hv.ListNetworksRequest{PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	vols, err := hv.NewStorageServiceClient(cc).ListVolumes(ctx, &hv.ListVolumesRequest{PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	if n, m, v := len(nodes.GetNodes()), len(nets.GetNetworks()), len(vols.GetVolumes()); n+m+v > 0 {
		t.Errorf("after four suites the server still holds %d nodes, %d networks and %d volumes", n, m, v)
	}
}

// TestAgentEndpoint: AgentService is checked at AgentAddr, apart from the
// control plane; an agent endpoint that cannot be reached makes the nine
// AgentService methods unreachable and skips their specs, and nothing else.
func TestAgentEndpoint(t *testing.T) {
	t.Run("separate", func(t *testing.T) {
		t.Parallel()
		res := runChild(t, "none", `HV-AGT-`, envAgent+"=separate")
		if res.Passed != 6 || res.Failed != 0 {
			t.Errorf("AgentService at its own endpoint: %d passed, %d failed (%v), want 6 passed", res.Passed, res.Failed, res.FailedIDs())
		}
		if row, _ := res.Method(svcAgent + "AttachConsole"); row.Status != "conformant" {
			t.Errorf("AgentService.AttachConsole is %q at its own endpoint, want conformant", row.Status)
		}
	})
	t.Run("dead", func(t *testing.T) {
		t.Parallel()
		res := runChild(t, "none", `HV-(AGT|CLU)-00[1-5]`, envAgent+"=dead")
		if res.Failed != 0 {
			t.Errorf("failed: %v; an unreachable agent endpoint MUST skip, not fail", res.FailedIDs())
		}
		for _, s := range res.Specs {
			if s.ID > "HV-AGT-005" && s.ID < "HV-CLU-001" || s.ID > "HV-CLU-005" {
				continue // filtered out by the focus
			}
			if strings.HasPrefix(s.ID, "HV-AGT-") && s.State != "skipped" {
				t.Errorf("%s is %s with the agent endpoint down, want skipped", s.ID, s.State)
			}
			if strings.HasPrefix(s.ID, "HV-CLU-") && !s.Passed() {
				t.Errorf("%s is %s; the control plane is up", s.ID, s.State)
			}
		}
		for _, m := range conform.Methods() {
			row, _ := res.Method(m)
			agent := strings.HasPrefix(m, svcAgent)
			if agent && row.Status != conform.StatusUnreachable {
				t.Errorf("%s is %q with the agent endpoint down, want %q", m, row.Status, conform.StatusUnreachable)
			}
			if !agent && row.Status == conform.StatusUnreachable {
				t.Errorf("%s is unreachable; only the agent endpoint is down", m)
			}
		}
	})
}

// TestControlPlaneThatDialsItsNodes: a control plane that creates each
// instance through the AgentService of the node it chose (at the node's ip
// and port) can schedule onto the suite's nodes, which point at its node agent.
func TestControlPlaneThatDialsItsNodes(t *testing.T) {
	res := runChild(t, "dials-nodes", "")
	if res.Passed != 14 || res.Failed != 0 {
		t.Errorf("%d passed, %d failed (%v), want the 14 compute specs to pass", res.Passed, res.Failed, res.FailedIDs())
	}
	if row, _ := res.Method(svcCompute + "CreateInstance"); row.Status != "conformant" {
		t.Errorf("CreateInstance is %q, want conformant", row.Status)
	}
}

// leftovers returns an error naming what the server still holds after a run.
func leftovers(ctx context.Context, cfg conform.Config) error {
	cc, err := grpc.NewClient("passthrough:///"+cfg.Addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, cfg.DialOptions...)...)
	if err != nil {
		return err
	}
	defer cc.Close()
	nodes, err := hv.NewClusterServiceClient(cc).ListNodes(ctx, &hv.ListNodesRequest{PageSize: 100})
	if err != nil {
		return err
	}
	insts, err := hv.NewComputeServiceClient(cc).ListInstances(ctx, &hv.ListInstancesRequest{PageSize: 100})
	if err != nil {
		return err
	}
	nets, err := hv.NewNetworkServiceClient(cc).ListNetworks(ctx, &hv.ListNetworksRequest{PageSize: 100})
	if err != nil {
		return err
	}
	vols, err := hv.NewStorageServiceClient(cc).ListVolumes(ctx, &hv.ListVolumesRequest{PageSize: 100})
	if err != nil {
		return err
	}
	if n, i, m, v := len(nodes.GetNodes()), len(insts.GetInstances()), len(nets.GetNetworks()), len(vols.GetVolumes()); n+i+m+v > 0 {
		return fmt.Errorf("after the run the server still holds %d nodes, %d instances, %d networks and %d volumes", n, i, m, v)
	}
	return nil
}
