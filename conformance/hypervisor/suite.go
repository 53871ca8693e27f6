package hypervisor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sync/atomic"
	"testing"

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

// Register adds the suite's specs to the caller's ginkgo suite, inside one
// Describe. Call it while the spec tree is built (at package level or in a
// container). cfg is read when the specs run.
func Register(cfg *Config) {
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = "conform-" + randomTag()
	}
	var e *env
	seq := new(atomic.Int64)
	Describe(SuiteName, func() {
		BeforeEach(func() {
			var err error
			e, err = newEnv(cfg, fmt.Sprintf("%s-%d", prefix, GinkgoParallelProcess()), seq)
			Expect(err).NotTo(HaveOccurred(), "connect to the implementation under test")
			// Registered first, so it runs last: after the spec's objects are deleted.
			DeferCleanup(func() {
				AddReportEntry(report.CallsEntry, e.rec.encoded(), ReportEntryVisibilityNever)
				Expect(e.close()).To(Succeed(), "close the connection")
			})
			DeferCleanup(func() {
				e.rec.pause()
				ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout())
				defer cancel()
				errs := e.res.cleanup(ctx)
				Expect(errs).To(BeEmpty(), "deleting what the spec created MUST work")
			})
		})
		specs := &specs{cfg: cfg, env: func() *env { return e }}
		specs.cluster()
		specs.compute()
		specs.agent()
		specs.network()
		specs.storage()
		specs.pagination()
		specs.watch()
		specs.errors()
	})
}

// specs carries what every spec file needs while declaring its specs.
type specs struct {
	cfg *Config
	env func() *env
}

// it declares one spec with the configured per-spec timeout.
func (s *specs) it(text string, body func(ctx context.Context, e *env)) {
	It(text, func(ctx SpecContext) { body(ctx, s.env()) }, SpecTimeout(s.cfg.timeout()))
}

// Run runs the whole suite as a ginkgo suite inside a Go test. Ginkgo runs
// one suite per process, so call it once per test binary.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	runGinkgo(t, cfg)
}

// failFlag is the GinkgoTestingT of RunSuite: the result carries the failures.
type failFlag struct{ failed bool }

func (f *failFlag) Fail() { f.failed = true }

func runGinkgo(t GinkgoTestingT, cfg Config) {
	RegisterFailHandler(Fail)
	if cfg.Progress != nil {
		p := report.NewProgress(cfg.Progress)
		ReportAfterEach(p.Spec)
	}
	Register(&cfg)
	suiteCfg, repCfg := ginkgoConfig(cfg)
	RunSpecs(t, SuiteName, suiteCfg, repCfg)
}

// ErrUnreachable is returned by RunSuite when the target cannot be connected.
var ErrUnreachable = errors.New("implementation under test is unreachable")

// RunSuite checks that the target is reachable within ctx, runs the suite
// (once per process: ginkgo's limit) and returns its result with the method
// table. The error is non-nil only when the suite could not run; failed specs
// show up in the result.
func RunSuite(ctx context.Context, cfg Config) (report.Result, error) {
	for _, re := range []string{cfg.Focus, cfg.Skip} {
		if _, err := regexp.Compile(re); err != nil {
			return report.Result{}, fmt.Errorf("spec filter %q: %w", re, err)
		}
	}
	if err := probe(ctx, &cfg); err != nil {
		return report.Result{}, err
	}
	var final types.Report
	ReportAfterSuite(SuiteName, func(r Report) { final = r })
	runGinkgo(&failFlag{}, cfg)
	return report.FromGinkgo(final, Methods()), nil
}

func ginkgoConfig(cfg Config) (types.SuiteConfig, types.ReporterConfig) {
	suiteCfg, repCfg := GinkgoConfiguration()
	if cfg.Focus != "" {
		suiteCfg.FocusStrings = []string{cfg.Focus}
	}
	if cfg.Skip != "" {
		suiteCfg.SkipStrings = []string{cfg.Skip}
	}
	if cfg.Progress != nil {
		repCfg.Succinct = true
	}
	return suiteCfg, repCfg
}

// probe waits until a connection to the target is ready.
func probe(ctx context.Context, cfg *Config) error {
	if cfg.Conn != nil {
		return nil
	}
	cc, err := dial(cfg)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	defer cc.Close()
	cc.Connect()
	for {
		s := cc.GetState()
		if s == connectivity.Ready {
			return nil
		}
		if !cc.WaitForStateChange(ctx, s) {
			return fmt.Errorf("%w: %s stayed %s: %w", ErrUnreachable, cfg.Addr, s, ctx.Err())
		}
	}
}

func dial(cfg *Config) (*grpc.ClientConn, error) {
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, cfg.DialOptions...)
	cc, err := grpc.NewClient("passthrough:///"+cfg.Addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", cfg.Addr, err)
	}
	return cc, nil
}

func randomTag() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
