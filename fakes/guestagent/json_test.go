package guestagent

import (
	"strings"
	"testing"
)

func TestJSONAgentReplies(t *testing.T) {
	ch := startPTY(t, Options{})
	tests := []struct {
		name, req, want string
	}{
		{"ping", `{"command":"ping"}`, `{"result":"pong"}`},
		{"id echoed", `{"command":"ping","id":7}`, `{"id":7,"result":"pong"}`},
		{"compat ping", `{"data":"ping"}`, `{"result":"pong"}`},
		{"compat exec", `{"data":"exec:echo hi there"}`, `{"code":0,"result":"hi there\n","stderr":""}`},
		{"compat unknown", `{"data":"dance"}`, `{"result":"unknown command"}`},
		{"compat exec denied", `{"data":"exec:rm -rf /"}`, `{"error":"exec of \"rm\" not allowed (allowed: [echo uname hostname true false])"}`},
		{"exec", `{"command":"exec","cmd":"echo","args":["a","b"]}`, `{"code":0,"result":"a b\n","stderr":""}`},
		{"exec exit code", `{"command":"exec","cmd":"false"}`, `{"code":1,"result":"","stderr":""}`},
		{"exec path denied", `{"command":"exec","cmd":"/bin/echo"}`, `{"error":"exec of \"/bin/echo\" not allowed (allowed: [echo uname hostname true false])"}`},
		{"exec missing cmd", `{"command":"exec"}`, `{"error":"exec: missing cmd"}`},
		{"unknown command", `{"command":"dance"}`, `{"error":"unknown command \"dance\""}`},
		{"empty object", `{}`, `{"error":"request has none of command, action or data"}`},
		{"malformed", `{"command":`, `{"error":"malformed request: unexpected end of JSON input"}`},
		{"not an object", `ping`, `{"error":"malformed request: want one JSON object per line, got \"ping\""}`},
		{"wrong type", `{"command":5}`, `{"error":"malformed request: json: cannot unmarshal number into Go struct field request.command of type string"}`},
		{"file without root", `{"command":"file_stat","path":"x"}`, `{"error":"file_stat: file transfer disabled (agent has no root directory)"}`},
		{"still alive", `{"command":"ping"}`, `{"result":"pong"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := call(t, ch, tc.req); got != tc.want {
				t.Fatalf("%s\n got %s\nwant %s", tc.req, got, tc.want)
			}
		})
	}
}

func TestJSONHelloStatusMetrics(t *testing.T) {
	ch := startPTY(t, Options{})
	h := callJSON(t, ch, map[string]any{"command": "hello"})
	res := h["result"].(map[string]any)
	if res["agent"] != AgentName || res["protocol"] != float64(ProtocolVersion) || res["max_line"] != float64(DefaultMaxLine) {
		t.Fatalf("hello: %v", h)
	}
	if cmds := res["commands"].([]any); len(cmds) < 10 {
		t.Fatalf("hello lists %d commands: %v", len(cmds), cmds)
	}
	st := callJSON(t, ch, map[string]any{"command": "status"})
	if st["status"] != "running" || st["uptime"].(float64) < 0 {
		t.Fatalf("status: %v", st)
	}
	m := callJSON(t, ch, map[string]any{"command": "get_metrics"})["result"].(map[string]any)
	if m["mem_total_kb"].(float64) <= 0 || m["mem_available_kb"].(float64) > m["mem_total_kb"].(float64) || m["load1"].(float64) < 0 {
		t.Fatalf("metrics: %v", m)
	}
}

func TestAppControl(t *testing.T) {
	ch := startPTY(t, Options{})
	steps := []struct{ action, app, want string }{
		{"status", "nginx", `"state":"stopped"`},
		{"stop", "nginx", `"error":"app nginx is not running"`},
		{"start", "nginx", `"state":"running"`},
		{"start", "nginx", `"error":"app nginx is already running (pid 1001)"`},
		{"status", "nginx", `"pid":1001`},
		{"restart", "nginx", `"pid":1002`},
		{"stop", "nginx", `"state":"stopped"`},
		{"start", "apache", `"error":"unknown app \"apache\""`},
		{"dance", "nginx", `"error":"unknown app action \"dance\"`},
		{"start", "", `"error":"app start: missing app"`},
		{"list", "", `"result":["nginx","postgres","redis"]`},
	}
	for _, s := range steps {
		got := call(t, ch, `{"action":"`+s.action+`","app":"`+s.app+`"}`)
		if !strings.Contains(got, s.want) {
			t.Fatalf("%s %s: got %s, want it to contain %s", s.action, s.app, got, s.want)
		}
	}
}

func TestMaxLine(t *testing.T) {
	ch := startPTY(t, Options{MaxLine: 64})
	got := call(t, ch, `{"command":"ping","pad":"`+strings.Repeat("x", 100)+`"}`)
	if got != `{"error":"request line longer than 64 bytes"}` {
		t.Fatalf("over-long line: %s", got)
	}
	if got := call(t, ch, `{"command":"ping"}`); got != `{"result":"pong"}` {
		t.Fatalf("after over-long line: %s", got)
	}
}

func TestOptionsRejected(t *testing.T) {
	for _, o := range []Options{
		{Protocol: "xml"},
		{Fault: "explode"},
		{Allow: []string{"/bin/sh"}},
		{Root: "/nonexistent/dir"},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}
