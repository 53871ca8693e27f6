package guestagent

import (
	"regexp"
	"testing"
)

func TestLineAgent(t *testing.T) {
	ch := startPTY(t, Options{Protocol: ProtocolLine})
	tests := []struct{ req, want string }{
		{"ping", `^pong$`},
		{"status", `^\{"status":"running","uptime":\d+\}$`},
		{"version", `^vmtestbed 1\.0\.0 protocol 1$`},
		{"dance", `^unknown$`},
		{"", `^unknown$`},
		{"ping\r", `^pong$`},
	}
	for _, tc := range tests {
		if got := call(t, ch, tc.req); !regexp.MustCompile(tc.want).MatchString(got) {
			t.Errorf("%q: got %q, want %s", tc.req, got, tc.want)
		}
	}
}
