// Command recordnet runs a real AvalancheGo v1.14.2 node (1 node, then 2)
// with an xsvm subnet through AvalancheGo's own tmpnet fixture, issues a few
// xsvm transfers, and stops the network. With vmtestbed's recorder as the
// plugin, every plugin process the real nodes launch is recorded; the
// normalised sessions keep the fake node (fakes/avalanchego) honest.
//
//	cd tools/recordnet && go run . --vmtestbed ../../bin/vmtestbed --out ../../fakes/avalanchego/testdata/recordings/avalanchego-v1.14.2
//
// It is a module of its own so that the main module keeps its AvalancheGo
// version (this one pins v1.14.2, the release the recordings come from).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ava-labs/avalanchego/utils/logging"
)

type options struct {
	CacheDir      string
	WorkDir       string
	Keep          bool
	Nodes         []int
	Transfers     int
	Timeout       time.Duration
	Settle        time.Duration
	PluginWrapper string
	VMTestbed     string
	Out           string
	BuildOnly     bool
	Verbose       bool
}

func main() {
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "recordnet:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "recordnet: FAILED:", err)
		stop()
		os.Exit(1)
	}
}

func parseFlags(args []string) (*options, error) {
	home, _ := os.UserHomeDir()
	o := &options{}
	fs := flag.NewFlagSet("recordnet", flag.ContinueOnError)
	fs.StringVar(&o.CacheDir, "cache-dir", filepath.Join(home, ".cache", "vmtestbed", "recordnet"), "where the built avalanchego and xsvm binaries are kept (reused when present)")
	fs.StringVar(&o.WorkDir, "work-dir", "", "where networks, node logs and raw sessions go (default: CACHE-DIR/runs/TIMESTAMP)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the work dir after a successful run (it is always kept after a failure)")
	nodes := fs.String("nodes", "1,2", "comma-separated node counts: one network per entry, run in order")
	fs.IntVar(&o.Transfers, "transfers", 2, "xsvm transfers issued through each node")
	fs.DurationVar(&o.Timeout, "timeout", 6*time.Minute, "limit for one network, start to stop")
	fs.DurationVar(&o.Settle, "settle", 2*time.Second, "idle time after the last transfer is accepted everywhere, before the network is stopped")
	fs.StringVar(&o.PluginWrapper, "plugin-wrapper", "", "an executable the nodes run instead of xsvm (e.g. DIR/plugin written by `vmtestbed record`); default: plain xsvm")
	fs.StringVar(&o.VMTestbed, "vmtestbed", "", "vmtestbed binary: wrap xsvm with `vmtestbed record` for each network and normalise the sessions")
	fs.StringVar(&o.Out, "out", "", "with --vmtestbed: write normalised sessions to OUT/xsvm-Nnode/ (with a README.md)")
	fs.BoolVar(&o.BuildOnly, "build-only", false, "only build (or find) the binaries")
	fs.BoolVar(&o.Verbose, "v", false, "show tmpnet's debug log")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, f := range strings.Split(*nodes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 5 {
			return nil, fmt.Errorf("--nodes: %q is not a node count (1-5)", f)
		}
		o.Nodes = append(o.Nodes, n)
	}
	if o.Transfers < 1 {
		return nil, errors.New("--transfers must be at least 1 (xsvm rejects empty blocks: no transfer, no block)")
	}
	if o.PluginWrapper != "" && o.VMTestbed != "" {
		return nil, errors.New("--plugin-wrapper and --vmtestbed exclude each other")
	}
	if o.Out != "" && o.VMTestbed == "" {
		return nil, errors.New("--out needs --vmtestbed (the recorder that writes and normalises sessions)")
	}
	if o.PluginWrapper != "" && len(o.Nodes) > 1 {
		return nil, errors.New("--plugin-wrapper records into one dir: give a single --nodes count")
	}
	for _, p := range []*string{&o.PluginWrapper, &o.VMTestbed, &o.Out, &o.WorkDir, &o.CacheDir} {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return nil, err
			}
			*p = abs
		}
	}
	return o, nil
}

func run(ctx context.Context, o *options) error {
	out := os.Stdout
	t0 := time.Now()
	bins, err := buildBinaries(ctx, o.CacheDir, out)
	if err != nil {
		return err
	}
	if o.BuildOnly {
		return nil
	}
	if o.WorkDir == "" {
		o.WorkDir = filepath.Join(o.CacheDir, "runs", time.Now().UTC().Format("20060102-150405"))
	}
	if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
		return err
	}
	level := logging.Info
	if o.Verbose {
		level = logging.Debug
	}
	log := newLogger(out, level)

	var summaries []string
	var failed error
	for _, n := range o.Nodes {
		name := fmt.Sprintf("xsvm-%dnode", n)
		plan := networkPlan{
			Name:      name,
			Nodes:     n,
			Transfers: o.Transfers,
			Plugin:    bins.XSVM,
			WorkDir:   filepath.Join(o.WorkDir, name),
			Timeout:   o.Timeout,
			Settle:    o.Settle,
		}
		var rec *recorder
		switch {
		case o.PluginWrapper != "":
			plan.Plugin = o.PluginWrapper
		case o.VMTestbed != "":
			rec = &recorder{VMTestbed: o.VMTestbed, RawDir: filepath.Join(plan.WorkDir, "raw"), Out: out}
			plan.Plugin, failed = rec.wrap(ctx, bins.XSVM)
		}
		if failed != nil {
			break
		}
		res, err := runNetwork(ctx, bins, plan, log, out)
		line := name + ":"
		if res.StartToHealthy > 0 {
			line += fmt.Sprintf(" healthy after %s,", res.StartToHealthy.Round(time.Millisecond))
		}
		if res.StartToFirstBlk > 0 {
			line += fmt.Sprintf(" first xsvm block accepted %s after start, %d blocks,", res.StartToFirstBlk.Round(time.Millisecond), res.Blocks)
		}
		line += fmt.Sprintf(" total %s", res.Total.Round(time.Millisecond))
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("interrupted: %w", err)
			}
			failed = fmt.Errorf("%s: %w", name, err)
			summaries = append(summaries, line+" FAILED")
			break
		}
		rawDir := filepath.Dir(plan.Plugin)
		if rec != nil {
			rawDir = rec.RawDir
		}
		if o.PluginWrapper != "" || rec != nil {
			st := countSessions(rawDir)
			line += fmt.Sprintf(", %s in %s", st, rawDir)
		}
		if rec != nil && o.Out != "" {
			dst := filepath.Join(o.Out, name)
			st, err := rec.normalize(ctx, dst)
			if err != nil {
				failed = err
				break
			}
			if err := writeReadme(dst, o, plan, res, st); err != nil {
				failed = err
				break
			}
			line += fmt.Sprintf("; normalised into %s", dst)
		}
		summaries = append(summaries, line)
	}

	fmt.Fprintln(out, "recordnet: summary")
	if bins.BuildTime > 0 {
		fmt.Fprintf(out, "  build: %s\n", bins.BuildTime.Round(time.Second))
	}
	for _, s := range summaries {
		fmt.Fprintln(out, "  "+s)
	}
	fmt.Fprintf(out, "  total run time: %s (go %s)\n", time.Since(t0).Round(time.Second), runtime.Version())
	if failed != nil {
		fmt.Fprintf(out, "  work dir kept for inspection (node logs under networks/*/NodeID-*/logs): %s\n", o.WorkDir)
		return failed
	}
	if o.Keep || (o.PluginWrapper != "" && strings.HasPrefix(o.PluginWrapper, o.WorkDir)) {
		fmt.Fprintf(out, "  work dir kept: %s\n", o.WorkDir)
		return nil
	}
	if err := os.RemoveAll(o.WorkDir); err != nil {
		return fmt.Errorf("remove work dir: %w", err)
	}
	return nil
}
