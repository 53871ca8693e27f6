package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDecodeProcNetAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0100007F:1F90", "127.0.0.1:8080"},
		{"00000000:0050", "0.0.0.0:80"},
		{"00000000000000000000000001000000:2328", "[00000000000000000000000001000000]:9000"},
	} {
		if got := decodeProcNetAddr(tc.in); got != tc.want {
			t.Errorf("decodeProcNetAddr(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true,
		"0.0.0.0:80":     false,
		"[00000000000000000000000001000000]:9000": true,
		"[00000000000000000000000000000000]:9000": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// A node started like tmpnet starts it (its own session) with a child that
// outlives a SIGTERM: the sweep finds both through process.json and kills them.
func TestReaperSweepsTheNodeSession(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", "trap '' TERM; sleep 60 & sleep 60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	if err := os.WriteFile(filepath.Join(dir, "process.json"), fmt.Appendf(nil, `{"pid":%d,"uri":"http://127.0.0.1:1"}`, cmd.Process.Pid), 0o644); err != nil {
		t.Fatal(err)
	}
	rp := newReaper()
	rp.watch(dir)
	deadline := time.Now().Add(5 * time.Second)
	for len(rp.live()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(rp.live()); n < 2 {
		t.Fatalf("live() = %d processes, want the shell and its sleep", n)
	}
	killed := rp.sweep()
	if len(killed) < 2 {
		t.Errorf("sweep killed %v, want at least 2 processes", killed)
	}
	if left := rp.live(); len(left) != 0 {
		t.Errorf("still running after sweep: %v", left)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("the session leader did not exit")
	}
}

func TestCountSessions(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	header := `{"format":"vmtestbed-rpcchainvm-recording","version":1}` + "\n"
	write("session-1.jsonl", header+
		`{"kind":"call","method":"/vm.runtime.Runtime/Initialize"}`+"\n"+
		`{"kind":"call","method":"/vm.VM/Version"}`+"\n"+
		`{"kind":"end","exit":"exit status 0"}`+"\n")
	// node_id: 20 bytes, base64 as protojson writes them.
	write("session-2.jsonl", header+
		`{"kind":"call","method":"/vm.VM/Initialize","request":{"node_id":"AAAAAAAAAAAAAAAAAAAAAAAAAAA="}}`+"\n"+
		`{"kind":"call","method":"/vm.VM/Shutdown"}`+"\n")
	write("plugin", "#!/bin/sh\n")
	write("README.md", "x\n")
	st := countSessions(dir)
	if st.Sessions != 2 || st.Calls != 4 {
		t.Fatalf("countSessions = %+v, want 2 sessions, 4 calls", st)
	}
	if f := st.Files[0]; f.Kind != "pre-init" || f.Exit != "exit status 0" || f.Calls != 2 {
		t.Errorf("first session = %+v", f)
	}
	if f := st.Files[1]; f.Kind != "chain" || !strings.HasPrefix(f.Node, "NodeID-") {
		t.Errorf("second session = %+v", f)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(o.Nodes) != "[1 2]" || o.Transfers != 2 || o.PluginWrapper != "" {
		t.Errorf("defaults = %+v", o)
	}
	for _, args := range [][]string{
		{"--nodes", "0"},
		{"--nodes", "1,x"},
		{"--transfers", "0"},
		{"--out", "x"},
		{"--plugin-wrapper", "p", "--vmtestbed", "v"},
		{"--plugin-wrapper", "p"},
		{"extra"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}
