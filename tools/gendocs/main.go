// Command gendocs writes docs/CONFORMANCE.md from the conformance suites'
// spec tables and their committed kill matrices
// (conformance/*/testdata/killmatrix.json), through the template
// conformance.md.tmpl. It reads no file outside the repository and runs no
// suite: make killmatrix records the matrices. Run it as make docs.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	fs := flag.NewFlagSet("gendocs", flag.ExitOnError)
	root := fs.String("root", ".", "the repository's root")
	check := fs.Bool("check", false, "write nothing; exit 1 when docs/CONFORMANCE.md is out of date")
	_ = fs.Parse(os.Args[1:])
	out, err := Generate(*root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
	path := filepath.Join(*root, "docs", "CONFORMANCE.md")
	if *check {
		old, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(old, out) {
			fmt.Fprintln(os.Stderr, "gendocs: docs/CONFORMANCE.md is out of date: run make docs")
			os.Exit(1)
		}
		return
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}
