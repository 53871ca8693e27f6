// Package guestagent_test is a module other than vmtestbed that checks a
// guest agent (here vmtestbed's own, on a unix socket) with the suite.
package guestagent_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"

	"github.com/vmtestbed/vmtestbed/conformance/guestagent"
	agent "github.com/vmtestbed/vmtestbed/fakes/guestagent"
)

func TestGuestAgent(t *testing.T) {
	a, err := agent.New(agent.Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.ServeListener(ctx, ln) }()
	defer func() { cancel(); <-done }()

	cfg := guestagent.DefaultConfig()
	cfg.Dial = guestagent.Socket("com.vmagent.sock", sock)
	guestagent.Run(t, cfg)
}
