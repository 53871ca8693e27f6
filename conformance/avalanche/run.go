package avalanche

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // ginkgo DSL
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega" //nolint:revive // gomega DSL

	"github.com/vmtestbed/vmtestbed/conformance/report"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
)

// SuiteName is the ginkgo suite description and the report's suite name.
const SuiteName = "Avalanche VM plugin conformance"

// ErrLaunch is returned (wrapped, with the plugin's exit status and last
// output lines) by RunSuite when the plugin could not be started.
var ErrLaunch = fmt.Errorf("%w: the plugin could not be started", report.ErrTarget)

// Run runs the whole suite against cfg inside a Go test. Ginkgo runs one
// suite per process, so a test binary can call Run once.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	RegisterFailHandler(report.SanitizingFail)
	Register(&cfg)
	suiteCfg, repCfg := GinkgoConfiguration()
	RunSpecs(t, SuiteName, suiteCfg, repCfg)
}

// RunSuite runs the suite once in this process (ginkgo allows one run per
// process) outside `go test`, writes the reports opts names and returns the
// result. The error is non-nil when the suite could not run: a bad
// configuration, a plugin that could not be started (ErrLaunch), or a report
// that could not be written; failed specs are in the result. ctx's deadline,
// when sooner, shortens Config.Timeout.
func RunSuite(ctx context.Context, cfg Config, opts report.Options) (report.Result, error) {
	if err := cfg.validate(); err != nil {
		return report.Result{}, err
	}
	if err := opts.Validate(); err != nil {
		return report.Result{}, err
	}
	if d, ok := ctx.Deadline(); ok && (cfg.Timeout <= 0 || time.Until(d) < cfg.Timeout) {
		cfg.Timeout = time.Until(d)
	}
	s := newSuite(cfg)
	s.begin()
	// The suite's own Timeout names the calls still running; ginkgo's must
	// not cut in first.
	final := report.RunSpecs(SuiteName, opts, s.cfg.Timeout+time.Minute, s.register)
	res := withAbortedSpecs(report.FromGinkgo(final, nil), final)
	werr := opts.Write(res) // also, and above all, when the plugin did not start
	if err := s.LaunchErr(); err != nil {
		return res, errors.Join(fmt.Errorf("%w: %w", ErrLaunch, err), werr)
	}
	return res, werr
}

// withAbortedSpecs counts as failed a spec a suite abort names in its
// message (a plugin that did not come up fails [AVA-HSK-001] whichever spec
// launched it).
func withAbortedSpecs(res report.Result, r types.Report) report.Result {
	for _, sr := range r.SpecReports {
		if !sr.State.Is(types.SpecStateFailureStates) {
			continue
		}
		i := strings.Index(sr.Failure.Message, "[AVA-")
		if i < 0 {
			continue
		}
		id := report.SpecID(sr.Failure.Message[i:])
		if id == "" || slices.Contains(res.FailedIDs(), id) {
			continue
		}
		res.Specs = append(res.Specs, report.Spec{ID: id, Text: "[" + id + "] (named by a suite abort)",
			State: types.SpecStateFailed.String(), Failure: report.Sanitize(sr.Failure.Message)})
		res.Failed++
	}
	return res
}

// WriteTrace writes the RPC trace to path, by its extension: .json, .md
// (Mermaid), anything else text.
func WriteTrace(tr *avalanchego.Trace, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write trace: %w", err)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		err = tr.WriteJSON(f)
	case ".md":
		err = tr.WriteMermaid(f)
	default:
		err = tr.WriteText(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write trace %s: %w", path, err)
	}
	return nil
}
