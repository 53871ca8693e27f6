package avalanche

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestSpecList: IDs are unique and well formed, each statement uses an RFC
// 2119 keyword, the reserved IDs stay free, and with them the suite has at
// least 50 specs.
func TestSpecList(t *testing.T) {
	idRE := regexp.MustCompile(`^AVA-[A-Z]+-\d{3}$`)
	seen := map[string]bool{}
	for _, s := range Specs() {
		if !idRE.MatchString(s.ID) || seen[s.ID] {
			t.Errorf("spec ID %q is malformed or used twice", s.ID)
		}
		seen[s.ID] = true
		if !regexp.MustCompile(`\b(MUST|MUST NOT|SHOULD|SHOULD NOT|MAY)\b`).MatchString(s.Text) {
			t.Errorf("%s has no RFC 2119 keyword: %q", s.ID, s.Text)
		}
	}
	for _, id := range reservedIDs {
		if seen[id] {
			t.Errorf("reserved ID %s is in use", id)
		}
	}
	for _, dropped := range []string{"AVA-HSK-002", "AVA-BLK-003"} {
		if seen[dropped] {
			t.Errorf("dropped ID %s is back", dropped)
		}
	}
	if n := len(Specs()) + len(reservedIDs); n < 50 {
		t.Errorf("%d specs with the reserved ones, want at least 50", n)
	}
}

// TestConformanceDocListsEverySpec: docs/CONFORMANCE.md's Avalanche table
// is Specs(), in order, word for word.
func TestConformanceDocListsEverySpec(t *testing.T) {
	b, err := os.ReadFile("../../docs/CONFORMANCE.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "| AVA-") {
			rows = append(rows, line)
		}
	}
	var want []string
	for _, s := range Specs() {
		want = append(want, "| "+s.ID+" | "+s.Text+" |")
	}
	for _, id := range reservedIDs {
		want = append(want, "| "+id+" | (reserved) |")
	}
	if !slices.Equal(rows, want) {
		t.Errorf("docs/CONFORMANCE.md lists the Avalanche specs as\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
}
