package avalanche

import (
	"regexp"
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
	for _, dropped := range []string{"AVA-HSK-002", "AVA-BLK-003"} {
		if seen[dropped] {
			t.Errorf("dropped ID %s is back", dropped)
		}
	}
	if n := len(Specs()); n < 50 {
		t.Errorf("%d specs, want at least 50", n)
	}
}

// TestCapabilitiesNameSpecs: every capability belongs to a spec.
func TestCapabilitiesNameSpecs(t *testing.T) {
	known := map[string]bool{}
	for _, s := range Specs() {
		known[s.ID] = true
	}
	for id := range capabilities {
		if !known[id] {
			t.Errorf("capability of unknown spec %s", id)
		}
	}
}
