package harness

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	fakehv "github.com/vmtestbed/vmtestbed/fakes/hypervisor"
	"github.com/vmtestbed/vmtestbed/sim"
)

// RunOptions tune one scenario run.
type RunOptions struct {
	Seed int64
	// Progress gets a line per step as the run goes; nil discards.
	Progress io.Writer
	// Log gets the plugins' own output; nil discards.
	Log io.Writer
	// Machines, for a scenario with a hypervisor topology, runs its
	// instances (default the fake's simulated machines), and AgentWait is
	// ClusterConfig.AgentWait: set both for real guests (realhv).
	Machines  fakehv.Machines
	AgentWait time.Duration
	// Nondeterministic, when set, says why the same seed may not give the
	// same trace (real guests boot in wall time); the report shows it.
	Nondeterministic string
}

// NodeResult is one node at the end of a run.
type NodeResult struct {
	Name, Alias, Plugin string
	State               string // down, bootstrapping, normal
	Height              uint64
	LastAccepted        string // short block id
}

// Result is what a scenario run observed. Failure is set when an
// expectation failed or an invariant was violated (Violation then says
// which): the run is then replayable with the same seed.
type Result struct {
	Scenario  *Scenario
	Seed      int64
	Events    []sim.Event
	Nodes     []NodeResult
	StepsRun  int
	Checked   int           // expectations that held
	Virtual   time.Duration // virtual time from the first event to the last step
	Wall      time.Duration
	Failure   error
	Violation *sim.Violation
	// Nondeterministic is RunOptions.Nondeterministic: why this run is not
	// replayable byte for byte ("" when it is).
	Nondeterministic string
}

// Passed reports whether every step ran and every expectation held.
func (r *Result) Passed() bool { return r.Failure == nil }

// StepError is a step (or an end-of-run expectation) that failed.
type StepError struct {
	File string
	Line int
	Step string // "step 3 (build n1)" or "expect (height 3)"
	Err  error
}

func (e *StepError) Error() string {
	file := e.File
	if file == "" {
		file = "scenario"
	}
	return fmt.Sprintf("%s:%d: %s: %v", file, e.Line, e.Step, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// RunScenario plays sc on a Network with the given seed. The error is for a
// scenario that cannot run at all (a plugin kind the network does not
// support); what goes wrong while it runs is Result.Failure.
func RunScenario(ctx context.Context, sc *Scenario, opts RunOptions) (*Result, error) {
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	cfg, err := networkConfig(sc, opts)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	res := &Result{Scenario: sc, Seed: opts.Seed, Nondeterministic: opts.Nondeterministic}
	if cfg.Plugin != "" && res.Nondeterministic == "" {
		res.Nondeterministic = fmt.Sprintf("every node ran the plugin %s in its own process, whose timing is outside the seeded world, so the same seed may give another trace", cfg.Plugin)
	}
	if sc.Description != "" {
		fmt.Fprintf(progress, "scenario %s, seed %d: %s\n", sc.Name, opts.Seed, sc.Description)
	} else {
		fmt.Fprintf(progress, "scenario %s, seed %d\n", sc.Name, opts.Seed)
	}
	snow := cfg.Snow.withDefaults(cfg.Nodes)
	fmt.Fprintf(progress, "  %d nodes (%s), links %s, decider k=%d alpha=%d beta=%d\n", len(sc.Topology.Nodes),
		pluginSummary(sc.Topology), cfg.Link, snow.K, snow.Alpha, snow.Beta)
	var (
		n       *Network
		cluster *Cluster
		closeFn func() error
	)
	if h := sc.Topology.Hypervisor; h != nil {
		fmt.Fprintf(progress, "  validators in instances of a %d-host hypervisor cluster\n", h.Hosts)
		cluster, err = NewCluster(ctx, ClusterConfig{Network: cfg, Hosts: h.Hosts,
			HeartbeatInterval: h.HeartbeatInterval, LeaseTTL: h.LeaseTTL, NodeGracePeriod: h.NodeGracePeriod,
			Machines: opts.Machines, AgentWait: opts.AgentWait})
		if err == nil {
			n, closeFn = cluster.Network, cluster.Close
		}
	} else if n, err = NewNetwork(ctx, cfg); err == nil {
		closeFn = n.Close
	}
	if err != nil {
		res.Failure = fmt.Errorf("start %d nodes: %w", cfg.Nodes, err)
		res.Violation = violationOf(err)
		res.Wall = time.Since(start)
		return res, nil
	}
	r := &scenarioRun{sc: sc, n: n, cluster: cluster, hostOf: map[string]string{}, res: res, progress: progress, labels: map[string]blockLabel{}}
	defer func() {
		res.Events = n.Trace().Events()
		res.Nodes = r.nodes()
		res.Virtual = n.World.Elapsed()
		if cerr := closeFn(); cerr != nil && res.Failure == nil {
			res.Failure = fmt.Errorf("close the network: %w", cerr)
		}
		res.Wall = time.Since(start)
	}()
	for name, on := range sc.Invariants {
		n.World.Invariants().Enable(name, on)
	}
	r.base = n.World.Elapsed()
	r.lastHeights = n.Heights()
	fmt.Fprintf(progress, "  [%s] started: %s\n", r.clock(), r.lastHeights)
	for i, st := range sc.Steps {
		if err := ctx.Err(); err != nil {
			res.Failure = fmt.Errorf("stopped before step %d: %w", i+1, err)
			return res, nil
		}
		if st.HasAt {
			if now := n.World.Elapsed() - r.base; st.At < now {
				r.fail(st, i, fmt.Errorf("the step is due at %s, but the steps before it ran to %s", st.At, now))
				return res, nil
			}
			if err := n.World.RunUntil(r.base + st.At); err != nil {
				r.fail(st, i, err)
				return res, nil
			}
		}
		fmt.Fprintf(progress, "  [%s] step %d: %s\n", r.clock(), i+1, st)
		n.Trace().Add(sim.Event{Kind: sim.KindNote, Name: "step", Detail: fmt.Sprintf("%d %s", i+1, st)})
		err := r.step(i, st)
		if err == nil {
			err = n.World.Err() // a step that stopped the world failed
		}
		if err != nil {
			r.fail(st, i, err)
			return res, nil
		}
		res.StepsRun++
		if st.Kind == StepRunFor || st.Kind == StepRunUntilHeight {
			r.showHeights()
		}
	}
	for _, e := range sc.Expect {
		if err := r.check(e); err != nil {
			res.Failure = &StepError{File: sc.File, Line: e.Line, Step: "expect " + e.String(), Err: err}
			fmt.Fprintf(progress, "  [%s] FAILED %v\n", r.clock(), res.Failure)
			return res, nil
		}
		res.Checked++
		fmt.Fprintf(progress, "  [%s] expect %s: ok\n", r.clock(), e)
	}
	return res, nil
}

func violationOf(err error) *sim.Violation {
	var v *sim.Violation
	if errors.As(err, &v) {
		return v
	}
	return nil
}

func pluginSummary(t Topology) string {
	seen := map[string]int{}
	var order []string
	for i := range t.Nodes {
		p := t.PluginOf(i).String()
		if seen[p] == 0 {
			order = append(order, p)
		}
		seen[p]++
	}
	if len(order) == 1 {
		return order[0]
	}
	var parts []string
	for _, p := range order {
		parts = append(parts, fmt.Sprintf("%d x %s", seen[p], p))
	}
	return strings.Join(parts, ", ")
}

// networkConfig turns the topology into a NetworkConfig.
func networkConfig(sc *Scenario, opts RunOptions) (NetworkConfig, error) {
	t := sc.Topology
	cfg := NetworkConfig{Seed: opts.Seed, Nodes: len(t.Nodes), Snow: t.Decider, Link: t.Link,
		AppRequestTimeout: t.AppRequestTimeout, QueryTimeout: t.QueryTimeout, LivenessWindow: t.LivenessWindow,
		MaxAncestors: t.MaxAncestors, Links: t.Links, Log: opts.Log}
	for i := range t.Nodes {
		p := t.PluginOf(i)
		switch {
		case p.Path != "" && t.Workload != "":
			return cfg, fmt.Errorf("node %s: plugin binary %s with workload %s: scenario steps issue transactions through the reference VM's API; a workload-driven plugin runs in `vmtestbed conform avalanche --nodes N`", t.Nodes[i].Name, p.Path, t.Workload)
		case p.Path != "" && cfg.Plugin != "" && p.Path != cfg.Plugin:
			return cfg, fmt.Errorf("node %s: plugin binary %s: every node of a network runs the same binary (the others run %s)", t.Nodes[i].Name, p.Path, cfg.Plugin)
		case p.Path != "" && i > 0 && cfg.Plugin == "":
			return cfg, fmt.Errorf("node %s: plugin binary %s: every node of a network runs the same plugin (earlier nodes run the in-process refvm)", t.Nodes[i].Name, p.Path)
		case p.Path == "" && cfg.Plugin != "":
			return cfg, fmt.Errorf("node %s: the in-process refvm: every node of a network runs the same plugin (earlier nodes run %s)", t.Nodes[i].Name, cfg.Plugin)
		case p.Path != "":
			cfg.Plugin = p.Path // a binary serving the reference VM's API, in its own process
		}
		cfg.Variants = append(cfg.Variants, p.Variant)
	}
	return cfg, nil
}

type blockLabel struct {
	node  string
	after int // how many blocks node had built when the build step ran
	line  int
}

type scenarioRun struct {
	sc       *Scenario
	n        *Network
	cluster  *Cluster          // the hypervisor cluster under the validators, or nil
	hostOf   map[string]string // the host a validator was on when a host_failure of it ran
	res      *Result
	progress io.Writer
	base     time.Duration
	labels   map[string]blockLabel
	// lastHeights is the heights line printed last
	lastHeights string
	issued      []string // keys of the transactions issued so far (value "v-" + key)
}

func (r *scenarioRun) clock() string {
	return fmt.Sprintf("%8.3fs", (r.n.World.Elapsed() - r.base).Seconds())
}

func (r *scenarioRun) fail(st Step, i int, err error) {
	r.res.Violation = violationOf(err)
	r.res.Failure = &StepError{File: r.sc.File, Line: st.Line, Step: fmt.Sprintf("step %d (%s)", i+1, st), Err: err}
	fmt.Fprintf(r.progress, "  [%s] FAILED %v\n", r.clock(), r.res.Failure)
}

func (r *scenarioRun) nodes() []NodeResult {
	var out []NodeResult
	for i, s := range r.n.Nodes() {
		nr := NodeResult{Name: s.Name, Plugin: r.sc.Topology.PluginOf(i).String(), State: s.State()}
		if i < len(r.sc.Topology.Nodes) {
			nr.Alias = r.sc.Topology.Nodes[i].Alias
		}
		if s.Up() {
			la := s.LastAccepted()
			nr.Height, nr.LastAccepted = la.Height, shortID(la.ID)
		}
		out = append(out, nr)
	}
	return out
}

// step runs one step. A step that stops the world need not say so: the
// caller checks the world after every step.
func (r *scenarioRun) step(i int, st Step) error {
	n := r.n
	f := n.World.Faults()
	fire := func(kind, arg string) error {
		for _, node := range st.Nodes {
			if err := f.Fire(kind, node, arg); err != nil {
				return err
			}
		}
		return nil
	}
	switch st.Kind {
	case StepIssue:
		for _, node := range st.Nodes {
			for k := range st.Txs {
				key := fmt.Sprintf("s%d-%s-%d", i+1, node, k)
				if err := n.Issue(node, key, "v-"+key); err != nil {
					return err
				}
				r.issued = append(r.issued, key)
			}
		}
		return nil
	case StepBuild:
		for _, node := range st.Nodes {
			if err := n.Build(node); err != nil {
				return err
			}
		}
		if st.As != "" {
			r.labels[st.As] = blockLabel{node: st.Nodes[0], after: len(n.Node(st.Nodes[0]).built), line: st.Line}
		}
		return nil
	case StepPartition:
		n.Partition(st.Groups...)
		return nil
	case StepHeal:
		n.Heal()
		return nil
	case StepCrash:
		return fire(sim.FaultCrash, "")
	case StepHostFailure:
		host := st.Host
		if host == "" {
			node := st.Nodes[0]
			if host = r.cluster.Placement()[node]; host == "" {
				return fmt.Errorf("%s's instance is not running on any host", node)
			}
			r.hostOf[node] = host
		}
		return r.cluster.FailHost(host)
	case StepNodeCommand:
		return r.cluster.Command(st.Host, st.Cmd)
	case StepAgentFault:
		return r.cluster.AgentFault(st.Nodes[0], st.Fault)
	case StepAgentExec:
		// An agent that fails is the orchestrator's to recover (it restarts
		// the instance); the step fails only if that recovery fails.
		if _, err := r.cluster.Exec(st.Nodes[0], st.Cmd, st.Args...); err != nil && n.World.Err() == nil {
			if v, _ := r.cluster.validator(st.Nodes[0]); v == nil || !v.running {
				return err
			}
		}
		return nil
	case StepHostRecover:
		host := st.Host
		if host == "" {
			if host = r.hostOf[st.Nodes[0]]; host == "" {
				return fmt.Errorf("no host_failure of %s ran before", st.Nodes[0])
			}
		}
		return r.cluster.RecoverHost(host)
	case StepRestart:
		return fire(sim.FaultRestart, "")
	case StepStall:
		return fire(sim.FaultStall, "")
	case StepResume:
		return fire(sim.FaultResume, "")
	case StepSlow:
		return fire(sim.FaultSlow, durArg(st.Dur))
	case StepDrop:
		arg := ""
		if st.Count >= 0 {
			arg = strconv.Itoa(st.Count)
		}
		return f.Fire(sim.FaultDrop, st.From+"->"+st.To, arg)
	case StepDelay:
		return f.Fire(sim.FaultDelay, st.From+"->"+st.To, durArg(st.Dur))
	case StepChance:
		arg := durArg(st.Dur)
		if st.Fault == sim.FaultDrop {
			target := ""
			if st.From != "" || st.To != "" {
				if st.From == "" || st.To == "" {
					r.chanceDropPairs(st)
					return nil
				}
				target = st.From + "->" + st.To
			}
			f.Chance(st.Fault, target, st.P, arg)
			return nil
		}
		if st.Nodes == nil {
			f.Chance(st.Fault, "", st.P, arg)
		}
		for _, node := range st.Nodes {
			f.Chance(st.Fault, node, st.P, arg)
		}
		return nil
	case StepRunFor:
		end := n.World.Elapsed() + st.Dur
		for n.World.Elapsed() < end {
			if err := n.World.RunUntil(min(end, n.World.Elapsed()+progressEvery)); err != nil {
				return err
			}
			r.showHeights()
		}
		return nil
	case StepRunUntilHeight:
		return r.runUntilHeight(st.Height, st.Dur)
	case StepExpect:
		for _, e := range st.Expect {
			if err := r.check(e); err != nil {
				return fmt.Errorf("expect %s: %w", e, err)
			}
			r.res.Checked++
		}
		return nil
	}
	return fmt.Errorf("unknown step kind %q", st.Kind)
}

// chanceDropPairs arms a drop chance on every link from one node (or to
// one node).
func (r *scenarioRun) chanceDropPairs(st Step) {
	for _, s := range r.n.Nodes() {
		from, to := st.From, st.To
		if from == "" {
			from = s.Name
		} else {
			to = s.Name
		}
		if from != to {
			r.n.World.Faults().Chance(sim.FaultDrop, from+"->"+to, st.P, "")
		}
	}
}

// durArg is a duration as a fault argument: "" for none.
func durArg(d time.Duration) string {
	if d > 0 {
		return d.String()
	}
	return ""
}

// progressEvery is how much virtual time a run step lets pass between two
// looks at the heights (for the progress lines; the world runs the same).
const progressEvery = time.Second

// showHeights prints the heights when they changed since the last line.
func (r *scenarioRun) showHeights() {
	if h := r.n.Heights(); h != r.lastHeights {
		r.lastHeights = h
		fmt.Fprintf(r.progress, "  [%s]   %s\n", r.clock(), h)
	}
}

// runUntilHeight is Network.RunUntilHeight with a progress line whenever
// the heights change between slices of virtual time.
func (r *scenarioRun) runUntilHeight(h uint64, within time.Duration) error {
	n := r.n
	reached := func() bool { return n.atHeight(h) }
	limit := n.World.Elapsed() + within
	for !reached() {
		left := limit - n.World.Elapsed()
		if left <= 0 {
			return fmt.Errorf("run until height %d: not reached within %s (heights %s)", h, within, n.Heights())
		}
		sliceEnd := n.World.Elapsed() + min(left, progressEvery)
		_ = n.World.RunWhile(sliceEnd, func() bool { return !reached() })
		if err := n.World.Err(); err != nil {
			return fmt.Errorf("run until height %d: %w (heights %s)", h, err, n.Heights())
		}
		if reached() {
			break
		}
		if n.World.Pending() == 0 {
			return fmt.Errorf("run until height %d: nothing left to happen at %s (heights %s)", h, n.World.Elapsed()-r.base, n.Heights())
		}
		// nothing more is due in this slice: let its time pass
		if err := n.World.RunUntil(sliceEnd); err != nil {
			return fmt.Errorf("run until height %d: %w (heights %s)", h, err, n.Heights())
		}
		r.showHeights()
	}
	return nil
}

// check tests one expectation against the network now.
func (r *scenarioRun) check(e Expectation) error {
	n := r.n
	switch e.Kind {
	case ExpectHeight, ExpectHeightAtLeast:
		for name, want := range orderedNodes(e.Heights) {
			targets := []*SimNode{n.Node(name)}
			if name == "" {
				targets = running(n)
			}
			for _, s := range targets {
				if s == nil || !s.Up() {
					return fmt.Errorf("node %s is down (%s)", name, n.Heights())
				}
				got := s.LastAccepted().Height
				if (e.Kind == ExpectHeight && got != want) || got < want {
					return fmt.Errorf("%s is at height %d, want %s%d (%s)", s.Name, got, map[bool]string{true: "", false: "at least "}[e.Kind == ExpectHeight], want, n.Heights())
				}
			}
		}
	case ExpectSameLastAccepted:
		var first *SimNode
		for _, s := range running(n) {
			if first == nil {
				first = s
			} else if s.LastAccepted().ID != first.LastAccepted().ID {
				return fmt.Errorf("%s's last accepted is %s at %d, %s's is %s at %d", first.Name, shortID(first.LastAccepted().ID),
					first.LastAccepted().Height, s.Name, shortID(s.LastAccepted().ID), s.LastAccepted().Height)
			}
		}
	case ExpectAccepted:
		for _, l := range e.Labels {
			if err := r.acceptedEverywhere(l); err != nil {
				return err
			}
		}
	case ExpectRejected:
		for _, l := range e.Labels {
			if err := r.rejected(l); err != nil {
				return err
			}
		}
	case ExpectOneAccepted:
		winners := 0
		var why []string
		for _, l := range e.Labels {
			if err := r.acceptedEverywhere(l); err == nil {
				winners++
			} else {
				why = append(why, err.Error())
				if err := r.rejected(l); err != nil {
					return err
				}
			}
		}
		if winners != 1 {
			return fmt.Errorf("%d of %s accepted everywhere, want 1 (%s)", winners, strings.Join(e.Labels, ", "), strings.Join(why, "; "))
		}
	case ExpectTraceContains:
		got := 0
		for _, ev := range n.Trace().Events() {
			if e.Trace.matches(ev) {
				got++
			}
		}
		if got < e.Min || (e.Max >= 0 && got > e.Max) {
			want := fmt.Sprintf("at least %d", e.Min)
			if e.Max >= 0 {
				want = fmt.Sprintf("%d to %d", e.Min, e.Max)
			}
			return fmt.Errorf("the trace has %d matching events, want %s", got, want)
		}
	case ExpectTxsApplied:
		return r.txsApplied()
	case ExpectState:
		for name, want := range orderedNodes(e.NodeState) {
			if got := n.Node(name).State(); got != want {
				return fmt.Errorf("%s is %s, want %s", name, got, want)
			}
		}
	default:
		return fmt.Errorf("unknown expectation %q", e.Kind)
	}
	return nil
}

// txsApplied reads every issued key back through each running node's
// JSON-RPC API (refvm.get): each must be in the node's accepted state with
// its value. The reads are calls in the trace.
func (r *scenarioRun) txsApplied() error {
	for _, s := range running(r.n) {
		missing := 0
		first := ""
		for _, key := range r.issued {
			var got struct {
				Value string `json:"value"`
				Found bool   `json:"found"`
			}
			err := s.call("http.HTTP/HandleSimple", "refvm.get "+key, func(ctx context.Context) (string, error) {
				err := s.rpc.JSONRPC(ctx, "", "refvm.get", map[string]string{"key": key}, &got)
				return fmt.Sprintf("found %v", got.Found), err
			})
			if err != nil {
				return fmt.Errorf("%s: refvm.get %s: %w", s.Name, key, err)
			}
			if !got.Found || got.Value != "v-"+key {
				if missing == 0 {
					first = key
				}
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%s: %d of %d issued transactions are not in its state (first: %s) at height %d", s.Name, missing, len(r.issued), first, s.LastAccepted().Height)
		}
	}
	return nil
}

// orderedNodes iterates a node map in name order, so the first failure
// reported is the same every run.
func orderedNodes[V any](m map[string]V) func(func(string, V) bool) {
	return func(yield func(string, V) bool) {
		for _, k := range sortedNodeNames(m) {
			if !yield(k, m[k]) {
				return
			}
		}
	}
}

// sortedNodeNames is m's keys, node names in order (n2 before n10); other
// names come first, in string order.
func sortedNodeNames[V any](m map[string]V) []string {
	return slices.SortedFunc(maps.Keys(m), compareNodeNames)
}

// compareNodeNames orders n2 before n10; names that are not n<number> come
// first, in string order.
func compareNodeNames(a, b string) int {
	key := func(s string) (int, string) {
		if strings.HasPrefix(s, "n") {
			if v, err := strconv.Atoi(s[1:]); err == nil {
				return v, ""
			}
		}
		return -1, s
	}
	an, as := key(a)
	bn, bs := key(b)
	return cmp.Or(cmp.Compare(an, bn), strings.Compare(as, bs), strings.Compare(a, b))
}

func running(n *Network) []*SimNode {
	var out []*SimNode
	for _, s := range n.Nodes() {
		if s.Up() {
			out = append(out, s)
		}
	}
	return out
}

func (m TraceMatch) matches(ev sim.Event) bool {
	return (m.Node == "" || ev.Node == m.Node) && (m.Kind == "" || ev.Kind == m.Kind) &&
		(m.Name == "" || ev.Name == m.Name) && (m.From == "" || ev.From == m.From) &&
		(m.To == "" || ev.To == m.To) && (m.Detail == "" || strings.Contains(ev.Detail, m.Detail))
}

// block finds the block a labelled build step made: the first BuildBlock
// that succeeded on its node after the step ran.
// block is the first block the labelled build step's node built after it.
func (r *scenarioRun) block(label string) (avalanchego.BlockInfo, error) {
	l, ok := r.labels[label]
	if !ok {
		return avalanchego.BlockInfo{}, fmt.Errorf("block %s: its build step has not run", label)
	}
	if built := r.n.Node(l.node).built; len(built) > l.after {
		return built[l.after], nil
	}
	return avalanchego.BlockInfo{}, fmt.Errorf("block %s: %s built no block after the step of line %d", label, l.node, l.line)
}

func (r *scenarioRun) acceptedEverywhere(label string) error {
	blk, err := r.block(label)
	if err != nil {
		return err
	}
	id, h := shortID(blk.ID), blk.Height
	for _, s := range running(r.n) {
		b, ok := s.AcceptedAt(h)
		if !ok {
			return fmt.Errorf("block %s (%s at %d): %s has not decided height %d (it is at %d)", label, id, h, s.Name, h, s.LastAccepted().Height)
		}
		if b.ID != blk.ID {
			return fmt.Errorf("block %s (%s at %d): %s accepted %s there", label, id, h, s.Name, shortID(b.ID))
		}
	}
	return nil
}

func (r *scenarioRun) rejected(label string) error {
	blk, err := r.block(label)
	if err != nil {
		return err
	}
	id, h := shortID(blk.ID), blk.Height
	for _, s := range running(r.n) {
		if b, ok := s.AcceptedAt(h); ok && b.ID == blk.ID {
			return fmt.Errorf("block %s (%s at %d) was accepted by %s", label, id, h, s.Name)
		}
	}
	if _, ok := r.n.rejectedAny[blk.ID]; ok {
		return nil
	}
	return fmt.Errorf("block %s (%s at %d) was rejected by no node", label, id, h)
}

func short(b []byte) string {
	if len(b) > 4 {
		b = b[:4]
	}
	return fmt.Sprintf("%x", b)
}
