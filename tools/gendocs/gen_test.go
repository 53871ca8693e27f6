package main

import (
	"bytes"
	"os"
	"testing"
)

// TestConformanceDocIsGenerated: the committed docs/CONFORMANCE.md is what
// gendocs writes from the spec tables and the committed kill matrices.
func TestConformanceDocIsGenerated(t *testing.T) {
	want, err := Generate("../..")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../docs/CONFORMANCE.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/CONFORMANCE.md differs from what tools/gendocs writes from the spec tables and conformance/*/testdata/killmatrix.json: run make docs (and make killmatrix first if a suite's specs or broken targets changed)")
	}
}
