package report

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/onsi/ginkgo/v2"
)

// Sanitize makes text a target sent safe to print in a report or on a console: control
// characters other than newline and tab (ESC and the rest of C0, DEL, the C1 range), Unicode
// format characters such as bidi overrides, and bytes that are not UTF-8 are shown escaped
// (\x1b, \u202e, \xff), so a target cannot write terminal escape sequences into a report.
func Sanitize(s string) string {
	clean := true
	for i, r := range s {
		if unsafeRune(r) || (r == utf8.RuneError && !validAt(s, i)) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	if r == '\n' || r == '\t' {
		return false
	}
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}

// validAt reports whether the U+FFFD at s[i] was really in s (not a decoding error).
func validAt(s string, i int) bool {
	_, size := utf8.DecodeRuneInString(s[i:])
	return size == 3
}

// SanitizingFail is the fail handler every suite's Run and RunSuite register: every failure
// message, gomega's included, is sanitised before ginkgo records or prints it. A caller that adds
// a suite to its own ginkgo suite with Register should register it too:
// RegisterFailHandler(report.SanitizingFail).
func SanitizingFail(message string, callerSkip ...int) {
	skip := 1
	if len(callerSkip) > 0 {
		skip += callerSkip[0]
	}
	ginkgo.Fail(Sanitize(message), skip)
}
