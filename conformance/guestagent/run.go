package guestagent

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vmtestbed/vmtestbed/conformance/report"
)

// SuiteName is the ginkgo suite description and the report's suite name.
const SuiteName = "guest agent conformance"

// ErrUnreachable is returned (wrapped) by RunSuite when no channel to the
// agent could be opened.
var ErrUnreachable = fmt.Errorf("%w: the agent's channel could not be opened", report.ErrTarget)

// Run registers the suite for cfg and runs it from a Go test. Ginkgo runs one
// suite per process, so a test binary calls Run once.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	RegisterFailHandler(report.SanitizingFail)
	Register(&cfg)
	sc, rc := GinkgoConfiguration()
	RunSpecs(t, SuiteName, sc, rc)
}

// RunSuite runs the suite for cfg outside `go test` (for the CLI), once per
// process (ginkgo's limit): it opens one channel within ctx first, to tell an
// unreachable agent (ErrUnreachable) from a failing one (an invalid cfg fails
// [GA-CONFIG-001] instead), runs the specs,
// writes the reports opts names and returns the result. Failed specs are in
// the result; the error is about the configuration, the target or the reports.
func RunSuite(ctx context.Context, cfg Config, opts report.Options) (report.Result, error) {
	if err := opts.Validate(); err != nil {
		return report.Result{}, err
	}
	// An invalid configuration is reported by the suite itself, as a failed
	// [GA-CONFIG-001]; a valid one must reach the agent first.
	c, cerr := cfg.withDefaults()
	if cerr == nil {
		if err := reach(ctx, c); err != nil {
			return report.Result{}, fmt.Errorf("%w: %w", ErrUnreachable, err)
		}
	}
	final := report.RunSpecs(SuiteName, opts, c.Timeout, func() { Register(&cfg) })
	res := report.FromGinkgo(final, nil)
	return res, opts.Write(res)
}

// reach opens and closes one channel, bounded by ctx and the call timeout.
func reach(ctx context.Context, cfg Config) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
	defer cancel()
	ch, err := cfg.Dial(ctx)
	if err != nil {
		return err
	}
	return ch.Close()
}
