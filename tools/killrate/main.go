// Command killrate prints the kill rates of conformance kill matrices
// (internal/killtest) and fails when a suite misses the target: every spec
// killed, and at least 80% of them by a semantic fault. make killrate
// measures the matrices and runs it.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/vmtestbed/vmtestbed/internal/killtest"
)

func main() {
	fs := flag.NewFlagSet("killrate", flag.ExitOnError)
	minSemantic := fs.Float64("min-semantic", 80, "the least share of specs, in percent, a semantic fault must kill")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: killrate [-min-semantic 80] MATRIX.json...")
		fs.PrintDefaults()
	}
	_ = fs.Parse(os.Args[1:])
	if fs.NArg() == 0 {
		fs.Usage()
		os.Exit(2)
	}
	ok := true
	fmt.Printf("%-11s %6s %7s %8s %10s %11s\n", "suite", "specs", "killed", "killed%", "semantic", "semantic%")
	var notes []string
	for _, path := range fs.Args() {
		m, err := killtest.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "killrate:", err)
			os.Exit(2)
		}
		s := m.Summary()
		fmt.Printf("%-11s %6d %7d %7.0f%% %10d %10.0f%%\n", s.Suite, s.Specs, s.Killed, s.KilledPct(), s.Semantic, s.SemanticPct())
		if len(s.NotKilled) > 0 {
			ok = false
			notes = append(notes, fmt.Sprintf("%s: killed by nothing: %s", s.Suite, strings.Join(s.NotKilled, " ")))
		}
		if s.SemanticPct() < *minSemantic {
			ok = false
			notes = append(notes, fmt.Sprintf("%s: below %.0f%% killed by a semantic fault", s.Suite, *minSemantic))
		}
		notes = append(notes, fmt.Sprintf("%s: not killed by a semantic fault: %s", s.Suite, orNone(s.NotSemantic)))
	}
	for _, n := range notes {
		fmt.Println(n)
	}
	if !ok {
		os.Exit(1)
	}
}

func orNone(ids []string) string {
	if len(ids) == 0 {
		return "(none)"
	}
	return strings.Join(ids, " ")
}
