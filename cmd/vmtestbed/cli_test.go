package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vmtestbed/vmtestbed/internal/buildbin"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cliBinary builds this command (once per test process: buildbin caches).
func cliBinary(t *testing.T) string {
	t.Helper()
	bin, err := buildbin.Build("./cmd/vmtestbed", "")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// cliResult is one run of the built vmtestbed binary.
type cliResult struct {
	code     int
	out      string // stdout and stderr, interleaved
	duration time.Duration
}

// runCLI runs the built binary with args and fails the test if it is still
// running after bound.
func runCLI(t *testing.T, bound time.Duration, args ...string) cliResult {
	t.Helper()
	bin := cliBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	// A CLI that outlives its bound gets SIGINT, so it removes what it made
	// (realhv domains, temp dirs) before the test fails; only one that
	// ignores it for WaitDelay is killed.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	start := time.Now()
	err := cmd.Run()
	res := cliResult{out: out.String(), duration: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("vmtestbed %v still running after %s:\n%s", args, bound, res.out)
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run vmtestbed: %v", err)
	}
	return res
}
