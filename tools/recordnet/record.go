package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ava-labs/avalanchego/ids"
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
	Calls    int
	Bytes    int64
	Files    []sessionInfo
}

// sessionInfo describes one session file (one plugin process).
type sessionInfo struct {
	Name  string
	Calls int
	Kind  string // "chain" (the node ran a chain in it) or "pre-init" (Version/Shutdown only)
	Node  string // node ID from the chain's Initialize request
	Exit  string // how the process ended, as the recorder saw it
}

func (s sessionStats) String() string {
	return fmt.Sprintf("%d sessions, %d calls (%d bytes)", s.Sessions, s.Calls, s.Bytes)
}

// countSessions reads the session files in dir (every regular *.jsonl file):
// one JSON object a line, calls are {"kind":"call",...}.
func countSessions(dir string) sessionStats {
	var st sessionStats
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".jsonl") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		info := sessionInfo{Name: e.Name(), Kind: "pre-init"}
		for _, line := range strings.Split(string(b), "\n") {
			var l struct {
				Kind    string `json:"kind"`
				Method  string `json:"method"`
				Exit    string `json:"exit"`
				Request struct {
					NodeID []byte `json:"node_id"` // protojson bytes: base64
				} `json:"request"`
			}
			if json.Unmarshal([]byte(line), &l) != nil {
				continue
			}
			switch l.Kind {
			case "call":
				info.Calls++
				if l.Method == "/vm.VM/Initialize" {
					info.Kind = "chain"
					if id, err := ids.ToNodeID(l.Request.NodeID); err == nil {
						info.Node = id.String()
					}
				}
			case "end":
				info.Exit = l.Exit
			}
		}
		st.Sessions++
		st.Calls += info.Calls
		st.Bytes += int64(len(b))
		st.Files = append(st.Files, info)
	}
	return st
}

// writeReadme says how a recording was produced.
func writeReadme(dst string, o *options, plan networkPlan, res *networkResult, st sessionStats) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: a real AvalancheGo %s node network driving xsvm\n\n", plan.Name, avalancheGoVersion)
	var counts []string
	for _, n := range o.Nodes {
		counts = append(counts, strconv.Itoa(n))
	}
	fmt.Fprintf(&b, "Recorded %s with `make record-avalanchego`, which runs (the %d-node network of):\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), plan.Nodes)
	fmt.Fprintf(&b, "```\ncd tools/recordnet && go run . --vmtestbed ../../bin/vmtestbed --out ../../fakes/avalanchego/testdata/recordings/avalanchego-%s --nodes %s --transfers %d --settle %s\n```\n\n",
		avalancheGoVersion, strings.Join(counts, ","), plan.Transfers, plan.Settle)
	fmt.Fprintf(&b, "- node: `%s@%s`, plugin: `%s@%s` (rpcchainvm protocol 45), built with %s %s/%s\n",
		nodePackage, avalancheGoVersion, xsvmPackage, avalancheGoVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "- network: AvalancheGo's `tests/fixture/tmpnet`, %d node(s) on 127.0.0.1, one xsvm subnet validated by every node, one xsvm chain\n", plan.Nodes)
	fmt.Fprintf(&b, "- workload: %d xsvm transfers issued through each node's xsvm HTTP API in turn, each awaited (nonce polled from %s, backing off to %s) before the next, until every node has accepted all; %s idle; then the network is stopped (SIGTERM to every node)\n", plan.Transfers, pollFirst, pollMax, plan.Settle)
	fmt.Fprintf(&b, "- measured: network healthy %s after start, first xsvm block accepted after %s, last accepted height %d, network run %s\n",
		res.StartToHealthy.Round(100*time.Millisecond), res.StartToFirstBlk.Round(100*time.Millisecond), res.Blocks, res.Total.Round(100*time.Millisecond))
	fmt.Fprintf(&b, "- %d session files, %d calls: one file per plugin process the node(s) launched, normalised with `vmtestbed record normalize` (format: docs/RECORDING.md). A node first starts every plugin once to ask its Version (\"pre-init\": Version, Shutdown). tmpnet boots the first node, creates the subnet and chain through it (the node already runs the chain then), restarts it, and only then starts the other node(s): so the first chain session of the first node is short, and ends at that restart.\n\n", st.Sessions, st.Calls)
	b.WriteString("| session | kind | node | calls | end |\n|---|---|---|---|---|\n")
	for _, f := range st.Files {
		node := f.Node
		if node == "" {
			node = "-"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %s |\n", f.Name, f.Kind, node, f.Calls, f.Exit)
	}
	return os.WriteFile(filepath.Join(dst, "README.md"), []byte(b.String()), 0o644)
}
