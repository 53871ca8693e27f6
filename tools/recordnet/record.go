package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// recorder drives vmtestbed's recorder: `vmtestbed record --plugin P --out DIR`
// writes an executable DIR/plugin that runs P and records one session per
// process into DIR; `vmtestbed record normalize SRC DST` makes them fit to commit.
type recorder struct {
	VMTestbed string
	RawDir    string
	Out       io.Writer
}

func (r *recorder) wrap(ctx context.Context, plugin string) (string, error) {
	if err := os.MkdirAll(r.RawDir, 0o755); err != nil {
		return "", err
	}
	if err := r.vmtestbed(ctx, "record", "--plugin", plugin, "--out", r.RawDir); err != nil {
		return "", err
	}
	wrapper := filepath.Join(r.RawDir, "plugin")
	if !isExecutable(wrapper) {
		return "", fmt.Errorf("vmtestbed record wrote no executable %s", wrapper)
	}
	return wrapper, nil
}

func (r *recorder) normalize(ctx context.Context, dst string) (sessionStats, error) {
	// Replace what an earlier run left: a recording is one run, whole.
	if err := os.RemoveAll(dst); err != nil {
		return sessionStats{}, err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return sessionStats{}, err
	}
	if err := r.vmtestbed(ctx, "record", "normalize", r.RawDir, dst); err != nil {
		return sessionStats{}, err
	}
	return countSessions(dst), nil
}

func (r *recorder) vmtestbed(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, r.VMTestbed, args...)
	cmd.Stdout, cmd.Stderr = r.Out, r.Out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", r.VMTestbed, strings.Join(args, " "), err)
	}
	return nil
}

// sessionStats counts what a recording dir holds.
type sessionStats struct {
	Sessions int
	Bytes    int64
}

func (s sessionStats) String() string {
	return fmt.Sprintf("%d sessions (%d bytes)", s.Sessions, s.Bytes)
}

// countSessions counts the session files in dir: every regular file except
// the wrapper itself and a README.
func countSessions(dir string) sessionStats {
	var st sessionStats
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !e.Type().IsRegular() || e.Name() == "plugin" || e.Name() == "README.md" || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		st.Sessions++
		st.Bytes += fi.Size()
	}
	return st
}

// writeReadme says how a recording was produced.
func writeReadme(dst string, o *options, plan networkPlan, res *networkResult, st sessionStats) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: a real AvalancheGo %s node network driving xsvm\n\n", plan.Name, avalancheGoVersion)
	fmt.Fprintf(&b, "Recorded %s by `tools/recordnet` (`make record-avalanchego`):\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "```\ncd tools/recordnet && go run . --vmtestbed ../../bin/vmtestbed --out ../../fakes/avalanchego/testdata/recordings/avalanchego-%s --nodes %d --transfers %d\n```\n\n",
		avalancheGoVersion, plan.Nodes, plan.Transfers)
	fmt.Fprintf(&b, "- node: `%s@%s`, plugin: `%s@%s` (rpcchainvm protocol 45), built with %s %s/%s\n",
		nodePackage, avalancheGoVersion, xsvmPackage, avalancheGoVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "- network: AvalancheGo's `tests/fixture/tmpnet`, %d node(s) on 127.0.0.1, one xsvm subnet validated by every node, one xsvm chain\n", plan.Nodes)
	fmt.Fprintf(&b, "- workload: %d xsvm transfers issued through each node's xsvm HTTP API in turn, each awaited (nonce polled every %s) before the next; then the network is stopped (SIGTERM to every node)\n", plan.Transfers, pollInterval)
	fmt.Fprintf(&b, "- measured: network healthy %s after start, first xsvm block accepted after %s, last accepted height %d, network run %s\n",
		res.StartToHealthy.Round(100*time.Millisecond), res.StartToFirstBlk.Round(100*time.Millisecond), res.Blocks, res.Total.Round(100*time.Millisecond))
	fmt.Fprintf(&b, "- %d session files, one per plugin process the node(s) launched (including the pre-initialisation processes that only answer Version and Shutdown, and those of the first boot of the bootstrap node, before it tracked the subnet), normalised with `vmtestbed record normalize`\n", st.Sessions)
	return os.WriteFile(filepath.Join(dst, "README.md"), []byte(b.String()), 0o644)
}
