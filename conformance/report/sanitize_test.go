package report

import "testing"

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"plain\ttext\nline":          "plain\ttext\nline",
		"\x1b[2J\x1b]0;title\x07":    `\x1b[2J\x1b]0;title\x07`,
		"caf\u00e9 \u202eevil":       `café \u202eevil`,
		"bad \xff\xfe utf8":          `bad \xff\xfe utf8`,
		"del\x7f c1\u009b ok \uFFFD": `del\x7f c1\u009b ok ` + "\uFFFD",
		"\r\x00":                     `\x0d\x00`,
	} {
		if got := Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}
