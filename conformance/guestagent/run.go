package guestagent

import (
	"fmt"
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"

	"github.com/vmtestbed/vmtestbed/conformance/report"
)

// SuiteName is the ginkgo suite description.
const SuiteName = "guest agent conformance"

// Run registers the suite for cfg and runs it from a Go test. Ginkgo runs one
// suite per process, so a test binary calls Run once.
func Run(t *testing.T, cfg Config) {
	RegisterFailHandler(SanitizingFail)
	Register(cfg)
	sc, rc := GinkgoConfiguration()
	RunSpecs(t, SuiteName, sc, rc)
}

// RunOptions shape a CLI run of the suite.
type RunOptions struct {
	Focus []string // run only specs whose text matches one of these regular expressions
	JUnit string   // write a JUnit XML report here when non-empty
	JSON  string   // write a report.Result as JSON here when non-empty
	// Verbose prints every spec as it runs.
	Verbose bool
}

// RunSuite runs the suite for cfg outside `go test` (for the CLI) and
// returns its result. Ginkgo runs one suite per process. The error is about
// writing reports; spec failures are in the result.
func RunSuite(cfg Config, o RunOptions) (report.Result, error) {
	var rep types.Report
	RegisterFailHandler(SanitizingFail)
	Register(cfg)
	ReportAfterSuite("collect guest agent results", func(r Report) { rep = r })
	sc, rc := GinkgoConfiguration()
	sc.FocusStrings = o.Focus
	sc.RandomSeed = 1
	rc.NoColor = true
	rc.Verbose = o.Verbose
	RunSpecs(&cliT{}, SuiteName, sc, rc)
	res := report.FromGinkgo(rep, nil)
	if o.JSON != "" {
		if err := writeFile(o.JSON, func(f *os.File) error { return res.WriteJSON(f) }); err != nil {
			return res, err
		}
	}
	if o.JUnit != "" {
		if err := writeFile(o.JUnit, func(f *os.File) error { return report.WriteJUnit(f, res) }); err != nil {
			return res, err
		}
	}
	return res, nil
}

// cliT is the ginkgo.GinkgoTestingT of a CLI run.
type cliT struct{ failed bool }

func (t *cliT) Fail() { t.failed = true }

func writeFile(path string, write func(*os.File) error) error {
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
