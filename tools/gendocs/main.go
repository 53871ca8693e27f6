// Command gendocs writes docs/CONFORMANCE.md from the conformance suites'
// spec tables and their committed kill matrices
// (conformance/*/testdata/killmatrix.json), through the template
// conformance.md.tmpl. It reads no file outside the repository and runs no
// suite: make killmatrix records the matrices. Run it as make docs.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	fs := flag.NewFlagSet("gendocs", flag.ExitOnError)
	root := fs.String("root", ".", "the repository's root")
	_ = fs.Parse(os.Args[1:])
	out, err := Generate(*root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
	path := filepath.Join(*root, "docs", "CONFORMANCE.md")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}
