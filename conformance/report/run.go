package report

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/formatter"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/onsi/gomega"
)

// ErrTarget is wrapped by every suite's RunSuite error when the target could
// not be reached or started (as opposed to a target that failed specs).
var ErrTarget = errors.New("the target could not be reached or started")

// Options shape a run of any suite outside `go test`: what the CLI's common
// flags (--focus, --skip, --junit, --json, --verbose) bind onto. Inside `go
// test`, Run takes ginkgo's own flags (-ginkgo.focus, ...) instead.
type Options struct {
	// Focus and Skip are regular expressions on spec text: run only the
	// specs Focus matches, and none that Skip matches ("" = no filter).
	Focus, Skip string
	// JUnit and JSON are paths the run writes its Result to, as JUnit XML and
	// as JSON (see Result). "" = not written.
	JUnit, JSON string
	// Progress gets one line per finished spec, the failure of each failed
	// spec and the reason of each spec skipped at run time. nil = none.
	Progress io.Writer
	// Verbose makes ginkgo print what specs write to GinkgoWriter (target
	// output, cleanup notes) to standard output.
	Verbose bool
}

// Validate reports a filter that is not a regular expression.
func (o Options) Validate() error {
	for _, f := range []struct{ flag, re string }{{"focus", o.Focus}, {"skip", o.Skip}} {
		if _, err := regexp.Compile(f.re); err != nil {
			return fmt.Errorf("spec filter %s %q: %w", f.flag, f.re, err)
		}
	}
	return nil
}

// RunSpecs runs the specs register declares as one ginkgo suite, in
// declaration order, and returns ginkgo's report. Ginkgo runs one suite per
// process: call it once. timeout bounds the whole suite (0 = ginkgo's hour).
// Failure messages are sanitised (SanitizingFail).
func RunSpecs(name string, o Options, timeout time.Duration, register func()) types.Report {
	var final types.Report
	gomega.RegisterFailHandler(SanitizingFail)
	if o.Progress != nil {
		p := NewProgress(o.Progress)
		ginkgo.ReportAfterEach(func(sr ginkgo.SpecReport) { p.Spec(sr) })
	}
	ginkgo.ReportAfterSuite(name, func(r ginkgo.Report) { final = r })
	register()
	suiteCfg, repCfg := ginkgo.GinkgoConfiguration()
	if o.Focus != "" {
		suiteCfg.FocusStrings = []string{o.Focus}
	}
	if o.Skip != "" {
		suiteCfg.SkipStrings = []string{o.Skip}
	}
	if timeout > 0 {
		suiteCfg.Timeout = timeout
	}
	suiteCfg.RandomSeed = 1 // specs run in declaration order; only the seed ginkgo prints is fixed
	repCfg.NoColor = true
	repCfg.Verbose = o.Verbose
	repCfg.Succinct = !o.Verbose
	if o.Progress != nil && !o.Verbose {
		// Progress is the console; ginkgo's own reporter would repeat it.
		formatter.ColorableStdOut = io.Discard
	}
	ginkgo.RunSpecs(failFlag{}, name, suiteCfg, repCfg)
	return final
}

// failFlag is the GinkgoTestingT of a run outside `go test`: the report
// carries the failures.
type failFlag struct{}

func (failFlag) Fail() {}

// Write writes res to the JUnit and JSON paths o names.
func (o Options) Write(res Result) error {
	if o.JUnit != "" {
		if err := writeFile(o.JUnit, func(w io.Writer) error { return WriteJUnit(w, res) }); err != nil {
			return err
		}
	}
	if o.JSON != "" {
		if err := writeFile(o.JSON, res.WriteJSON); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write report %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	return nil
}

// WriteSummary prints the verdict every `vmtestbed conform` command ends
// with: the counts, then one line per failed spec with the start of its
// reason (sanitised).
func WriteSummary(w io.Writer, res Result) {
	fmt.Fprintf(w, "%s: %d specs, %d passed, %d failed, %d skipped in %s\n", res.Suite,
		len(res.Specs), res.Passed, res.Failed, res.Skipped, res.End.Sub(res.Start).Round(time.Millisecond))
	for _, s := range res.Specs {
		if !s.Failed() {
			continue
		}
		reason := strings.Join(strings.Fields(s.Failure), " ") // Spec.Failure is sanitised
		if len(reason) > 300 {
			reason = reason[:300] + "…"
		}
		name := s.ID
		if name == "" {
			name = s.Text
		}
		fmt.Fprintf(w, "  FAIL [%s] %s\n", name, reason)
	}
}
