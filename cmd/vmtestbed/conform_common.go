package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/vmtestbed/vmtestbed/conformance/report"
)

// bindReportFlags binds the flags every `vmtestbed conform` command takes,
// spelled the same way everywhere, onto o. Progress goes to the console.
func bindReportFlags(fl *pflag.FlagSet, o *report.Options, example, verbose string) {
	fl.StringVar(&o.Focus, "focus", "", "run only specs whose text matches this regular expression, e.g. "+example)
	fl.StringVar(&o.Skip, "skip", "", "skip specs whose text matches this regular expression (e.g. known gaps)")
	fl.StringVar(&o.JUnit, "junit", "", "write a JUnit XML report here")
	fl.StringVar(&o.JSON, "json", "", "write the JSON result here (specs, their calls, the method table where the suite has one)")
	fl.BoolVar(&o.Verbose, "verbose", false, verbose)
}

// verdict ends every `vmtestbed conform` command the same way: the summary,
// then the exit status (0 every spec that counts passed, 1 some failed or
// none ran, 2 a target that could not be reached or started, or a run that
// could not complete). failed are the IDs of the failed specs that count.
func verdict(out io.Writer, res report.Result, err error, failed []string) error {
	if len(res.Specs) > 0 {
		fmt.Fprintln(out)
		report.WriteSummary(out, res)
	}
	switch {
	case err != nil:
		return withCode(exitUsage, err)
	case len(failed) > 0:
		return withCode(exitFailed, fmt.Errorf("%d of %d specs failed: %s", len(failed), len(res.Specs), strings.Join(failed, " ")))
	case res.Passed == 0 && res.Failed == 0:
		return withCode(exitFailed, errors.New("no spec ran: the filters select none, or the target offers nothing the selected specs need"))
	}
	return nil
}
