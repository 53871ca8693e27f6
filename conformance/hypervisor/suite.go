package hypervisor

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/vmtestbed/vmtestbed/conformance/report"
)

// SuiteName is the ginkgo suite description and the report's suite name.
const SuiteName = "hypervisor.v1 conformance"

// state is one Register call's: connections, the probe's findings, the node
// agent and the run-unique name and VNI sources.
type state struct {
	cfg     *Config
	prefix  string
	seq     atomic.Int64
	vniBase uint32

	control   grpc.ClientConnInterface
	agentConn grpc.ClientConnInterface
	agentDown string // why the agent endpoint is not reachable ("" when it is)
	owned     []*grpc.ClientConn
	probe     *Probe
	node      *nodeAgent
}

func newState(cfg *Config) *state {
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = "conform-" + randomTag()
	}
	return &state{cfg: cfg, prefix: prefix, vniBase: randomVNIBase()}
}

// agentConnectTimeout bounds the wait for a separate agent endpoint: one
// that cannot be reached makes AgentService unreachable, not the run.
const agentConnectTimeout = 5 * time.Second

// connect dials the control plane and the agent endpoint (once).
func (st *state) connect(ctx context.Context) error {
	if st.control != nil {
		return nil
	}
	cfg := st.cfg
	st.control = cfg.Conn
	if st.control == nil {
		cc, err := dial(cfg.Addr, cfg.DialOptions)
		if err != nil {
			return err
		}
		st.owned = append(st.owned, cc)
		st.control = cc
	}
	switch {
	case cfg.AgentConn != nil:
		st.agentConn = cfg.AgentConn
	case cfg.AgentAddr == "" || (cfg.AgentAddr == cfg.Addr && cfg.Conn == nil):
		st.agentConn = st.control
	default:
		cc, err := dial(cfg.AgentAddr, cfg.DialOptions)
		if err != nil {
			st.agentDown = err.Error()
			st.agentConn = st.control
			return nil
		}
		st.owned = append(st.owned, cc)
		st.agentConn = cc
		wctx, cancel := context.WithTimeout(ctx, agentConnectTimeout)
		defer cancel()
		if err := waitReady(wctx, cc); err != nil {
			st.agentDown = fmt.Sprintf("AgentService endpoint %s: %v", cfg.AgentAddr, err)
		}
	}
	return nil
}

// runProbe classifies every method once (see runProbe in probe.go).
func (st *state) runProbe(ctx context.Context) {
	if st.probe != nil {
		return
	}
	st.probe = runProbe(ctx, endpoint{cc: st.control}, endpoint{cc: st.agentConn, reason: st.agentDown}, st.prefix+"-probe-missing", defaultProbeTimes)
}

func (st *state) close() error {
	var errs []error
	if st.node != nil {
		st.node.stop()
		st.node = nil
	}
	for _, cc := range st.owned {
		if err := cc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close connection: %w", err))
		}
	}
	st.owned = nil
	return errors.Join(errs...)
}

// Register adds the suite's specs to the caller's ginkgo suite, inside one
// ordered Describe (specs run in their declared order and every one runs
// even when an earlier one failed). Call it while the spec tree is built (at
// package level or in a container). cfg is read when the specs run.
//
// Before the first spec, the suite probes all 79 methods once and starts its
// node agent; a spec that needs a method the server does not implement is
// skipped with that reason.
func Register(cfg *Config) {
	register(newState(cfg))
}

func register(st *state) {
	var e *env
	Describe(SuiteName, Ordered, ContinueOnFailure, func() {
		BeforeAll(func(ctx SpecContext) {
			// Cleanup of All runs after the last spec's own cleanup (an
			// AfterAll would run before it).
			DeferCleanup(func() { Expect(st.close()).To(Succeed()) })
			Expect(st.connect(ctx)).To(Succeed(), "connect to the implementation under test")
			st.runProbe(ctx)
			if st.node == nil {
				var err error
				st.node, err = startNodeAgent(st.cfg.nodeAgentListen(), st.cfg.NodeAgentAdvertise)
				Expect(err).NotTo(HaveOccurred(), "start the suite's node agent")
			}
		})
		BeforeEach(func() {
			// The cleanups use this spec's env: one that outlives its node
			// (a server that never deletes) must not see the next spec's.
			e = newEnv(st)
			e := e
			var blamed []string
			// Registered first, so it runs last: after the spec's objects are deleted.
			DeferCleanup(func() {
				AddReportEntry(report.CallsEntry, e.rec.encoded(), ReportEntryVisibilityNever)
				if len(blamed) > 0 {
					AddReportEntry(BlameEntry, strings.Join(blamed, "\n"), ReportEntryVisibilityNever)
				}
			})
			DeferCleanup(func() {
				bodyFailed := CurrentSpecReport().Failed()
				e.rec.cleanup()
				// Within the cleanup node's own time limit (the spec timeout),
				// so a server that never deletes is reported, not timed out.
				ctx, cancel := context.WithTimeout(context.Background(), st.cfg.specTimeout()*3/4)
				defer cancel()
				errs := e.res.cleanup(ctx)
				if bodyFailed || len(errs) > 0 {
					blamed = e.rec.blame(bodyFailed)
				}
				Expect(errs).To(BeEmpty(), "deleting what the spec created MUST work")
			})
		})
		specs := &specs{cfg: st.cfg, env: func() *env { return e }}
		specs.cluster()
		specs.compute()
		specs.agent()
		specs.network()
		specs.storage()
		specs.pagination()
		specs.watch()
		specs.errors()
		specs.conventions()
	})
}

// specs carries what every spec file needs while declaring its specs.
type specs struct {
	cfg *Config
	env func() *env
}

// it declares one spec with the configured per-spec timeout.
func (s *specs) it(text string, body func(ctx context.Context, e *env)) {
	It(text, func(ctx SpecContext) { body(ctx, s.env()) }, SpecTimeout(s.cfg.specTimeout()))
}

// itLease declares a lease spec: its timeout adds the real time LeaseWait
// lets it spend.
func (s *specs) itLease(text string, body func(ctx context.Context, e *env)) {
	It(text, func(ctx SpecContext) { body(ctx, s.env()) }, SpecTimeout(s.cfg.specTimeout()+s.cfg.leaseWait()))
}

// Run runs the whole suite as a ginkgo suite inside a Go test. Ginkgo runs
// one suite per process, so call it once per test binary.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	RegisterFailHandler(report.SanitizingFail)
	register(newState(&cfg))
	suiteCfg, repCfg := GinkgoConfiguration()
	RunSpecs(t, SuiteName, suiteCfg, repCfg)
}

// ErrUnreachable is returned (wrapped) by RunSuite when the control plane
// cannot be reached.
var ErrUnreachable = fmt.Errorf("%w: the hypervisor.v1 control plane is unreachable", report.ErrTarget)

// RunSuite checks that the control plane is reachable within ctx, probes
// every method once, runs the suite (once per process: ginkgo's limit),
// writes the reports opts names and returns the result with the method
// table (see MethodTable). The error is non-nil when the suite could not run
// or a report could not be written; failed specs show up in the result.
func RunSuite(ctx context.Context, cfg Config, opts report.Options) (report.Result, error) {
	if err := opts.Validate(); err != nil {
		return report.Result{}, err
	}
	st := newState(&cfg)
	defer st.close()
	if err := st.connect(ctx); err != nil {
		return report.Result{}, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	if cc, ok := st.control.(*grpc.ClientConn); ok && cfg.Conn == nil {
		if err := waitReady(ctx, cc); err != nil {
			return report.Result{}, fmt.Errorf("%w: %s: %w", ErrUnreachable, cfg.Addr, err)
		}
	}
	st.runProbe(ctx)
	final := report.RunSpecs(SuiteName, opts, cfg.runTimeout(), func() { register(st) })
	res := report.FromGinkgo(final, nil)
	res.Methods = MethodTable(res.Specs, st.probe, blames(final))
	return res, opts.Write(res)
}

// blames maps each failed spec's text to the methods its BlameEntry names.
func blames(r types.Report) map[string][]string {
	out := map[string][]string{}
	for _, sr := range r.SpecReports {
		for _, en := range sr.ReportEntries {
			if en.Name == BlameEntry {
				out[sr.LeafNodeText] = strings.Split(en.Value.String(), "\n")
			}
		}
	}
	return out
}

// waitReady waits until cc is connected, bounded by ctx.
func waitReady(ctx context.Context, cc *grpc.ClientConn) error {
	cc.Connect()
	for {
		s := cc.GetState()
		if s == connectivity.Ready {
			return nil
		}
		if !cc.WaitForStateChange(ctx, s) {
			return fmt.Errorf("stayed %s: %w", s, ctx.Err())
		}
	}
}

func dial(addr string, extra []grpc.DialOption) (*grpc.ClientConn, error) {
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, extra...)
	cc, err := grpc.NewClient("passthrough:///"+addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return cc, nil
}

func randomTag() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// randomVNIBase picks where this run's VNIs start: a random multiple of
// 4096 in 1,000,000..15,000,000, so runs against one server do not share VNIs.
func randomVNIBase() uint32 {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return 1_000_000 + (binary.BigEndian.Uint32(b)%3400)*4096
}
