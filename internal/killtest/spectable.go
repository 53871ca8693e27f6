package killtest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// CheckSpecTable fails t unless table (the titles a suite's Specs() gives)
// is, word for word, the set of spec titles registered in the package's
// non-test sources in the working directory: the string literal first
// argument of every call register matches (e.g. `s\.it\(`). It also wants
// at least min specs.
func CheckSpecTable(t *testing.T, table []string, register string, min int) {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?:` + register + `)("(?:[^"\\]|\\.)*")`)
	var got []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			title, err := strconv.Unquote(string(m[1]))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			got = append(got, title)
		}
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(table))
	if !slices.Equal(got, want) {
		t.Errorf("the spec table (Specs()) differs from the registered specs:\ntable:\n%s\nregistered:\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
	if len(table) < min {
		t.Errorf("%d specs in the table, want at least %d", len(table), min)
	}
}
