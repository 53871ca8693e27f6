package avalanche

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // ginkgo DSL
	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega" //nolint:revive // gomega DSL

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
)

// SuiteName is the ginkgo suite description.
const SuiteName = "Avalanche VM plugin conformance"

// Run runs the whole suite against cfg inside a Go test. Ginkgo runs one
// suite per process, so a test binary can call Run once.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	RegisterFailHandler(Fail)
	Register(&cfg)
	suiteCfg, repCfg := GinkgoConfiguration()
	RunSpecs(t, SuiteName, suiteCfg, repCfg)
}

// Options are the CLI's knobs for Main.
type Options struct {
	Focus   string    // regexp on spec text; "" = every spec
	JUnit   string    // JUnit XML report path
	JSON    string    // ginkgo JSON report path
	Trace   string    // RPC trace path: .json, .md (Mermaid), anything else text
	Verbose bool      // stream GinkgoWriter (cleanup notes, plugin logs) to the console
	Out     io.Writer // one line per spec and a summary (nil = os.Stdout)
}

// Outcome is what Main found.
type Outcome struct {
	Passed    bool
	Failed    []string // IDs of failed specs
	LaunchErr error    // the plugin could not be started
}

// failRecorder is the testing.T stand-in RunSpecs reports to outside tests.
type failRecorder struct{ failed bool }

func (f *failRecorder) Fail() { f.failed = true }

// Main runs the suite once in this process (ginkgo allows one run per
// process) and writes the reports.
func Main(cfg Config, opts Options) (Outcome, error) {
	if err := cfg.validate(); err != nil {
		return Outcome{}, err
	}
	out := opts.Out
	if out == nil {
		out = os.Stdout
	}
	if opts.Trace != "" && cfg.Trace == nil {
		cfg.Trace = avalanchego.NewTrace(nil)
	}
	s := newSuite(cfg)
	RegisterFailHandler(Fail)
	s.register()

	var outcome Outcome
	ReportAfterEach(func(r SpecReport) {
		if r.State.Is(types.SpecStateSkipped) && r.Failure.Message == "" {
			return // filtered out by --focus, not run
		}
		fmt.Fprintln(out, progressLine(r))
	})
	ReportAfterSuite("reports", func(r Report) {
		outcome.Failed = failedIDs(r)
		if opts.JUnit != "" {
			Expect(reporters.GenerateJUnitReport(r, opts.JUnit)).To(Succeed(), "write JUnit report")
		}
		if opts.JSON != "" {
			Expect(reporters.GenerateJSONReport(r, opts.JSON)).To(Succeed(), "write JSON report")
		}
	})

	suiteCfg, repCfg := GinkgoConfiguration()
	if opts.Focus != "" {
		suiteCfg.FocusStrings = []string{opts.Focus}
	}
	// The suite's own Timeout names the calls still running; ginkgo's
	// must not cut in first.
	suiteCfg.Timeout = s.cfg.Timeout + time.Minute
	repCfg.Succinct = !opts.Verbose
	repCfg.Verbose = opts.Verbose
	repCfg.NoColor = true
	rec := &failRecorder{}
	s.begin()
	passed := RunSpecs(rec, SuiteName, suiteCfg, repCfg)
	outcome.Passed = passed && !rec.failed
	outcome.LaunchErr = s.LaunchErr()
	if opts.Trace != "" {
		if err := writeTrace(cfg.Trace, opts.Trace); err != nil {
			return outcome, err
		}
	}
	fmt.Fprintf(out, "%s: %s\n", SuiteName, summary(outcome))
	return outcome, nil
}

func summary(o Outcome) string {
	switch {
	case o.LaunchErr != nil:
		return "the plugin could not be started"
	case o.Passed:
		return "PASS"
	default:
		return "FAIL " + strings.Join(o.Failed, " ")
	}
}

// progressLine is one console line per spec: state, duration, title.
func progressLine(r SpecReport) string {
	line := fmt.Sprintf("%-7s %6.3fs  %s", strings.ToUpper(r.State.String()), r.RunTime.Seconds(), r.LeafNodeText)
	switch {
	case r.State.Is(types.SpecStateSkipped) && r.Failure.Message != "":
		line += "\n        skipped: " + r.Failure.Message
	case r.State.Is(types.SpecStateFailureStates):
		line += "\n        " + strings.ReplaceAll(strings.TrimSpace(r.Failure.Message), "\n", "\n        ")
	}
	return line
}

// failedIDs are the spec IDs of failed specs, plus the spec named by a
// suite abort (a plugin that did not come up).
func failedIDs(r Report) []string {
	var out []string
	seen := map[string]bool{}
	add := func(id string) {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	for _, sr := range r.SpecReports {
		if !sr.State.Is(types.SpecStateFailureStates) {
			continue
		}
		add(specIDOf(sr.LeafNodeText))
		add(specIDOf(sr.Failure.Message))
	}
	return out
}

// specIDOf finds the first "[AVA-...]" in text.
func specIDOf(text string) string {
	i := strings.Index(text, "[AVA-")
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(text[i:], ']')
	if j < 0 {
		return ""
	}
	return text[i+1 : i+j]
}

// writeTrace renders the RPC trace by the file's extension.
func writeTrace(tr *avalanchego.Trace, path string) error {
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
