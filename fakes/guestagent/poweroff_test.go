package guestagent

import (
	"testing"
	"time"
)

// TestPowerOffAnswersFirst: with Options.PowerOff set the agent offers
// poweroff, answers it, and only then powers off; without it the command
// is unknown.
func TestPowerOffAnswersFirst(t *testing.T) {
	off := make(chan struct{})
	ch := startPTY(t, Options{PowerOff: func() error { close(off); return nil }})
	if r := callJSON(t, ch, map[string]any{"command": "poweroff"}); r["result"] != "powering off" {
		t.Fatalf("poweroff answered %v", r)
	}
	select {
	case <-off:
	case <-time.After(5 * time.Second):
		t.Fatal("the agent answered poweroff but never powered off")
	}
	plain := startPTY(t, Options{})
	if r := callJSON(t, plain, map[string]any{"command": "poweroff"}); r["error"] == nil {
		t.Fatalf("an agent without PowerOff answered poweroff with %v", r)
	}
}
