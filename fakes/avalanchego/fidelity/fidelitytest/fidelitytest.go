// Package fidelitytest runs the fidelity rules in tests: it loads the
// embedded rules and the committed real recordings, drives a plugin through
// the fake node behind the recorder (pre-init, then a chain with a few
// blocks, then stop) and checks the rules on what was recorded, failing on
// any difference the fidelity ledger does not list.
package fidelitytest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ava-labs/avalanchego/ids"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/fidelity"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recorder"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recording"
	"github.com/vmtestbed/vmtestbed/internal/buildbin"
	"github.com/vmtestbed/vmtestbed/transport"
)

// RealDir is where the real recordings live, relative to the module root:
// one directory per network.
const RealDir = "fakes/avalanchego/testdata/recordings/avalanchego-v1.14.2"

// OutEnv names a directory to write the fake's normalised sessions to
// (one file each, named after the session), for a look at what the fake did.
const OutEnv = "VMTESTBED_FIDELITY_OUT"

// LedgerFile is the fidelity ledger, relative to the module root.
const LedgerFile = "docs/FIDELITY.md"

// Rules parses the embedded rules.
func Rules(t testing.TB) []fidelity.Rule {
	t.Helper()
	rules, err := fidelity.ParseString(fidelity.RulesFile, fidelity.Rules)
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

func moduleRoot(t testing.TB) string {
	t.Helper()
	root, err := buildbin.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// RealSessions reads every committed real session (every network
// directory under RealDir). The test is skipped, with the reason, when the
// recordings are absent.
func RealSessions(t testing.TB) []*recording.Session {
	t.Helper()
	dir := filepath.Join(moduleRoot(t), RealDir)
	nets, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("no real recordings at %s (made by make record-avalanchego): nothing to hold the rules against", RealDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []*recording.Session
	for _, n := range nets {
		if !n.IsDir() {
			continue
		}
		ss, err := recording.ReadDir(filepath.Join(dir, n.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			s.Name = n.Name() + "/" + s.Name
		}
		out = append(out, ss...)
	}
	if len(out) == 0 {
		t.Skipf("no real sessions under %s", RealDir)
	}
	return out
}

var ledgerID = regexp.MustCompile(`^\|\s*([A-Z]+-[0-9]+)\s*\|`)

// LedgerIDs are the ids of the fidelity ledger's rows.
func LedgerIDs(t testing.TB) map[string]bool {
	t.Helper()
	f, err := os.Open(filepath.Join(moduleRoot(t), LedgerFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := ledgerID.FindStringSubmatch(sc.Text()); m != nil {
			out[m[1]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Outcome is what CheckFake found.
type Outcome struct {
	Failed []error // rules broken with no ledger entry: new differences
	Known  []error // rules broken as the ledger says
	// Witnessed counts, per rule (by index), the sessions that gave it
	// something to check; Broken, the sessions that broke it.
	Witnessed, Broken map[int]int
}

// Evaluate checks rules on sessions and sorts the broken ones into new and
// known differences.
func Evaluate(rules []fidelity.Rule, sessions []*recording.Session) Outcome {
	o := Outcome{Witnessed: map[int]int{}, Broken: map[int]int{}}
	for _, s := range sessions {
		for i, r := range fidelity.Check(rules, s) {
			if r.Witnessed {
				o.Witnessed[i]++
			}
			if r.Err != nil {
				o.Broken[i]++
			}
			switch {
			case r.Err == nil:
			case r.Rule.KnownDifference != "":
				o.Known = append(o.Known, fmt.Errorf("known difference %s: %w", r.Rule.KnownDifference, r.Err))
			default:
				o.Failed = append(o.Failed, r.Err)
			}
		}
	}
	return o
}

// CheckFake fails t for every rule the fake's sessions break that the
// ledger does not list, logs the known differences, and checks that every
// known-difference id is a row of the ledger.
func CheckFake(t testing.TB, sessions []*recording.Session) {
	t.Helper()
	rules := Rules(t)
	ids := LedgerIDs(t)
	for _, r := range rules {
		if r.KnownDifference != "" && !ids[r.KnownDifference] {
			t.Errorf("%s: known-difference %s is no row of %s", &r, r.KnownDifference, LedgerFile)
		}
	}
	if dir := os.Getenv(OutEnv); dir != "" {
		writeSessions(t, dir, sessions)
	}
	o := Evaluate(rules, sessions)
	var unwitnessed []string
	for i := range rules {
		if o.Witnessed[i] == 0 {
			unwitnessed = append(unwitnessed, fmt.Sprintf("%s:%d", rules[i].File, rules[i].Line))
		}
	}
	t.Logf("%d rules on %d fake sessions: %d new differences, %d known; %d rules had nothing to check here %v",
		len(rules), len(sessions), len(o.Failed), len(o.Known), len(unwitnessed), unwitnessed)
	for _, err := range o.Known {
		t.Log(err)
	}
	for _, err := range o.Failed {
		t.Errorf("new difference from the real node (fix the fake, or list it in %s and mark the rule known-difference): %v", LedgerFile, err)
	}
	for i, r := range rules {
		if r.KnownDifference != "" && o.Witnessed[i] > 0 && o.Broken[i] == 0 {
			t.Errorf("%s:%d: the fake no longer differs (%s holds on every session): drop the known-difference marking and move ledger row %s to the fixed ones", r.File, r.Line, &r, r.KnownDifference)
		}
	}
}

// Run describes a run of the fake node through the recorder.
type Run struct {
	Plugin string                   // the plugin binary
	Launch avalanchego.LaunchConfig // Protocol 0 = the plugin must speak the newest
	Node   avalanchego.NodeConfig   // Transport and Seed are defaulted
	Peers  int                      // connected peers besides the node itself
	Blocks int                      // blocks to build and accept
	// Issue makes the VM want block i (0-based): a transaction through
	// the chain's HTTP handlers, whose clients Handler gives.
	Issue func(ctx context.Context, c *Chain, i int) error
	// Misbehave, when set, runs once after the blocks, before the stop:
	// tests use it to make the fake break a rule.
	Misbehave func(ctx context.Context, c *Chain) error
}

// Chain is a started chain, for Issue and Misbehave.
type Chain struct {
	Node   *avalanchego.Node
	Plugin *avalanchego.Plugin
	Start  *avalanchego.StartResult
}

// Handler is an HTTP client for the handler with the given prefix.
func (c *Chain) Handler(prefix string) (*avalanchego.HTTPClient, error) {
	for _, h := range c.Start.Handlers {
		if h.GetPrefix() == prefix {
			return c.Node.HandlerHTTP(c.Plugin, h)
		}
	}
	return nil, fmt.Errorf("no handler with prefix %q among %d", prefix, len(c.Start.Handlers))
}

// healthPeriod is the fake's health-check period in these runs: short, so
// a run of a few blocks sees the repeated Health calls a real node makes
// every health-check period.
const healthPeriod = 20 * time.Millisecond

// Record drives run.Plugin through the fake node behind the recorder, as
// AvalancheGo does with a plugin it runs one chain of: a pre-init process
// (Version, Shutdown), then a chain process (start with run.Peers peers
// connected, run.Blocks blocks, at least two health checks, stop). It
// returns the two sessions, normalised, named "fake/<n>-<kind>".
func Record(t testing.TB, run Run) []*recording.Session {
	t.Helper()
	dir := t.TempDir()
	self, err := buildbin.Build("./cmd/vmtestbed", "")
	if err != nil {
		t.Fatal(err)
	}
	wrapper, err := recorder.WriteWrapper(dir, self, run.Plugin)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if run.Launch.GracefulTimeout == 0 {
		run.Launch.GracefulTimeout = 3 * time.Second
	}
	pre, err := avalanchego.LaunchProcess(ctx, wrapper, run.Launch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := avalanchego.PreInit(ctx, pre); err != nil {
		t.Fatalf("pre-init: %v\n%s", err, pre.StderrTail())
	}
	if err := drive(ctx, wrapper, run); err != nil {
		t.Fatal(err)
	}
	paths, err := recording.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 2 {
		t.Fatalf("%d sessions recorded, want 2 (pre-init, chain): %v", len(paths), paths)
	}
	var out []*recording.Session
	for i, p := range paths {
		s, err := recording.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		n := recording.Normalize(s)
		kind := "pre-init"
		if n.IsChain() {
			kind = "chain"
		}
		n.Name = fmt.Sprintf("fake/%d-%s", i+1, kind)
		out = append(out, n)
	}
	return out
}

func drive(ctx context.Context, wrapper string, run Run) (err error) {
	cfg := run.Node
	if cfg.Transport == nil {
		cfg.Transport = transport.TCP{}
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	node, err := avalanchego.NewNode(ctx, cfg)
	if err != nil {
		return err
	}
	defer node.Close()
	p, err := avalanchego.LaunchProcess(ctx, wrapper, run.Launch)
	if err != nil {
		return err
	}
	seq := &avalanchego.Sequencer{Node: node, Plugin: p, HealthPeriod: healthPeriod}
	for i := range run.Peers {
		seq.Peers = append(seq.Peers, ids.BuildTestNodeID([]byte(fmt.Sprintf("vmtestbed-fidelity-peer-%d", i))))
	}
	defer func() {
		if stopErr := seq.Stop(ctx); err == nil && stopErr != nil {
			err = fmt.Errorf("stop: %w\n%s", stopErr, p.StderrTail())
		}
	}()
	start, err := seq.Start(ctx)
	if err != nil {
		return fmt.Errorf("start: %w\n%s", err, p.StderrTail())
	}
	c := &Chain{Node: node, Plugin: p, Start: start}
	for i := range run.Blocks {
		if err := run.Issue(ctx, c, i); err != nil {
			return fmt.Errorf("issue for block %d: %w", i+1, err)
		}
		if _, err := seq.BuildAndAccept(ctx); err != nil {
			return fmt.Errorf("block %d: %w\n%s", i+1, err, p.StderrTail())
		}
	}
	if run.Misbehave != nil {
		if err := run.Misbehave(ctx, c); err != nil {
			return fmt.Errorf("misbehave: %w", err)
		}
	}
	return awaitHealthChecks(ctx, seq, 2)
}

// awaitHealthChecks waits until the sequencer's Health loop has run n
// times (it ticks every healthPeriod), checking once a period.
func awaitHealthChecks(ctx context.Context, seq *avalanchego.Sequencer, n int) error {
	tick := time.NewTicker(healthPeriod)
	defer tick.Stop()
	for {
		if got, _, _ := seq.HealthChecks(); got >= n {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			got, _, herr := seq.HealthChecks()
			return fmt.Errorf("waiting for %d health checks (%d so far, last error %v): %w", n, got, herr, ctx.Err())
		}
	}
}

func writeSessions(t testing.TB, dir string, sessions []*recording.Session) {
	t.Helper()
	for _, s := range sessions {
		path := filepath.Join(dir, strings.ReplaceAll(s.Name, "/", "-")+recording.FileSuffix)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Encode(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
	}
}
