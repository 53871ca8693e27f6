package avalanche_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vmtestbed/vmtestbed/conformance/avalanche"
	"github.com/vmtestbed/vmtestbed/conformance/report"
	"github.com/vmtestbed/vmtestbed/fakes/refvm"
	"github.com/vmtestbed/vmtestbed/transport"
)

const (
	faultEnv  = "VMTESTBED_AVA_FAULT_CHILD"  // what this child runs: fault:GROUP or variant:NAME
	resultEnv = "VMTESTBED_AVA_FAULT_RESULT" // where the child writes the failed spec IDs
)

// pass forwards the reply unchanged (or the error).
func pass(resp proto.Message, err error) (proto.Message, error) { return resp, err }

var errInjected = status.Error(codes.Internal, "vmtestbed fault proxy: injected failure")

// faultGroup is a set of faults run together in one child process, and the
// specs each fault must fail. Faults in one group do not mask each other.
type faultGroup struct {
	stateSync bool
	faults    []fault
	want      []string
}

var faultGroups = map[string]faultGroup{
	"calls": {
		want: []string{"AVA-PRE-002", "AVA-HLT-001", "AVA-MET-001", "AVA-APP-002", "AVA-APP-003", "AVA-SEQ-001",
			"AVA-HTTP-001", "AVA-HTTP-002", "AVA-INI-004", "AVA-BLK-014", "AVA-INI-005", "AVA-BLK-008"},
		faults: []fault{
			{"Version", func(_ *proxyState, _, _ proto.Message, _ error) (proto.Message, error) { return nil, errInjected }},
			{"Health", func(_ *proxyState, _, resp proto.Message, err error) (proto.Message, error) {
				if err == nil {
					resp.(*vmpb.HealthResponse).Details = []byte("healthy, not JSON")
				}
				return pass(resp, err)
			}},
			{"Gather", func(_ *proxyState, _, resp proto.Message, err error) (proto.Message, error) {
				if g, ok := resp.(*vmpb.GatherResponse); ok && len(g.MetricFamilies) > 0 {
					g.MetricFamilies = append(g.MetricFamilies, g.MetricFamilies[0])
				}
				return pass(resp, err)
			}},
			{"AppGossip", func(_ *proxyState, _, _ proto.Message, _ error) (proto.Message, error) { return nil, errInjected }},
			{"Connected", func(_ *proxyState, _, _ proto.Message, _ error) (proto.Message, error) { return nil, errInjected }},
			{"CreateHandlers", func(_ *proxyState, _, resp proto.Message, err error) (proto.Message, error) {
				if h, ok := resp.(*vmpb.CreateHandlersResponse); ok && len(h.Handlers) > 0 {
					h.Handlers = append(h.Handlers, h.Handlers[0])
				}
				return pass(resp, err)
			}},
			{"NewHTTPHandler", func(_ *proxyState, _, _ proto.Message, _ error) (proto.Message, error) {
				return &vmpb.NewHTTPHandlerResponse{ServerAddr: "bufnet:nobody-listens-here"}, nil
			}},
			{"GetBlock", func(_ *proxyState, _, resp proto.Message, err error) (proto.Message, error) {
				if g, ok := resp.(*vmpb.GetBlockResponse); ok && g.Err == vmpb.Error_ERROR_UNSPECIFIED {
					g.Bytes = append(g.Bytes, 'x')
				}
				return pass(resp, err)
			}},
			{"GetBlockIDAtHeight", func(_ *proxyState, req, resp proto.Message, err error) (proto.Message, error) {
				r, ok := resp.(*vmpb.GetBlockIDAtHeightResponse)
				switch {
				case ok && r.Err == vmpb.Error_ERROR_NOT_FOUND:
					return nil, status.Error(codes.NotFound, "no block at that height")
				case ok && req.(*vmpb.GetBlockIDAtHeightRequest).Height == 0 && len(r.BlkId) == 32:
					r.BlkId[0] ^= 0xff
				}
				return pass(resp, err)
			}},
		},
	},
	"blocks": {
		want: []string{"AVA-BLK-004", "AVA-BLK-015", "AVA-BLK-009", "AVA-BLK-010", "AVA-BLK-013", "AVA-BLK-011", "AVA-CTX-001"},
		faults: []fault{
			{"ParseBlock", func(_ *proxyState, req, resp proto.Message, err error) (proto.Message, error) {
				if err != nil { // garbage parses
					return &vmpb.ParseBlockResponse{Id: make([]byte, 32), ParentId: make([]byte, 32), Timestamp: timestamppb.Now()}, nil
				}
				if r := resp.(*vmpb.ParseBlockResponse); r.Height > 0 {
					r.Timestamp = timestamppb.New(r.Timestamp.AsTime().Add(time.Second))
				}
				return resp, nil
			}},
			{"BlockVerify", func(st *proxyState, req, resp proto.Message, err error) (proto.Message, error) {
				r := req.(*vmpb.BlockVerifyRequest)
				if r.PChainHeight != nil {
					return nil, errInjected
				}
				st.mu.Lock()
				defer st.mu.Unlock()
				st.verified[string(r.Bytes)]++
				if st.verified[string(r.Bytes)] > 1 {
					return nil, status.Error(codes.FailedPrecondition, "already verified")
				}
				return pass(resp, err)
			}},
			{"BuildBlock", func(_ *proxyState, _, resp proto.Message, err error) (proto.Message, error) {
				if b, ok := resp.(*vmpb.BuildBlockResponse); ok {
					b.VerifyWithContext = true
				}
				return pass(resp, err)
			}},
			{"GetAncestors", func(_ *proxyState, _, resp proto.Message, err error) (proto.Message, error) {
				if a, ok := resp.(*vmpb.GetAncestorsResponse); ok {
					slices.Reverse(a.BlksBytes)
				}
				return pass(resp, err)
			}},
			{"BatchedParseBlock", func(_ *proxyState, _, resp proto.Message, err error) (proto.Message, error) {
				if b, ok := resp.(*vmpb.BatchedParseBlockResponse); ok {
					for _, r := range b.Response {
						r.Id[31] ^= 1
					}
				}
				return pass(resp, err)
			}},
			{"SetPreference", func(st *proxyState, req, resp proto.Message, err error) (proto.Message, error) {
				id := string(req.(*vmpb.SetPreferenceRequest).Id)
				st.mu.Lock()
				defer st.mu.Unlock()
				if id == st.lastPref {
					return nil, status.Error(codes.FailedPrecondition, "already preferred")
				}
				st.lastPref = id
				return pass(resp, err)
			}},
		},
	},
	"lifecycle": {
		want: []string{"AVA-INI-001", "AVA-INI-002", "AVA-STA-001", "AVA-STA-002", "AVA-STA-003", "AVA-BLK-001"},
		faults: []fault{
			{"Initialize", func(_ *proxyState, _, resp proto.Message, err error) (proto.Message, error) {
				if r, ok := resp.(*vmpb.InitializeResponse); ok {
					r.Bytes, r.Height = nil, 7
				}
				return pass(resp, err)
			}},
			{"SetState", func(_ *proxyState, _, resp proto.Message, err error) (proto.Message, error) {
				if r, ok := resp.(*vmpb.SetStateResponse); ok {
					r.LastAcceptedId[0] ^= 0xff
				}
				return pass(resp, err)
			}},
			{"WaitForEvent", func(_ *proxyState, _, resp proto.Message, err error) (proto.Message, error) {
				return &vmpb.WaitForEventResponse{Message: vmpb.Message_MESSAGE_UNSPECIFIED}, err
			}},
		},
	},
	"forks": {
		want: []string{"AVA-CON-001"},
		faults: []fault{
			{"BuildBlock", func(st *proxyState, _, resp proto.Message, err error) (proto.Message, error) {
				if b, ok := resp.(*vmpb.BuildBlockResponse); ok {
					st.mu.Lock()
					st.parents[string(b.Bytes)] = string(b.ParentId)
					st.mu.Unlock()
				}
				return pass(resp, err)
			}},
			{"BlockVerify", func(st *proxyState, req, resp proto.Message, err error) (proto.Message, error) {
				raw := string(req.(*vmpb.BlockVerifyRequest).Bytes)
				st.mu.Lock()
				defer st.mu.Unlock()
				parent, ok := st.parents[raw]
				if !ok {
					return pass(resp, err)
				}
				if first, seen := st.children[parent]; seen && first != raw {
					return nil, status.Error(codes.FailedPrecondition, "this VM cannot hold two children of one parent")
				}
				st.children[parent] = raw
				return pass(resp, err)
			}},
		},
	},
	"verify-fails": {
		want: []string{"AVA-BLK-005"},
		faults: []fault{
			{"BlockVerify", func(_ *proxyState, _, _ proto.Message, _ error) (proto.Message, error) { return nil, errInjected }},
		},
	},
	"preference-dropped": {
		want:   []string{"AVA-BLK-011"},
		faults: []fault{drop("SetPreference")},
	},
	"gossip-answered": {
		want: []string{"AVA-APP-002"},
		faults: []fault{
			{"AppGossip", func(st *proxyState, req, resp proto.Message, err error) (proto.Message, error) {
				// The VM "answers" the gossip: an AppRequest in its name
				// makes refvm send SendAppError to the gossiping peer.
				g := req.(*vmpb.AppGossipMsg)
				_, _ = st.backend.AppRequest(context.Background(), &vmpb.AppRequestMsg{NodeId: g.NodeId, RequestId: 777, Request: g.Msg})
				return pass(resp, err)
			}},
		},
	},
	"decisions": {
		stateSync: true,
		want:      []string{"AVA-CON-002", "AVA-CON-003", "AVA-SYN-001"},
		faults: []fault{
			{"BlockReject", func(st *proxyState, req, _ proto.Message, _ error) (proto.Message, error) {
				st.mu.Lock()
				st.rejected = req.(*vmpb.BlockRejectRequest).Id
				st.mu.Unlock()
				return nil, errInjected
			}},
			{"GetBlockIDAtHeight", func(st *proxyState, _, resp proto.Message, err error) (proto.Message, error) {
				st.mu.Lock()
				defer st.mu.Unlock()
				if r, ok := resp.(*vmpb.GetBlockIDAtHeightResponse); ok && st.rejected != nil && r.Err == vmpb.Error_ERROR_UNSPECIFIED {
					r.BlkId = st.rejected
				}
				return pass(resp, err)
			}},
			{"ParseStateSummary", func(_ *proxyState, _, resp proto.Message, err error) (proto.Message, error) {
				if r, ok := resp.(*vmpb.ParseStateSummaryResponse); ok {
					r.Height += 3
				}
				return pass(resp, err)
			}},
		},
	},
}

// variantWant is, for every broken refvm variant, the specs it MUST fail.
// Each runs in process, in a child, like the fault groups; the table of
// what the CLI prints for their binaries is in
// cmd/vmtestbed/conform_avalanche_test.go.
var variantWant = map[string][]string{
	refvm.VariantWrongGenesisID:        {"AVA-INI-003"},
	refvm.VariantVerifyAcceptsInvalid:  {"AVA-BLK-012"},
	refvm.VariantNondeterministicParse: {"AVA-BLK-004", "AVA-DET-001"},
	refvm.VariantStaleLastAccepted:     {"AVA-BLK-006", "AVA-STA-003"},
	refvm.VariantWrongProtocol:         {"AVA-HSK-001"},
	refvm.VariantHangShutdown:          {"AVA-PRE-001", "AVA-SHD-001"},
	refvm.VariantCrashBuild:            {"AVA-BLK-002"},
	refvm.VariantGetBlockStatus:        {"AVA-BLK-007"},
	refvm.VariantNoAppError:            {"AVA-APP-001", "AVA-APP-003"},
	refvm.VariantCrashInitialize:       {"AVA-INI-001"},
	refvm.VariantVerifyOnce:            {"AVA-BLK-015"},
	refvm.VariantVerifyRewindsAccepted: {"AVA-BLK-016"},
	refvm.VariantHeightIndexAtVerify:   {"AVA-BLK-017"},
	refvm.VariantParseLocalTimestamp:   {"AVA-DET-001"},
	refvm.VariantVerifyOwnBlocksOnly:   {"AVA-DET-002"},
	refvm.VariantMemDBState:            {"AVA-RST-001"},
	refvm.VariantVolatileHeightIndex:   {"AVA-RST-002"},
	refvm.VariantBuildOnCachedTip:      {"AVA-RST-003"},
	refvm.VariantShutdownAwaitsEvents:  {"AVA-SHD-002"},
	refvm.VariantDBAfterShutdown:       {"AVA-SHD-003"},
	refvm.VariantHTTPNoStatus:          {"AVA-HTTP-002"},
	refvm.VariantAppResponseError:      {"AVA-APP-004"},
	refvm.VariantAppFailedError:        {"AVA-APP-005"},
}

// childTimeouts bound a child's run: short, since broken plugins hang.
func childTimeouts(cfg avalanche.Config) avalanche.Config {
	cfg.CallTimeout = 2 * time.Second
	cfg.ShutdownTimeout = time.Second
	cfg.GracePeriod = time.Second
	cfg.Timeout = 2 * time.Minute
	return cfg
}

// runChild is the child process: the suite against an in-process refvm,
// behind a fault group's faults ("fault:NAME") or of a broken variant
// ("variant:NAME"); it writes the failed spec IDs to $resultEnv.
func runChild(what string) int {
	kind, name, _ := strings.Cut(what, ":")
	bn := transport.NewBufnet()
	cfg := avalanche.Config{Bufnet: bn}
	switch kind {
	case "fault":
		g, ok := faultGroups[name]
		if !ok {
			return 3
		}
		cfg.InProcess = faultyPlugin(bn, inProcessRefVM(bn, refvm.Config{StateSync: g.stateSync}), g.faults)
		cfg = childTimeouts(cfg)
	case "variant":
		cfg.InProcess = inProcessRefVM(bn, refvm.Config{Variant: name, Exit: func(int) {}})
		cfg = childTimeouts(cfg)
	case "timeout": // no Shutdown limit: only the run's Timeout ends a hang
		cfg.InProcess = inProcessRefVM(bn, refvm.Config{Variant: name, Exit: func(int) {}})
		cfg = childTimeouts(cfg)
		cfg.ShutdownTimeout, cfg.Timeout = 0, 3*time.Second
	default:
		return 3
	}
	var console bytes.Buffer
	res, err := avalanche.RunSuite(context.Background(), cfg, report.Options{Progress: &console})
	if err != nil && !errors.Is(err, avalanche.ErrLaunch) {
		return 3
	}
	b, _ := json.Marshal(res.FailedIDs())
	if err := os.WriteFile(os.Getenv(resultEnv), b, 0o600); err != nil {
		return 3
	}
	if err := os.WriteFile(os.Getenv(resultEnv)+".out", console.Bytes(), 0o600); err != nil {
		return 3
	}
	return 0
}

// runChildSuite runs one child and returns the IDs of the specs that
// failed and its output (the suite's console lines at the end).
func runChildSuite(t *testing.T, what string) (failed []string, output []byte) {
	t.Helper()
	result := t.TempDir() + "/failed.json"
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), faultEnv+"="+what, resultEnv+"="+result)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s child: %v\n%s", what, err, out)
	}
	b, err := os.ReadFile(result)
	if err != nil || json.Unmarshal(b, &failed) != nil {
		t.Fatalf("no result from the %s child: %v\n%s", what, err, out)
	}
	console, err := os.ReadFile(result + ".out")
	if err != nil {
		t.Fatal(err)
	}
	return failed, append(out, console...)
}

// TestRunTimeoutNamesRunningCall: with no Shutdown limit, a plugin whose
// Shutdown never returns holds the run until its Timeout, and the verdict
// names the call that was still running.
func TestRunTimeoutNamesRunningCall(t *testing.T) {
	start := time.Now()
	failed, out := runChildSuite(t, "timeout:"+refvm.VariantHangShutdown)
	if !slices.Contains(failed, "AVA-PRE-001") {
		t.Errorf("AVA-PRE-001 did not fail (failed: %v)", failed)
	}
	for _, want := range []string{"the suite's time limit ran out (Timeout 3s)", "still running: Shutdown (running for"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("the verdict lacks %q:\n%s", want, out)
		}
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the run took %s with a 3s Timeout", d)
	}
}

// TestEverySpecCanFail runs each fault group and each broken refvm variant
// in a child process (ginkgo runs one suite per process) and checks that
// every spec it targets failed, and that every spec is targeted.
func TestEverySpecCanFail(t *testing.T) {
	covered := map[string]bool{}
	children := map[string][]string{}
	for name, g := range faultGroups {
		children["fault:"+name] = g.want
	}
	for _, v := range refvm.Variants() {
		want, ok := variantWant[v.Name]
		if !ok {
			t.Errorf("broken variant %s has no entry in variantWant: which spec catches it?", v.Name)
		}
		children["variant:"+v.Name] = want
	}
	for what, want := range children {
		for _, id := range want {
			covered[id] = true
		}
		t.Run(what, func(t *testing.T) {
			t.Parallel()
			failed, out := runChildSuite(t, what)
			for _, id := range want {
				if !slices.Contains(failed, id) {
					t.Errorf("%s: spec %s did not fail (failed: %v)", what, id, failed)
				}
			}
			if t.Failed() {
				t.Logf("child output:\n%s", out)
			}
		})
	}
	for _, s := range avalanche.Specs() {
		if !covered[s.ID] {
			t.Errorf("spec %s has no broken variant or fault that makes it fail", s.ID)
		}
	}
}
