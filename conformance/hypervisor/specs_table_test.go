package hypervisor

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// registeredTitles returns the titles of the s.it calls in this package's
// sources, sorted.
func registeredTitles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`s\.(?:it|itLease)\(("(?:[^"\\]|\\.)*")`)
	var out []string
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
			out = append(out, title)
		}
	}
	slices.Sort(out)
	return out
}

// TestSpecTable: Specs() is the registered specs, word for word, by ID.
func TestSpecTable(t *testing.T) {
	var table []string
	for _, s := range Specs() {
		table = append(table, s.Title())
	}
	if got := registeredTitles(t); !slices.Equal(got, table) {
		t.Errorf("the spec table (specs_table.go) differs from the registered specs:\ntable:\n%s\nregistered:\n%s", strings.Join(table, "\n"), strings.Join(got, "\n"))
	}
	if n := len(table); n < 60 {
		t.Errorf("%d specs in the table, want at least 60", n)
	}
}
