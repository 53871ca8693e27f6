package avalanche_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
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
	"github.com/vmtestbed/vmtestbed/conformance/avalanche/multinode"
	"github.com/vmtestbed/vmtestbed/conformance/report"
	"github.com/vmtestbed/vmtestbed/fakes/refvm"
	"github.com/vmtestbed/vmtestbed/internal/killtest"
	"github.com/vmtestbed/vmtestbed/transport"
)

// pass forwards the reply unchanged (or the error).
func pass(resp proto.Message, err error) (proto.Message, error) { return resp, err }

var errInjected = status.Error(codes.Internal, "vmtestbed fault proxy: injected failure")

// A proxyFault is a named set of edits of a correct refvm's replies, run
// alone in a child process: the specs it MUST fail, and whether it is wrong
// in meaning (semantic) or only makes a call fail.
type proxyFault struct {
	name      string
	semantic  bool
	what      string
	stateSync bool
	faults    []fault
	want      []string
}

// editReply is the edit that lets edit change a reply of type T and
// forwards it (or the error).
func editReply[T proto.Message](edit func(T)) func(*proxyState, proto.Message, proto.Message, error) (proto.Message, error) {
	return func(_ *proxyState, _, resp proto.Message, err error) (proto.Message, error) {
		if r, ok := resp.(T); ok {
			edit(r)
		}
		return pass(resp, err)
	}
}

// recordBuilt records the parent of every block BuildBlock builds
// (st.parents: block bytes -> parent id).
var recordBuilt = fault{"BuildBlock", func(st *proxyState, _, resp proto.Message, err error) (proto.Message, error) {
	if b, ok := resp.(*vmpb.BuildBlockResponse); ok {
		st.mu.Lock()
		st.parents[string(b.Bytes)] = string(b.ParentId)
		st.mu.Unlock()
	}
	return pass(resp, err)
}}

// failCall is the edit that fails every call of a method.
func failCall(_ *proxyState, _, _ proto.Message, _ error) (proto.Message, error) {
	return nil, errInjected
}

var proxyFaults = []proxyFault{{
	name: "version-fails", what: "Version fails with Internal",
	want:   []string{"AVA-PRE-002"},
	faults: []fault{{"Version", failCall}},
}, {
	name: "version-empty", semantic: true, what: "Version answers an empty version",
	want: []string{"AVA-PRE-002"},
	faults: []fault{{"Version", editReply(func(r *vmpb.VersionResponse) {
		r.Version = ""
	})}},
}, {
	name: "health-not-json", semantic: true, what: "Health details are not JSON",
	want: []string{"AVA-HLT-001"},
	faults: []fault{{"Health", func(_ *proxyState, _, resp proto.Message, err error) (proto.Message, error) {
		if err == nil {
			resp.(*vmpb.HealthResponse).Details = []byte("healthy, not JSON")
		}
		return pass(resp, err)
	}}},
}, {
	name: "gather-duplicate-family", semantic: true, what: "Gather repeats a metric family",
	want: []string{"AVA-MET-001"},
	faults: []fault{{"Gather", editReply(func(g *vmpb.GatherResponse) {
		if len(g.MetricFamilies) > 0 {
			g.MetricFamilies = append(g.MetricFamilies, g.MetricFamilies[0])
		}
	})}},
}, {
	name: "gossip-fails", what: "AppGossip fails with Internal",
	want:   []string{"AVA-APP-002"},
	faults: []fault{{"AppGossip", failCall}},
}, {
	name: "connected-fails", what: "Connected fails with Internal",
	want:   []string{"AVA-APP-003", "AVA-SEQ-001"},
	faults: []fault{{"Connected", failCall}},
}, {
	name: "handlers-duplicate-prefix", semantic: true, what: "CreateHandlers lists a handler prefix twice",
	want: []string{"AVA-HTTP-001"},
	faults: []fault{{"CreateHandlers", editReply(func(h *vmpb.CreateHandlersResponse) {
		if len(h.Handlers) > 0 {
			h.Handlers = append(h.Handlers, h.Handlers[0])
		}
	})}},
}, {
	name: "http-handler-unreachable", what: "NewHTTPHandler names a server nobody serves",
	want: []string{"AVA-HTTP-002"},
	faults: []fault{{"NewHTTPHandler", func(_ *proxyState, _, _ proto.Message, _ error) (proto.Message, error) {
		return &vmpb.NewHTTPHandlerResponse{ServerAddr: "bufnet:nobody-listens-here"}, nil
	}}},
}, {
	name: "getblock-extra-byte", semantic: true, what: "GetBlock appends a byte to the block's bytes",
	want: []string{"AVA-INI-004", "AVA-BLK-014"},
	faults: []fault{{"GetBlock", editReply(func(g *vmpb.GetBlockResponse) {
		if g.Err == vmpb.Error_ERROR_UNSPECIFIED {
			g.Bytes = append(g.Bytes, 'x')
		}
	})}},
}, {
	name: "height-not-found-as-grpc-error", semantic: true, what: "GetBlockIDAtHeight answers an unknown height with a gRPC NotFound status, not ERROR_NOT_FOUND",
	want: []string{"AVA-BLK-008"},
	faults: []fault{{"GetBlockIDAtHeight", func(_ *proxyState, _, resp proto.Message, err error) (proto.Message, error) {
		if r, ok := resp.(*vmpb.GetBlockIDAtHeightResponse); ok && r.Err == vmpb.Error_ERROR_NOT_FOUND {
			return nil, status.Error(codes.NotFound, "no block at that height")
		}
		return pass(resp, err)
	}}},
}, {
	name: "genesis-height-wrong-id", semantic: true, what: "GetBlockIDAtHeight(0) answers another id than genesis's",
	want: []string{"AVA-INI-005"},
	faults: []fault{{"GetBlockIDAtHeight", func(_ *proxyState, req, resp proto.Message, err error) (proto.Message, error) {
		if r, ok := resp.(*vmpb.GetBlockIDAtHeightResponse); ok && req.(*vmpb.GetBlockIDAtHeightRequest).Height == 0 && len(r.BlkId) == 32 {
			r.BlkId[0] ^= 0xff
		}
		return pass(resp, err)
	}}},
}, {
	name: "parse-accepts-garbage", semantic: true, what: "ParseBlock answers a block for bytes that are not one",
	want: []string{"AVA-BLK-013"},
	faults: []fault{{"ParseBlock", func(_ *proxyState, _, resp proto.Message, err error) (proto.Message, error) {
		if err != nil {
			return &vmpb.ParseBlockResponse{Id: make([]byte, 32), ParentId: make([]byte, 32), Timestamp: timestamppb.Now()}, nil
		}
		return resp, nil
	}}},
}, {
	name: "parse-shifts-timestamp", semantic: true, what: "ParseBlock reports a built block's timestamp one second late",
	want: []string{"AVA-BLK-004"},
	faults: []fault{{"ParseBlock", editReply(func(r *vmpb.ParseBlockResponse) {
		if r.Height > 0 {
			r.Timestamp = timestamppb.New(r.Timestamp.AsTime().Add(time.Second))
		}
	})}},
}, {
	name: "context-verify-fails", semantic: true, what: "BuildBlock asks to verify with context, and BlockVerify with a p_chain_height refuses the block",
	want: []string{"AVA-CTX-001"},
	faults: []fault{{"BuildBlock", editReply(func(b *vmpb.BuildBlockResponse) {
		b.VerifyWithContext = true
	})}, {"BlockVerify", func(_ *proxyState, req, resp proto.Message, err error) (proto.Message, error) {
		if req.(*vmpb.BlockVerifyRequest).PChainHeight != nil {
			return nil, status.Error(codes.FailedPrecondition, "invalid block")
		}
		return pass(resp, err)
	}}},
}, {
	name: "verify-refuses-twice", semantic: true, what: "a second BlockVerify of a block is refused (already verified)",
	want: []string{"AVA-BLK-015"},
	faults: []fault{{"BlockVerify", func(st *proxyState, req, resp proto.Message, err error) (proto.Message, error) {
		r := req.(*vmpb.BlockVerifyRequest)
		st.mu.Lock()
		defer st.mu.Unlock()
		st.verified[string(r.Bytes)]++
		if st.verified[string(r.Bytes)] > 1 {
			return nil, status.Error(codes.FailedPrecondition, "already verified")
		}
		return pass(resp, err)
	}}},
}, {
	name: "ancestors-reversed", semantic: true, what: "GetAncestors answers oldest first",
	want: []string{"AVA-BLK-009"},
	faults: []fault{{"GetAncestors", editReply(func(a *vmpb.GetAncestorsResponse) {
		slices.Reverse(a.BlksBytes)
	})}},
}, {
	name: "batched-parse-wrong-id", semantic: true, what: "BatchedParseBlock flips a bit of every block id",
	want: []string{"AVA-BLK-010"},
	faults: []fault{{"BatchedParseBlock", editReply(func(b *vmpb.BatchedParseBlockResponse) {
		for _, r := range b.Response {
			r.Id[31] ^= 1
		}
	})}},
}, {
	name: "preference-not-idempotent", semantic: true, what: "SetPreference of the preferred block again is refused",
	want: []string{"AVA-BLK-011"},
	faults: []fault{{"SetPreference", func(st *proxyState, req, resp proto.Message, err error) (proto.Message, error) {
		id := string(req.(*vmpb.SetPreferenceRequest).Id)
		st.mu.Lock()
		defer st.mu.Unlock()
		if id == st.lastPref {
			return nil, status.Error(codes.FailedPrecondition, "already preferred")
		}
		st.lastPref = id
		return pass(resp, err)
	}}},
}, {
	name: "preference-dropped", semantic: true, what: "SetPreference answers OK and is lost: the VM never sees it",
	want:   []string{"AVA-BLK-011"},
	faults: []fault{drop("SetPreference")},
}, {
	name: "initialize-no-bytes", semantic: true, what: "Initialize reports no block bytes and height 7",
	want: []string{"AVA-INI-001", "AVA-INI-002"},
	faults: []fault{{"Initialize", editReply(func(r *vmpb.InitializeResponse) {
		r.Bytes, r.Height = nil, 7
	})}},
}, {
	name: "setstate-wrong-id", semantic: true, what: "SetState reports another last accepted id",
	want: []string{"AVA-STA-001", "AVA-STA-002", "AVA-STA-003"},
	faults: []fault{{"SetState", editReply(func(r *vmpb.SetStateResponse) {
		r.LastAcceptedId[0] ^= 0xff
	})}},
}, {
	name: "no-build-event", semantic: true, what: "WaitForEvent answers MESSAGE_UNSPECIFIED with a transaction pending",
	want: []string{"AVA-BLK-001", "AVA-SEQ-001"},
	faults: []fault{{"WaitForEvent", func(_ *proxyState, _, _ proto.Message, err error) (proto.Message, error) {
		return &vmpb.WaitForEventResponse{Message: vmpb.Message_MESSAGE_UNSPECIFIED}, err
	}}},
}, {
	name: "build-wrong-height", semantic: true, what: "BuildBlock reports the block one height too high",
	want: []string{"AVA-BLK-002"},
	faults: []fault{{"BuildBlock", editReply(func(b *vmpb.BuildBlockResponse) {
		b.Height++
	})}},
}, {
	name: "one-child-per-parent", semantic: true, what: "BlockVerify refuses a second child of a parent",
	want: []string{"AVA-CON-001"},
	faults: []fault{recordBuilt, {"BlockVerify", func(st *proxyState, req, resp proto.Message, err error) (proto.Message, error) {
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
	}}},
}, {
	name: "verify-fails", what: "every BlockVerify fails with Internal",
	want:   []string{"AVA-BLK-005"},
	faults: []fault{{"BlockVerify", failCall}},
}, {
	name: "verify-refuses-built", semantic: true, what: "BlockVerify finds the blocks BuildBlock just built invalid",
	want: []string{"AVA-BLK-005"},
	faults: []fault{recordBuilt, {"BlockVerify", func(st *proxyState, req, resp proto.Message, err error) (proto.Message, error) {
		st.mu.Lock()
		_, built := st.parents[string(req.(*vmpb.BlockVerifyRequest).Bytes)]
		st.mu.Unlock()
		if built {
			return nil, status.Error(codes.FailedPrecondition, "invalid block: timestamp too far in the future")
		}
		return pass(resp, err)
	}}},
}, {
	name: "gossip-answered", semantic: true, what: "the VM answers AppGossip (SendAppError to the gossiping peer)",
	want: []string{"AVA-APP-002"},
	faults: []fault{{"AppGossip", func(st *proxyState, req, resp proto.Message, err error) (proto.Message, error) {
		// An AppRequest in the VM's name makes refvm send SendAppError to
		// the gossiping peer.
		g := req.(*vmpb.AppGossipMsg)
		_, _ = st.backend.AppRequest(context.Background(), &vmpb.AppRequestMsg{NodeId: g.NodeId, RequestId: 777, Request: g.Msg})
		return pass(resp, err)
	}}},
}, {
	name: "rejected-at-height", semantic: true, what: "BlockReject fails, and GetBlockIDAtHeight then reports the rejected block",
	want: []string{"AVA-CON-002", "AVA-CON-003"},
	faults: []fault{{"BlockReject", func(st *proxyState, req, _ proto.Message, _ error) (proto.Message, error) {
		st.mu.Lock()
		st.rejected = req.(*vmpb.BlockRejectRequest).Id
		st.mu.Unlock()
		return nil, errInjected
	}}, {"GetBlockIDAtHeight", func(st *proxyState, _, resp proto.Message, err error) (proto.Message, error) {
		st.mu.Lock()
		defer st.mu.Unlock()
		if r, ok := resp.(*vmpb.GetBlockIDAtHeightResponse); ok && st.rejected != nil && r.Err == vmpb.Error_ERROR_UNSPECIFIED {
			r.BlkId = st.rejected
		}
		return pass(resp, err)
	}}},
}, {
	name: "summary-height-mismatch", semantic: true, stateSync: true, what: "ParseStateSummary reports the summary 3 heights higher than GetLastStateSummary",
	want: []string{"AVA-SYN-001"},
	faults: []fault{{"ParseStateSummary", editReply(func(r *vmpb.ParseStateSummaryResponse) {
		r.Height += 3
	})}},
}}

func proxyFaultByName(name string) (proxyFault, bool) {
	for _, f := range proxyFaults {
		if f.name == name {
			return f, true
		}
	}
	return proxyFault{}, false
}

// variantKill is, for a broken refvm variant, the specs it MUST fail and
// whether it is wrong in meaning (semantic) or hangs, crashes or is refused
// outright.
type variantKill struct {
	semantic bool
	want     []string
}

// variantWant is, for every broken refvm variant, what it kills. Each runs
// in process, in a child, like the proxy faults; the table of what the CLI
// prints for their binaries is in cmd/vmtestbed/conform_avalanche_test.go.
var variantWant = map[string]variantKill{
	refvm.VariantWrongGenesisID:        {true, []string{"AVA-INI-003"}},
	refvm.VariantVerifyAcceptsInvalid:  {true, []string{"AVA-BLK-012"}},
	refvm.VariantNondeterministicParse: {true, []string{"AVA-BLK-004", "AVA-DET-001"}},
	refvm.VariantStaleLastAccepted:     {true, []string{"AVA-BLK-006", "AVA-STA-003"}},
	refvm.VariantWrongProtocol:         {true, []string{"AVA-HSK-001"}}, // a working plugin announcing a wrong protocol number
	refvm.VariantHangShutdown:          {false, []string{"AVA-PRE-001", "AVA-SHD-001"}},
	refvm.VariantCrashBuild:            {false, []string{"AVA-BLK-002"}},
	refvm.VariantGetBlockStatus:        {true, []string{"AVA-BLK-007"}},
	refvm.VariantNoAppError:            {true, []string{"AVA-APP-001", "AVA-APP-003"}},
	refvm.VariantCrashInitialize:       {false, []string{"AVA-INI-001"}},
	refvm.VariantVerifyOnce:            {true, []string{"AVA-BLK-015"}},
	refvm.VariantVerifyRewindsAccepted: {true, []string{"AVA-BLK-016"}},
	refvm.VariantHeightIndexAtVerify:   {true, []string{"AVA-BLK-017"}},
	refvm.VariantParseLocalTimestamp:   {true, []string{"AVA-DET-001"}},
	refvm.VariantVerifyOwnBlocksOnly:   {true, []string{"AVA-DET-002"}},
	refvm.VariantMemDBState:            {true, []string{"AVA-RST-001"}},
	refvm.VariantVolatileHeightIndex:   {true, []string{"AVA-RST-002"}},
	refvm.VariantBuildOnCachedTip:      {true, []string{"AVA-RST-003"}},
	refvm.VariantShutdownAwaitsEvents:  {false, []string{"AVA-SHD-002"}}, // a hang
	refvm.VariantDBAfterShutdown:       {true, []string{"AVA-SHD-003"}},
	refvm.VariantHTTPNoStatus:          {true, []string{"AVA-HTTP-002"}},
	refvm.VariantAppResponseError:      {true, []string{"AVA-APP-004"}},
	refvm.VariantAppFailedError:        {true, []string{"AVA-APP-005"}},
}

// netVariantWant is, for every multi-node refvm variant, the multi-node spec
// it MUST fail: the suite runs with 3 instances, every one of them (and the
// single-node target) the variant. All are wrong in meaning, and all but
// accept-on-reject pass every single-node spec (see alsoSingleNode).
var netVariantWant = map[string][]string{
	refvm.VariantLocalBlockID:    {"AVA-NET-001"},
	refvm.VariantGossipNoTargets: {"AVA-NET-002"},
	refvm.VariantAcceptOnReject:  {"AVA-NET-003"},
	refvm.VariantBootstrapStale:  {"AVA-NET-004"},
	refvm.VariantPongToSelf:      {"AVA-NET-005"},
}

// alsoSingleNode are the multi-node variants a single-node run catches too:
// accept-on-reject also fails the single-node conflict specs (AVA-CON-002
// accepts one sibling and rejects the other on one instance), and the
// restart specs after them.
var alsoSingleNode = map[string]bool{refvm.VariantAcceptOnReject: true}

// childTimeouts bound a child's run: short, since broken plugins hang.
func childTimeouts(cfg avalanche.Config) avalanche.Config {
	cfg.CallTimeout = 2 * time.Second
	cfg.ShutdownTimeout = time.Second
	cfg.GracePeriod = time.Second
	cfg.Timeout = 2 * time.Minute
	return cfg
}

// runChild is the child process: the suite against an in-process refvm,
// behind a proxy fault ("fault:NAME") or of a broken variant
// ("variant:NAME"); killtest writes its result for the parent.
func runChild(what string) (report.Result, error) {
	kind, name, _ := strings.Cut(what, ":")
	bn := transport.NewBufnet()
	cfg := childTimeouts(avalanche.Config{Bufnet: bn})
	switch kind {
	case "fault":
		f, ok := proxyFaultByName(name)
		if !ok {
			return report.Result{}, fmt.Errorf("unknown proxy fault %q", name)
		}
		cfg.InProcess = faultyPlugin(bn, inProcessRefVM(bn, refvm.Config{StateSync: f.stateSync}), f.faults)
	case "variant", "netvariant", "timeout":
		cfg.InProcess = inProcessRefVM(bn, refvm.Config{Variant: name, Exit: func(int) {}})
		switch kind {
		case "netvariant":
			cfg.Nodes, cfg.NewNetwork = 3, multinode.Network(name)
		case "timeout": // no Shutdown limit: only the run's Timeout ends a hang
			cfg.ShutdownTimeout, cfg.Timeout = 0, 3*time.Second
		}
	default:
		return report.Result{}, fmt.Errorf("unknown child %q", what)
	}
	return runSuite(cfg)
}

// runSuite is the one call into the suite: it runs it once in this process,
// its console on stdout, and returns its result. A plugin that could not be
// started is a result too (the specs it failed), not an error.
func runSuite(cfg avalanche.Config) (report.Result, error) {
	res, err := avalanche.RunSuite(context.Background(), cfg, report.Options{Progress: os.Stdout})
	if err != nil && !errors.Is(err, avalanche.ErrLaunch) {
		return res, err
	}
	return res, nil
}

// TestRunTimeoutNamesRunningCall: with no Shutdown limit, a plugin whose
// Shutdown never returns holds the run until its Timeout, and the verdict
// names the call that was still running.
func TestRunTimeoutNamesRunningCall(t *testing.T) {
	start := time.Now()
	res, out := killtest.RunChild(t, nil, "timeout:"+refvm.VariantHangShutdown)
	if failed := res.FailedIDs(); !slices.Contains(failed, "AVA-PRE-001") {
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

// killChildren are the suite's broken targets: every proxy fault and every
// broken refvm variant.
func killChildren(t *testing.T) []killtest.Child {
	var children []killtest.Child
	for _, f := range proxyFaults {
		children = append(children, killtest.Child{Name: "fault:" + f.name, Semantic: f.semantic, What: "proxy: " + f.what, Want: f.want})
	}
	for _, v := range refvm.Variants() {
		k, ok := variantWant[v.Name]
		if !ok {
			t.Errorf("broken variant %s has no entry in variantWant: which spec catches it?", v.Name)
		}
		children = append(children, killtest.Child{Name: "variant:" + v.Name, Semantic: k.semantic, What: "refvm: " + v.Description, Want: k.want})
	}
	for _, v := range refvm.MultiNodeVariants() {
		want, ok := netVariantWant[v.Name]
		if !ok {
			t.Errorf("multi-node variant %s has no entry in netVariantWant: which spec catches it?", v.Name)
		}
		c := killtest.Child{Name: "netvariant:" + v.Name, Semantic: true, What: "refvm, 3 instances: " + v.Description, Want: want}
		if !alsoSingleNode[v.Name] {
			c.Check = onlyNetSpecs
		}
		children = append(children, c)
	}
	return children
}

// onlyNetSpecs: a multi-node variant passes every single-node spec (else it
// belongs in refvm.Variants).
func onlyNetSpecs(t *testing.T, res report.Result, _ []byte) {
	for _, id := range res.FailedIDs() {
		if !strings.HasPrefix(id, "AVA-NET-") {
			t.Errorf("a multi-node variant failed single-node spec %s", id)
		}
	}
}

// TestEverySpecCanFail is the suite's kill matrix: each proxy fault and
// each broken refvm variant runs in a child process (ginkgo runs one suite
// per process) and MUST fail the specs it targets, and every spec MUST be
// failed by some of them.
func TestEverySpecCanFail(t *testing.T) {
	var ids []string
	for _, s := range avalanche.Specs() {
		ids = append(ids, s.ID)
	}
	killtest.Run(t, killtest.Suite{Name: "avalanche", Specs: ids, Children: killChildren(t)})
}
