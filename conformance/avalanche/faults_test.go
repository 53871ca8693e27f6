package avalanche_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vmtestbed/vmtestbed/conformance/avalanche"
	"github.com/vmtestbed/vmtestbed/fakes/refvm"
	"github.com/vmtestbed/vmtestbed/internal/transport"
)

const (
	faultEnv  = "VMTESTBED_AVA_FAULT_GROUP"  // which fault group this child runs
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
		want: []string{"AVA-HSK-002", "AVA-PRE-002", "AVA-HLT-001", "AVA-MET-001", "AVA-APP-002", "AVA-APP-003", "AVA-SEQ-001",
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
		want: []string{"AVA-BLK-004", "AVA-BLK-005", "AVA-BLK-009", "AVA-BLK-010", "AVA-BLK-013", "AVA-BLK-011", "AVA-CTX-001"},
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

// runFaultGroup is the child process: the suite against a refvm behind the
// group's faults; it writes the failed spec IDs to $resultEnv.
func runFaultGroup(name string) int {
	g, ok := faultGroups[name]
	if !ok {
		return 3
	}
	bn := transport.NewBufnet()
	cfg := avalanche.Config{
		InProcess:       faultyPlugin(bn, inProcessRefVM(bn, refvm.Config{StateSync: g.stateSync}), g.faults),
		Bufnet:          bn,
		CallTimeout:     3 * time.Second,
		ShutdownTimeout: 2 * time.Second,
	}
	out, err := avalanche.Main(cfg, avalanche.Options{})
	if err != nil {
		return 3
	}
	b, _ := json.Marshal(out.Failed)
	if err := os.WriteFile(os.Getenv(resultEnv), b, 0o600); err != nil {
		return 3
	}
	return 0
}

// variantSpecs are the specs the broken refvm variants fail; the table
// with exit codes lives in cmd/vmtestbed/conform_avalanche_test.go.
var variantSpecs = []string{"AVA-INI-003", "AVA-BLK-012", "AVA-BLK-003", "AVA-BLK-006", "AVA-STA-003",
	"AVA-HSK-001", "AVA-PRE-001", "AVA-SHD-001", "AVA-BLK-002", "AVA-BLK-007", "AVA-APP-001"}

// TestEverySpecCanFail runs each fault group in a child process (ginkgo runs
// one suite per process) and checks that every spec the group targets failed.
func TestEverySpecCanFail(t *testing.T) {
	covered := map[string]bool{}
	for _, id := range variantSpecs {
		covered[id] = true
	}
	for name, g := range faultGroups {
		for _, id := range g.want {
			covered[id] = true
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			result := t.TempDir() + "/failed.json"
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), faultEnv+"="+name, resultEnv+"="+result)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("fault group %s child: %v\n%s", name, err, out)
			}
			var failed []string
			b, err := os.ReadFile(result)
			if err != nil || json.Unmarshal(b, &failed) != nil {
				t.Fatalf("no result from the child: %v\n%s", err, out)
			}
			for _, id := range g.want {
				if !slices.Contains(failed, id) {
					t.Errorf("fault group %s: spec %s did not fail (failed: %v)", name, id, failed)
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
