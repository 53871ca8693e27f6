// Package harness assembles whole stacks from the fakes and runs scenarios
// against them. A scenario (scenarios/*.yaml, docs/SCENARIOS.md) describes a
// network of fake AvalancheGo nodes with their plugins, the links between
// them and the consensus parameters, then steps at virtual times (issue,
// build, partition, heal, faults, run) and expectations. It runs in one
// seeded sim.World, so the same seed gives the same trace bytes.
//
// Network (network.go) is the multi-node stack: N fake nodes, each with its
// own in-process reference VM and one validator set, in one sim.World whose
// delivery queue carries every message between them, with a Snowball
// decider, bootstrapping, faults and invariants (docs/SIM.md).
package harness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	agent "github.com/vmtestbed/vmtestbed/fakes/guestagent"

	"github.com/vmtestbed/vmtestbed/fakes/refvm"
	"github.com/vmtestbed/vmtestbed/sim"
)

// MaxScenarioNodes bounds a scenario's node count (a typo of 10000 should not
// start ten thousand plugins).
const MaxScenarioNodes = 200

// Scenario is one parsed scenario file.
type Scenario struct {
	Name        string
	Description string
	File        string // where it was read from ("" = given as bytes); errors name it
	Topology    Topology
	Steps       []Step
	Expect      []Expectation // checked after the last step
	// Invariants turns the network's invariants on or off by name (all are
	// on unless listed here as off).
	Invariants map[string]bool
}

// Topology is the network a scenario runs on.
type Topology struct {
	Nodes []NodeSpec // one per node; node i is "n<i+1>"
	// Plugin is every node's plugin unless a node sets its own.
	Plugin PluginSpec
	// Workload is what drives a plugin binary (e.g. "xsvm"); "" for refvm.
	Workload string
	Link     sim.Link   // every link unless Links says otherwise
	Links    []LinkSpec // per direction: From -> To
	Decider  SnowParams // zero fields = DefaultSnowParams
	// MaxAncestors is the blocks per GetAncestors answer (0 = the network's default).
	MaxAncestors      int
	QueryTimeout      time.Duration
	AppRequestTimeout time.Duration
	LivenessWindow    time.Duration
	// Hypervisor, when set, runs the validators inside instances of a
	// simulated hypervisor cluster (Cluster): the full stack.
	Hypervisor *HypervisorSpec
}

// HypervisorSpec is the hypervisor cluster under the validators.
type HypervisorSpec struct {
	Hosts                                        int // host nodes hv1..hvN (default 3)
	HeartbeatInterval, LeaseTTL, NodeGracePeriod time.Duration
}

// NodeSpec is one node of the topology.
type NodeSpec struct {
	Name   string     // n1, n2, ...: the lane in the trace
	Alias  string     // an optional friendlier name the steps may use
	Plugin PluginSpec // zero = Topology.Plugin
	Line   int
}

// PluginSpec is "refvm", "refvm:VARIANT", or the path of a plugin binary.
type PluginSpec struct {
	Variant string // with Path == "": the refvm variant ("" = correct)
	Path    string // a plugin binary
	Set     bool   // written in the file (for per-node overrides)
}

func (p PluginSpec) String() string {
	switch {
	case p.Path != "":
		return p.Path
	case p.Variant != "":
		return "refvm:" + p.Variant
	}
	return "refvm"
}

// ParsePlugin reads "refvm", "refvm:VARIANT" or a binary path.
func ParsePlugin(s string) (PluginSpec, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "" || s == "refvm":
		return PluginSpec{Set: s != ""}, nil
	case strings.HasPrefix(s, "refvm:"):
		v := strings.TrimPrefix(s, "refvm:")
		if !knownRefvmVariant(v) {
			return PluginSpec{}, fmt.Errorf("unknown refvm variant %q (known: %s)", v, strings.Join(refvmVariantNames(), ", "))
		}
		return PluginSpec{Variant: v, Set: true}, nil
	}
	return PluginSpec{Path: s, Set: true}, nil
}

func refvmVariantNames() []string {
	var out []string
	for _, v := range append(refvm.Variants(), refvm.MultiNodeVariants()...) {
		out = append(out, v.Name)
	}
	return out
}

func knownRefvmVariant(v string) bool { return slices.Contains(refvmVariantNames(), v) }

// LinkSpec is what a link does to messages.
type LinkSpec struct {
	From, To string // for a per-direction link; "" in the default
	Link     sim.Link
	Line     int
}

// Step kinds.
const (
	StepIssue          = "issue"
	StepBuild          = "build"
	StepPartition      = "partition"
	StepHeal           = "heal"
	StepCrash          = "crash"
	StepRestart        = "restart"
	StepStall          = "stall"
	StepResume         = "resume"
	StepSlow           = "slow"
	StepDrop           = "drop"
	StepDelay          = "delay"
	StepChance         = "chance"
	StepRunFor         = "run_for"
	StepRunUntilHeight = "run_until_height"
	StepExpect         = "expect"
	StepHostFailure    = "host_failure"
	StepHostRecover    = "host_recover"
	StepAgentFault     = "agent_fault"
	StepAgentExec      = "agent_exec"
	StepNodeCommand    = "node_command"
)

var stepKinds = []string{StepIssue, StepBuild, StepPartition, StepHeal, StepCrash, StepRestart, StepStall,
	StepResume, StepSlow, StepDrop, StepDelay, StepChance, StepRunFor, StepRunUntilHeight, StepExpect,
	StepHostFailure, StepHostRecover, StepAgentFault, StepAgentExec, StepNodeCommand}

// chanceFaults are the faults a chance step can arm: the ones the network
// rolls for at every delivery (crash, stall, slow; restart while down) and
// drop, which every send rolls for.
var chanceFaults = []string{sim.FaultCrash, sim.FaultRestart, sim.FaultStall, sim.FaultSlow, sim.FaultDrop}

// Step is one action at a virtual time.
type Step struct {
	Kind string
	// At is when the step runs, virtual time since the network finished
	// starting; HasAt false = right after the previous step.
	At    time.Duration
	HasAt bool
	Nodes []string // issue, build, crash, restart, stall, resume, slow: the nodes
	// Txs is how many transactions an issue step submits on each node.
	Txs int
	// As labels the block a build step makes (one node), for expectations.
	As       string
	Groups   [][]string    // partition
	From, To string        // drop, delay: the link
	Count    int           // drop: messages to drop; -1 = every message until a drop with count 0
	Dur      time.Duration // slow, delay: the extra time; run_for: how long; run_until_height: within
	Height   uint64        // run_until_height
	// Fault and P: a chance step arms Fault with probability P per roll,
	// on Nodes (nil = any node) or on the link From -> To ("" = any).
	Fault  string
	P      float64
	Expect []Expectation // expect
	// Host is the hypervisor host of a host_failure or host_recover step;
	// "" with Nodes set = the host the node's instance runs (or ran) on.
	Host string
	// Cmd and Args: an agent_exec step's command in the node's instance.
	Cmd  string
	Args []string
	Line int
}

func (s Step) String() string {
	var b strings.Builder
	b.WriteString(s.Kind)
	switch s.Kind {
	case StepIssue:
		fmt.Fprintf(&b, " %s", strings.Join(s.Nodes, ","))
		if s.Txs > 1 {
			fmt.Fprintf(&b, " x%d", s.Txs)
		}
	case StepBuild:
		fmt.Fprintf(&b, " %s", strings.Join(s.Nodes, ","))
		if s.As != "" {
			fmt.Fprintf(&b, " as %s", s.As)
		}
	case StepPartition:
		for _, g := range s.Groups {
			fmt.Fprintf(&b, " {%s}", strings.Join(g, ","))
		}
	case StepCrash, StepRestart, StepStall, StepResume:
		fmt.Fprintf(&b, " %s", strings.Join(s.Nodes, ","))
	case StepAgentFault:
		fmt.Fprintf(&b, " %s %s", strings.Join(s.Nodes, ","), s.Fault)
	case StepNodeCommand:
		fmt.Fprintf(&b, " %s %s", s.Host, s.Cmd)
	case StepAgentExec:
		fmt.Fprintf(&b, " %s %s", strings.Join(s.Nodes, ","), strings.Join(append([]string{s.Cmd}, s.Args...), " "))
	case StepHostFailure, StepHostRecover:
		if s.Host != "" {
			fmt.Fprintf(&b, " %s", s.Host)
		} else {
			fmt.Fprintf(&b, " of %s", strings.Join(s.Nodes, ","))
		}
	case StepSlow:
		fmt.Fprintf(&b, " %s by %s", strings.Join(s.Nodes, ","), s.Dur)
	case StepDrop:
		fmt.Fprintf(&b, " %s->%s", s.From, s.To)
		if s.Count >= 0 {
			fmt.Fprintf(&b, " count %d", s.Count)
		}
	case StepDelay:
		fmt.Fprintf(&b, " %s->%s by %s", s.From, s.To, s.Dur)
	case StepChance:
		fmt.Fprintf(&b, " %s p=%g", s.Fault, s.P)
		switch {
		case s.Fault == sim.FaultDrop:
			fmt.Fprintf(&b, " %s->%s", orAny(s.From), orAny(s.To))
		case s.Nodes == nil:
			b.WriteString(" any node")
		default:
			fmt.Fprintf(&b, " %s", strings.Join(s.Nodes, ","))
		}
		if s.Dur > 0 {
			fmt.Fprintf(&b, " by %s", s.Dur)
		}
	case StepRunFor:
		fmt.Fprintf(&b, " %s", s.Dur)
	case StepRunUntilHeight:
		fmt.Fprintf(&b, " %d", s.Height)
	case StepExpect:
		for i, e := range s.Expect {
			if i > 0 {
				b.WriteString(";")
			}
			b.WriteString(" " + e.String())
		}
	}
	return b.String()
}

// Expectation kinds.
const (
	ExpectHeight           = "height"
	ExpectHeightAtLeast    = "height_at_least"
	ExpectSameLastAccepted = "same_last_accepted"
	ExpectAccepted         = "accepted"
	ExpectRejected         = "rejected"
	ExpectOneAccepted      = "one_accepted"
	ExpectTraceContains    = "trace_contains"
	ExpectState            = "state"
	ExpectTxsApplied       = "txs_applied"
)

var expectKinds = []string{ExpectHeight, ExpectHeightAtLeast, ExpectSameLastAccepted, ExpectAccepted,
	ExpectRejected, ExpectOneAccepted, ExpectTraceContains, ExpectState, ExpectTxsApplied}

// Expectation is one check of the network's state or trace.
type Expectation struct {
	Kind string
	// Heights: node -> height (height, height_at_least); key "" = every running node.
	Heights map[string]uint64
	Labels  []string // accepted, rejected, one_accepted: block labels from build steps
	// Trace: trace_contains matches events with every set field; Min is
	// the fewest matches wanted (default 1), Max the most (-1 = no bound).
	Trace     TraceMatch
	Min, Max  int
	NodeState map[string]string // state: node -> down | bootstrapping | normal
	Line      int
}

// TraceMatch selects trace events; empty fields match anything. Detail
// matches a substring.
type TraceMatch struct{ Node, Kind, Name, From, To, Detail string }

func orAny(s string) string {
	if s == "" {
		return "any"
	}
	return s
}

func (e Expectation) String() string {
	switch e.Kind {
	case ExpectHeight, ExpectHeightAtLeast:
		return e.Kind + " " + formatNodeMap(e.Heights)
	case ExpectAccepted, ExpectRejected, ExpectOneAccepted:
		return e.Kind + " " + strings.Join(e.Labels, ",")
	case ExpectTraceContains:
		var parts []string
		for _, kv := range [][2]string{{"node", e.Trace.Node}, {"kind", e.Trace.Kind}, {"name", e.Trace.Name}, {"from", e.Trace.From}, {"to", e.Trace.To}, {"detail", e.Trace.Detail}} {
			if kv[1] != "" {
				parts = append(parts, kv[0]+"="+kv[1])
			}
		}
		return e.Kind + " " + strings.Join(parts, " ")
	case ExpectState:
		return e.Kind + " " + formatNodeMap(e.NodeState)
	}
	return e.Kind
}

// formatNodeMap writes m as name=value pairs, nodes in name order (the
// key "" is "all").
func formatNodeMap[V any](m map[string]V) string {
	var parts []string
	for _, k := range sortedNodeNames(m) {
		name := k
		if name == "" {
			name = "all"
		}
		parts = append(parts, fmt.Sprintf("%s=%v", name, m[k]))
	}
	return strings.Join(parts, " ")
}

// ParseError is bad scenario input at a place in the file.
type ParseError struct {
	File         string
	Line, Column int
	Msg          string
}

func (e *ParseError) Error() string {
	file := e.File
	if file == "" {
		file = "scenario"
	}
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", file, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", file, e.Line, e.Column, e.Msg)
}

// LoadScenario reads a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load scenario: %w", err)
	}
	return ParseScenarioFile(path, b)
}

// ParseScenario parses scenario bytes (errors say "scenario:LINE:COL").
func ParseScenario(b []byte) (*Scenario, error) { return ParseScenarioFile("", b) }

// ParseScenarioFile parses a scenario; file names it in errors.
func ParseScenarioFile(file string, b []byte) (*Scenario, error) {
	p := &parser{file: file}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		return nil, p.yamlErr(err)
	}
	if len(doc.Content) == 0 {
		return nil, &ParseError{File: file, Msg: "empty scenario"}
	}
	sc, err := p.scenario(doc.Content[0])
	if err != nil {
		return nil, err
	}
	sc.File = file
	return sc, nil
}

type parser struct {
	hosts  int // hypervisor hosts of the topology (0 = none)
	file   string
	nodes  []NodeSpec
	labels map[string]int // block label -> line of its build step
}

func (p *parser) errf(n *yaml.Node, format string, args ...any) error {
	e := &ParseError{File: p.file, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	return e
}

// yamlErr turns yaml.v3's "yaml: line N: msg" into a ParseError.
func (p *parser) yamlErr(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &ParseError{File: p.file, Msg: msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ":"); i > 0 {
			if line, err := strconv.Atoi(rest[:i]); err == nil {
				e.Line, e.Column, e.Msg = line, 1, strings.TrimSpace(rest[i+1:])
			}
		}
	}
	return e
}

type kv struct {
	key  string
	k, v *yaml.Node
}

// mapping reads a mapping node's pairs, refusing duplicate keys and keys
// outside allowed.
func (p *parser) mapping(n *yaml.Node, what string, allowed ...string) ([]kv, error) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, "%s must be a mapping, not %s", what, kindName(n))
	}
	var out []kv
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, p.errf(k, "%s: keys must be plain names", what)
		}
		if seen[k.Value] {
			return nil, p.errf(k, "%s: %q given twice", what, k.Value)
		}
		seen[k.Value] = true
		if len(allowed) > 0 && !slices.Contains(allowed, k.Value) {
			return nil, p.errf(k, "%s: unknown field %q (known: %s)", what, k.Value, strings.Join(allowed, ", "))
		}
		out = append(out, kv{key: k.Value, k: k, v: v})
	}
	return out, nil
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "this"
}

func (p *parser) str(n *yaml.Node, what string) (string, error) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", p.errf(n, "%s must be a string, not %s", what, kindName(n))
	}
	return n.Value, nil
}

func (p *parser) integer(n *yaml.Node, what string, lo, hi int) (int, error) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		return 0, p.errf(n, "%s must be a number, not %s", what, kindName(n))
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil {
		return 0, p.errf(n, "%s must be a whole number, not %q", what, n.Value)
	}
	if v < lo || v > hi {
		return 0, p.errf(n, "%s must be between %d and %d, not %d", what, lo, hi, v)
	}
	return v, nil
}

func (p *parser) prob(n *yaml.Node, what string) (float64, error) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		return 0, p.errf(n, "%s must be a probability, not %s", what, kindName(n))
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(n.Value, "%"), 64)
	if err != nil {
		return 0, p.errf(n, "%s must be a probability (0.05 or 5%%), not %q", what, n.Value)
	}
	if strings.HasSuffix(n.Value, "%") {
		v /= 100
	}
	if !(v >= 0 && v <= 1) {
		return 0, p.errf(n, "%s must be between 0 and 1, not %s", what, n.Value)
	}
	return v, nil
}

// maxDuration bounds every duration in a scenario: a day of virtual time.
const maxDuration = 24 * time.Hour

func (p *parser) duration(n *yaml.Node, what string) (time.Duration, error) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		return 0, p.errf(n, "%s must be a duration like 250ms or 2s, not %s", what, kindName(n))
	}
	if n.Value == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		return 0, p.errf(n, "%s must be a duration like 250ms or 2s, not %q", what, n.Value)
	}
	if d < 0 || d > maxDuration {
		return 0, p.errf(n, "%s must be between 0 and %s, not %s", what, maxDuration, n.Value)
	}
	return d, nil
}

func (p *parser) boolean(n *yaml.Node, what string) (bool, error) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode {
		switch strings.ToLower(n.Value) {
		case "true", "on", "yes":
			return true, nil
		case "false", "off", "no":
			return false, nil
		}
	}
	return false, p.errf(n, "%s must be on or off, not %s", what, kindName(n))
}

func (p *parser) scenario(root *yaml.Node) (*Scenario, error) {
	pairs, err := p.mapping(root, "a scenario", "name", "description", "topology", "steps", "expect", "invariants")
	if err != nil {
		return nil, err
	}
	sc := &Scenario{Invariants: map[string]bool{}}
	p.labels = map[string]int{}
	get := func(key string) *kv {
		for i := range pairs {
			if pairs[i].key == key {
				return &pairs[i]
			}
		}
		return nil
	}
	if f := get("name"); f != nil {
		if sc.Name, err = p.str(f.v, "name"); err != nil {
			return nil, err
		}
	}
	if sc.Name == "" {
		return nil, p.errf(root, "a scenario needs a name")
	}
	if f := get("description"); f != nil {
		if sc.Description, err = p.str(f.v, "description"); err != nil {
			return nil, err
		}
	}
	if f := get("topology"); f != nil {
		if sc.Topology, err = p.topology(f.v); err != nil {
			return nil, err
		}
	} else {
		sc.Topology = Topology{Nodes: defaultNodes(3)}
	}
	p.nodes = sc.Topology.Nodes
	f := get("steps")
	if f == nil {
		return nil, p.errf(root, "scenario %q has no steps", sc.Name)
	}
	if sc.Steps, err = p.steps(f.v); err != nil {
		return nil, err
	}
	if f := get("expect"); f != nil {
		if sc.Expect, err = p.expectations(f.v); err != nil {
			return nil, err
		}
	}
	if f := get("invariants"); f != nil {
		inv, err := p.mapping(f.v, "invariants", Invariants()...)
		if err != nil {
			return nil, err
		}
		for _, x := range inv {
			if sc.Invariants[x.key], err = p.boolean(x.v, "invariant "+x.key); err != nil {
				return nil, err
			}
		}
	}
	return sc, nil
}

// Invariants lists the network's invariants, by the names scenarios use.
func Invariants() []string {
	return []string{InvAgreement, InvAcceptedPath, InvAcceptedRejected, InvLiveness}
}

func defaultNodes(n int) []NodeSpec {
	out := make([]NodeSpec, n)
	for i := range out {
		out[i].Name = fmt.Sprintf("n%d", i+1)
	}
	return out
}

func (p *parser) topology(n *yaml.Node) (Topology, error) {
	var t Topology
	pairs, err := p.mapping(n, "topology", "nodes", "plugin", "workload", "links", "decider",
		"max_ancestors", "query_timeout", "app_request_timeout", "liveness_window", "hypervisor")
	if err != nil {
		return t, err
	}
	for _, f := range pairs {
		switch f.key {
		case "nodes":
			if t.Nodes, err = p.nodeList(f.v); err != nil {
				return t, err
			}
		case "plugin":
			s, err := p.str(f.v, "plugin")
			if err != nil {
				return t, err
			}
			if t.Plugin, err = ParsePlugin(s); err != nil {
				return t, p.errf(f.v, "%v", err)
			}
		case "workload":
			if t.Workload, err = p.str(f.v, "workload"); err != nil {
				return t, err
			}
		case "links":
			if t.Link, t.Links, err = p.links(f.v); err != nil {
				return t, err
			}
		case "decider":
			if t.Decider, err = p.decider(f.v); err != nil {
				return t, err
			}
		case "max_ancestors":
			if t.MaxAncestors, err = p.integer(f.v, "max_ancestors", 1, 10000); err != nil {
				return t, err
			}
		case "query_timeout":
			t.QueryTimeout, err = p.duration(f.v, f.key)
		case "app_request_timeout":
			t.AppRequestTimeout, err = p.duration(f.v, f.key)
		case "liveness_window":
			t.LivenessWindow, err = p.duration(f.v, f.key)
		case "hypervisor":
			t.Hypervisor, err = p.hypervisor(f.v)
		}
		if err != nil {
			return t, err
		}
	}
	if t.Nodes == nil {
		t.Nodes = defaultNodes(3)
	}
	if t.Workload != "" && t.Plugin.Path == "" {
		return t, p.errf(n, "workload %q needs a plugin binary (plugin: PATH); the refvm has its own", t.Workload)
	}
	// links name nodes: check them now that the nodes are known
	p.nodes = t.Nodes
	for i, l := range t.Links {
		from, err := p.nodeName(l.From, l.Line)
		if err != nil {
			return t, err
		}
		to, err := p.nodeName(l.To, l.Line)
		if err != nil {
			return t, err
		}
		t.Links[i].From, t.Links[i].To = from, to
	}
	if t.Decider.K > len(t.Nodes) {
		return t, p.errf(n, "decider k=%d is more than the %d nodes", t.Decider.K, len(t.Nodes))
	}
	return t, nil
}

// lane is a node, or with a hypervisor one of its hosts hv1..hvN (their
// events are on the trace too).
func (p *parser) lane(n *yaml.Node) (string, error) {
	if s, err := p.str(n, "node"); err == nil && isHostName(s) && p.hosts > 0 {
		if p.isHost(s) {
			return s, nil
		}
		return "", p.errf(n, "host %q: the hosts are hv1..hv%d", s, p.hosts)
	}
	return p.node(n)
}

// isHost reports whether s is one of the topology's hosts: HostName(k)
// for k in 0..hosts-1.
func (p *parser) isHost(s string) bool {
	for k := range p.hosts {
		if s == HostName(k) {
			return true
		}
	}
	return false
}

// isHostName reports whether s names a hypervisor host: hv and a number.
func isHostName(s string) bool {
	rest, ok := strings.CutPrefix(s, "hv")
	return ok && rest != "" && isDigits(rest)
}

// agentFaults are the guest-agent fault modes an agent_fault step can set.
func agentFaults() []string {
	var out []string
	for _, f := range agent.Faults() {
		if f != agent.FaultNone {
			out = append(out, string(f))
		}
	}
	return out
}

// hypervisor parses topology.hypervisor: {hosts, heartbeat_interval,
// lease_ttl, grace_period}.
func (p *parser) hypervisor(n *yaml.Node) (*HypervisorSpec, error) {
	pairs, err := p.mapping(n, "hypervisor", "hosts", "heartbeat_interval", "lease_ttl", "grace_period")
	if err != nil {
		return nil, err
	}
	h := &HypervisorSpec{Hosts: 3}
	for _, f := range pairs {
		switch f.key {
		case "hosts":
			h.Hosts, err = p.integer(f.v, "hosts", 1, 1000)
		case "heartbeat_interval":
			h.HeartbeatInterval, err = p.duration(f.v, f.key)
		case "lease_ttl":
			h.LeaseTTL, err = p.duration(f.v, f.key)
		case "grace_period":
			h.NodeGracePeriod, err = p.duration(f.v, f.key)
		}
		if err != nil {
			return nil, err
		}
	}
	p.hosts = h.Hosts
	return h, nil
}

// nodeList is a count (nodes: 3) or a list of names or node mappings.
func (p *parser) nodeList(n *yaml.Node) ([]NodeSpec, error) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode {
		c, err := p.integer(n, "nodes", 1, MaxScenarioNodes)
		if err != nil {
			return nil, err
		}
		return defaultNodes(c), nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, "nodes must be a count or a list, not %s", kindName(n))
	}
	if len(n.Content) == 0 || len(n.Content) > MaxScenarioNodes {
		return nil, p.errf(n, "nodes lists 1 to %d nodes, not %d", MaxScenarioNodes, len(n.Content))
	}
	out := defaultNodes(len(n.Content))
	seen := map[string]bool{}
	for i, e := range n.Content {
		e = deref(e)
		out[i].Line = e.Line
		switch e.Kind {
		case yaml.ScalarNode:
			out[i].Alias = e.Value
		case yaml.MappingNode:
			pairs, err := p.mapping(e, "a node", "name", "plugin")
			if err != nil {
				return nil, err
			}
			for _, f := range pairs {
				s, err := p.str(f.v, f.key)
				if err != nil {
					return nil, err
				}
				if f.key == "name" {
					out[i].Alias = s
				} else if out[i].Plugin, err = ParsePlugin(s); err != nil {
					return nil, p.errf(f.v, "%v", err)
				}
			}
		default:
			return nil, p.errf(e, "a node is a name or a mapping, not %s", kindName(e))
		}
		a := out[i].Alias
		if a == "" {
			continue
		}
		if !validName(a) {
			return nil, p.errf(e, "node name %q: use letters, digits, '-' and '_'", a)
		}
		if a == out[i].Name {
			out[i].Alias = ""
			a = out[i].Name
		} else if strings.HasPrefix(a, "n") && isDigits(a[1:]) {
			return nil, p.errf(e, "node name %q is the built-in name of another node; node %d is %s", a, i+1, out[i].Name)
		}
		if seen[a] || a == "all" {
			return nil, p.errf(e, "node name %q used twice or reserved", a)
		}
		seen[a] = true
	}
	return out, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// nodeName resolves a name (n3 or an alias) to the node's lane name.
func (p *parser) nodeName(name string, line int) (string, error) {
	for _, s := range p.nodes {
		if name == s.Name || (s.Alias != "" && name == s.Alias) {
			return s.Name, nil
		}
	}
	return "", &ParseError{File: p.file, Line: line, Column: 1, Msg: fmt.Sprintf("no node %q (nodes: %s)", name, p.nodeNames())}
}

func (p *parser) nodeNames() string {
	var out []string
	for _, s := range p.nodes {
		if s.Alias != "" {
			out = append(out, s.Alias+"="+s.Name)
		} else {
			out = append(out, s.Name)
		}
	}
	if len(out) > 6 {
		out = append(out[:3], "...", out[len(out)-1])
	}
	return strings.Join(out, " ")
}

func (p *parser) node(n *yaml.Node) (string, error) {
	s, err := p.str(n, "a node")
	if err != nil {
		return "", err
	}
	name, err := p.nodeName(s, n.Line)
	if err != nil {
		return "", p.errf(n, "%s", err.(*ParseError).Msg)
	}
	return name, nil
}

// nodes reads one node or a list of them ("all" = every node).
func (p *parser) nodesOf(n *yaml.Node) ([]string, error) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode && n.Value == "all" {
		var out []string
		for _, s := range p.nodes {
			out = append(out, s.Name)
		}
		return out, nil
	}
	if n.Kind == yaml.SequenceNode {
		if len(n.Content) == 0 {
			return nil, p.errf(n, "an empty list of nodes")
		}
		var out []string
		for _, e := range n.Content {
			s, err := p.node(e)
			if err != nil {
				return nil, err
			}
			if slices.Contains(out, s) {
				return nil, p.errf(e, "node %s listed twice", s)
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := p.node(n)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

func (p *parser) links(n *yaml.Node) (sim.Link, []LinkSpec, error) {
	n = deref(n)
	if n.Kind == yaml.SequenceNode {
		var def sim.Link
		var out []LinkSpec
		for _, e := range n.Content {
			l, err := p.link(e, true)
			if err != nil {
				return def, nil, err
			}
			if l.From == "" {
				def = l.Link
			} else {
				out = append(out, l)
			}
		}
		return def, out, nil
	}
	l, err := p.link(n, false)
	return l.Link, nil, err
}

func (p *parser) link(n *yaml.Node, pairOK bool) (LinkSpec, error) {
	keys := []string{"latency", "loss", "duplicate", "reorder", "reorder_delay"}
	if pairOK {
		keys = append(keys, "from", "to")
	}
	pairs, err := p.mapping(n, "a link", keys...)
	if err != nil {
		return LinkSpec{}, err
	}
	l := LinkSpec{Line: deref(n).Line}
	var from, to *yaml.Node
	for _, f := range pairs {
		switch f.key {
		case "latency":
			l.Link.Latency, err = p.dist(f.v)
		case "reorder_delay":
			l.Link.ReorderDelay, err = p.dist(f.v)
		case "loss":
			l.Link.Loss, err = p.prob(f.v, f.key)
		case "duplicate":
			l.Link.Duplicate, err = p.prob(f.v, f.key)
		case "reorder":
			l.Link.Reorder, err = p.prob(f.v, f.key)
		case "from":
			from = f.v
			l.From, err = p.str(f.v, f.key)
		case "to":
			to = f.v
			l.To, err = p.str(f.v, f.key)
		}
		if err != nil {
			return l, err
		}
	}
	if (from == nil) != (to == nil) {
		return l, p.errf(n, "a link names both from and to, or neither (the default link)")
	}
	return l, nil
}

// dist reads a latency: "10ms" (fixed), "uniform(5ms, 15ms)",
// "normal(20ms, 5ms)" (mean, standard deviation).
func (p *parser) dist(n *yaml.Node) (sim.Dist, error) {
	s, err := p.str(n, "a latency")
	if err != nil {
		return nil, err
	}
	bad := func() error {
		return p.errf(n, "latency %q: want 10ms, fixed(10ms), uniform(5ms, 15ms) or normal(20ms, 5ms)", s)
	}
	name, args, ok := strings.Cut(strings.TrimSpace(s), "(")
	if !ok {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d < 0 || d > maxDuration {
			return nil, bad()
		}
		return sim.Fixed(d), nil
	}
	args, ok = strings.CutSuffix(strings.TrimSpace(args), ")")
	if !ok {
		return nil, bad()
	}
	var ds []time.Duration
	for _, a := range strings.Split(args, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(a))
		if err != nil || d < 0 || d > maxDuration {
			return nil, bad()
		}
		ds = append(ds, d)
	}
	switch {
	case name == "fixed" && len(ds) == 1:
		return sim.Fixed(ds[0]), nil
	case name == "uniform" && len(ds) == 2 && ds[0] <= ds[1]:
		return sim.Uniform{Min: ds[0], Max: ds[1]}, nil
	case name == "normal" && len(ds) == 2:
		return sim.Normal{Mean: ds[0], StdDev: ds[1]}, nil
	}
	return nil, bad()
}

func (p *parser) decider(n *yaml.Node) (SnowParams, error) {
	var sp SnowParams
	pairs, err := p.mapping(n, "decider", "k", "alpha", "beta")
	if err != nil {
		return sp, err
	}
	for _, f := range pairs {
		v, err := p.integer(f.v, f.key, 1, 1000)
		if err != nil {
			return sp, err
		}
		switch f.key {
		case "k":
			sp.K = v
		case "alpha":
			sp.Alpha = v
		case "beta":
			sp.Beta = v
		}
	}
	if sp.K > 0 && sp.Alpha > sp.K {
		return sp, p.errf(n, "decider alpha=%d is more than k=%d", sp.Alpha, sp.K)
	}
	if sp.K > 0 && sp.Alpha > 0 && sp.Alpha <= sp.K/2 {
		return sp, p.errf(n, "decider alpha=%d is not a majority of k=%d: two blocks could both win", sp.Alpha, sp.K)
	}
	return sp, nil
}

func (p *parser) steps(n *yaml.Node) ([]Step, error) {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, "steps must be a list, not %s", kindName(n))
	}
	if len(n.Content) == 0 {
		return nil, p.errf(n, "steps is empty")
	}
	var out []Step
	var last time.Duration
	for _, e := range n.Content {
		st, err := p.step(e)
		if err != nil {
			return nil, err
		}
		if st.HasAt {
			if st.At < last {
				return nil, p.errf(e, "step at %s comes after a step at %s: steps run in time order", st.At, last)
			}
			last = st.At
		}
		out = append(out, st)
	}
	return out, nil
}

func (p *parser) step(n *yaml.Node) (Step, error) {
	n = deref(n)
	st := Step{Line: n.Line}
	if n.Kind == yaml.ScalarNode && n.Value == StepHeal {
		st.Kind = StepHeal
		return st, nil
	}
	pairs, err := p.mapping(n, "a step", append([]string{"at", "propose"}, stepKinds...)...)
	if err != nil {
		return st, err
	}
	var action *kv
	for i, f := range pairs {
		if f.key == "at" {
			if st.At, err = p.duration(f.v, "at"); err != nil {
				return st, err
			}
			st.HasAt = true
			continue
		}
		if action != nil {
			return st, p.errf(f.k, "a step does one thing: %s and %s are two steps", action.key, f.key)
		}
		action = &pairs[i]
	}
	if action == nil {
		return st, p.errf(n, "a step needs an action (one of %s)", strings.Join(stepKinds, ", "))
	}
	st.Kind = action.key
	if st.Kind == "propose" { // another name for build
		st.Kind = StepBuild
	}
	v := action.v
	switch st.Kind {
	case StepNodeCommand, StepAgentFault, StepAgentExec, StepHostFailure, StepHostRecover:
		if p.hosts == 0 {
			return st, p.errf(v, "%s needs a hypervisor (topology: hypervisor: {hosts: N})", st.Kind)
		}
	}
	switch st.Kind {
	case StepIssue:
		st.Txs = 1
		if deref(v).Kind == yaml.MappingNode {
			pairs, err := p.mapping(v, "issue", "node", "txs")
			if err != nil {
				return st, err
			}
			for _, f := range pairs {
				if f.key == "node" {
					st.Nodes, err = p.nodesOf(f.v)
				} else {
					st.Txs, err = p.integer(f.v, "txs", 1, 10000)
				}
				if err != nil {
					return st, err
				}
			}
			if st.Nodes == nil {
				return st, p.errf(v, "issue needs a node")
			}
			return st, nil
		}
		st.Nodes, err = p.nodesOf(v)
	case StepBuild:
		if deref(v).Kind == yaml.MappingNode {
			pairs, err := p.mapping(v, "build", "node", "as")
			if err != nil {
				return st, err
			}
			for _, f := range pairs {
				if f.key == "node" {
					st.Nodes, err = p.nodesOf(f.v)
				} else if st.As, err = p.str(f.v, "as"); err == nil {
					if !validName(st.As) {
						err = p.errf(f.v, "block label %q: use letters, digits, '-' and '_'", st.As)
					} else if line, dup := p.labels[st.As]; dup {
						err = p.errf(f.v, "block label %q already names the block of line %d", st.As, line)
					}
					p.labels[st.As] = f.v.Line
				}
				if err != nil {
					return st, err
				}
			}
			if st.Nodes == nil {
				return st, p.errf(v, "build needs a node")
			}
			if st.As != "" && len(st.Nodes) != 1 {
				return st, p.errf(v, "a labelled build (as: %s) is on one node", st.As)
			}
			return st, nil
		}
		st.Nodes, err = p.nodesOf(v)
	case StepPartition:
		st.Groups, err = p.partition(v)
	case StepHeal:
		if dv := deref(v); !(dv.Kind == yaml.ScalarNode && (dv.Tag == "!!null" || dv.Value == "true")) {
			return st, p.errf(v, "heal takes no argument (write `- heal`)")
		}
	case StepCrash, StepRestart, StepStall, StepResume:
		st.Nodes, err = p.nodesOf(v)
	case StepNodeCommand:
		pairs, err := p.mapping(v, st.Kind, "host", "type")
		if err != nil {
			return st, err
		}
		for _, f := range pairs {
			if f.key == "host" {
				st.Host, err = p.str(f.v, "host")
			} else {
				st.Cmd, err = p.str(f.v, "type")
			}
			if err != nil {
				return st, err
			}
		}
		if st.Host == "" || st.Cmd == "" {
			return st, p.errf(v, "node_command needs host and type")
		}
		return st, nil
	case StepAgentFault, StepAgentExec:
		keys := []string{"node", "fault"}
		if st.Kind == StepAgentExec {
			keys = []string{"node", "cmd", "args"}
		}
		pairs, err := p.mapping(v, st.Kind, keys...)
		if err != nil {
			return st, err
		}
		for _, f := range pairs {
			switch f.key {
			case "node":
				var node string
				if node, err = p.node(f.v); err == nil {
					st.Nodes = []string{node}
				}
			case "fault":
				if st.Fault, err = p.str(f.v, "fault"); err == nil && !slices.Contains(agentFaults(), st.Fault) {
					err = p.errf(f.v, "agent fault %q: want one of %s", st.Fault, strings.Join(agentFaults(), ", "))
				}
			case "cmd":
				st.Cmd, err = p.str(f.v, "cmd")
			case "args":
				err = deref(f.v).Decode(&st.Args)
				if err != nil {
					err = p.errf(f.v, "args: want a list of strings")
				}
			}
			if err != nil {
				return st, err
			}
		}
		if st.Nodes == nil || (st.Kind == StepAgentFault && st.Fault == "") || (st.Kind == StepAgentExec && st.Cmd == "") {
			return st, p.errf(v, "%s needs node and %s", st.Kind, keys[1])
		}
		return st, nil
	case StepHostFailure, StepHostRecover:
		if deref(v).Kind == yaml.MappingNode {
			pairs, err := p.mapping(v, st.Kind, "of")
			if err != nil {
				return st, err
			}
			node, err := p.node(pairs[0].v)
			if err != nil {
				return st, err
			}
			st.Nodes = []string{node}
			return st, nil
		}
		if st.Host, err = p.str(v, st.Kind); err != nil {
			return st, err
		}
		if !p.isHost(st.Host) {
			return st, p.errf(v, "host %q: the hosts are hv1..hv%d (or write {of: NODE} for the host of a validator)", st.Host, p.hosts)
		}
	case StepSlow:
		pairs, err := p.mapping(v, "slow", "node", "by")
		if err != nil {
			return st, err
		}
		for _, f := range pairs {
			if f.key == "node" {
				st.Nodes, err = p.nodesOf(f.v)
			} else {
				st.Dur, err = p.duration(f.v, "by")
			}
			if err != nil {
				return st, err
			}
		}
		if st.Nodes == nil {
			return st, p.errf(v, "slow needs a node")
		}
	case StepDrop, StepDelay:
		st.Count = -1
		keys := []string{"from", "to", "count"}
		if st.Kind == StepDelay {
			keys = []string{"from", "to", "by"}
		}
		pairs, err := p.mapping(v, st.Kind, keys...)
		if err != nil {
			return st, err
		}
		for _, f := range pairs {
			switch f.key {
			case "from":
				st.From, err = p.node(f.v)
			case "to":
				st.To, err = p.node(f.v)
			case "count":
				st.Count, err = p.integer(f.v, "count", 0, 1_000_000)
			case "by":
				st.Dur, err = p.duration(f.v, "by")
			}
			if err != nil {
				return st, err
			}
		}
		if st.From == "" || st.To == "" {
			return st, p.errf(v, "%s needs from and to", st.Kind)
		}
		if st.From == st.To {
			return st, p.errf(v, "%s from %s to itself: a node's messages to itself do not cross a link", st.Kind, st.From)
		}
	case StepChance:
		pairs, err := p.mapping(v, "chance", "fault", "node", "from", "to", "p", "by")
		if err != nil {
			return st, err
		}
		pset := false
		var from, to *yaml.Node
		for _, f := range pairs {
			switch f.key {
			case "fault":
				if st.Fault, err = p.str(f.v, "fault"); err == nil && !slices.Contains(chanceFaults, st.Fault) {
					err = p.errf(f.v, "fault %q: a chance arms one of %s", st.Fault, strings.Join(chanceFaults, ", "))
				}
			case "node":
				st.Nodes, err = p.nodesOf(f.v)
			case "from":
				from = f.v
				st.From, err = p.node(f.v)
			case "to":
				to = f.v
				st.To, err = p.node(f.v)
			case "p":
				st.P, err = p.prob(f.v, "p")
				pset = true
			case "by":
				st.Dur, err = p.duration(f.v, "by")
			}
			if err != nil {
				return st, err
			}
		}
		switch {
		case st.Fault == "":
			return st, p.errf(v, "chance needs a fault (one of %s)", strings.Join(chanceFaults, ", "))
		case !pset:
			return st, p.errf(v, "chance needs p, the probability per roll (0 turns it off)")
		case st.Fault == sim.FaultDrop && st.Nodes != nil:
			return st, p.errf(v, "a drop chance is on a link: from and to (either may be left out for any)")
		case st.Fault != sim.FaultDrop && (from != nil || to != nil):
			return st, p.errf(v, "a %s chance is on nodes: node (left out for any node)", st.Fault)
		case st.Fault == sim.FaultSlow && st.Dur == 0 && st.P > 0:
			return st, p.errf(v, "a slow chance needs by, the extra time per message")
		case st.Fault != sim.FaultSlow && st.Dur != 0:
			return st, p.errf(v, "by is for a slow chance")
		case st.From != "" && st.From == st.To:
			return st, p.errf(v, "chance of drop from %s to itself: a node's messages to itself do not cross a link", st.From)
		}
	case StepRunFor:
		st.Dur, err = p.duration(v, "run_for")
		if err == nil && st.Dur == 0 {
			err = p.errf(v, "run_for needs a positive duration")
		}
	case StepRunUntilHeight:
		st.Dur = time.Minute
		if deref(v).Kind == yaml.MappingNode {
			pairs, err := p.mapping(v, "run_until_height", "height", "within")
			if err != nil {
				return st, err
			}
			hset := false
			for _, f := range pairs {
				if f.key == "height" {
					var h int
					h, err = p.integer(f.v, "height", 1, 1_000_000)
					st.Height, hset = uint64(h), true
				} else {
					st.Dur, err = p.duration(f.v, "within")
				}
				if err != nil {
					return st, err
				}
			}
			if !hset {
				return st, p.errf(v, "run_until_height needs a height")
			}
			return st, nil
		}
		var h int
		h, err = p.integer(v, "run_until_height", 1, 1_000_000)
		st.Height = uint64(h)
	case StepExpect:
		st.Expect, err = p.expectations(v)
	}
	return st, err
}

func (p *parser) partition(n *yaml.Node) ([][]string, error) {
	n = deref(n)
	if n.Kind != yaml.SequenceNode || len(n.Content) < 2 {
		return nil, p.errf(n, "partition lists two or more groups of nodes, e.g. [[n1], [n2, n3]]")
	}
	seen := map[string]bool{}
	var out [][]string
	for _, g := range n.Content {
		nodes, err := p.nodesOf(g)
		if err != nil {
			return nil, err
		}
		for _, s := range nodes {
			if seen[s] {
				return nil, p.errf(g, "node %s is in two groups", s)
			}
			seen[s] = true
		}
		out = append(out, nodes)
	}
	return out, nil
}

func (p *parser) expectations(n *yaml.Node) ([]Expectation, error) {
	n = deref(n)
	if n.Kind == yaml.MappingNode {
		e, err := p.expectation(n)
		if err != nil {
			return nil, err
		}
		return []Expectation{e}, nil
	}
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return nil, p.errf(n, "expect is an expectation or a list of them, not %s", kindName(n))
	}
	var out []Expectation
	for _, c := range n.Content {
		e, err := p.expectation(c)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func (p *parser) expectation(n *yaml.Node) (Expectation, error) {
	n = deref(n)
	e := Expectation{Line: n.Line, Min: 1, Max: -1}
	if n.Kind == yaml.ScalarNode && (n.Value == ExpectSameLastAccepted || n.Value == ExpectTxsApplied) {
		e.Kind = n.Value
		return e, nil
	}
	pairs, err := p.mapping(n, "an expectation", expectKinds...)
	if err != nil {
		return e, err
	}
	if len(pairs) != 1 {
		return e, p.errf(n, "an expectation checks one thing (one of %s)", strings.Join(expectKinds, ", "))
	}
	f := pairs[0]
	e.Kind = f.key
	v := deref(f.v)
	switch e.Kind {
	case ExpectHeight, ExpectHeightAtLeast:
		e.Heights = map[string]uint64{}
		if v.Kind == yaml.ScalarNode {
			h, err := p.integer(v, e.Kind, 0, 1_000_000)
			if err != nil {
				return e, err
			}
			e.Heights[""] = uint64(h)
			return e, nil
		}
		pairs, err := p.mapping(v, e.Kind)
		if err != nil {
			return e, err
		}
		for _, x := range pairs {
			name, err := p.node(x.k)
			if err != nil {
				return e, err
			}
			h, err := p.integer(x.v, e.Kind, 0, 1_000_000)
			if err != nil {
				return e, err
			}
			e.Heights[name] = uint64(h)
		}
	case ExpectSameLastAccepted, ExpectTxsApplied:
		on, err := p.boolean(v, e.Kind)
		if err != nil {
			return e, err
		}
		if !on {
			return e, p.errf(v, "%s: off checks nothing; leave it out", e.Kind)
		}
	case ExpectAccepted, ExpectRejected, ExpectOneAccepted:
		var nodes []*yaml.Node
		if v.Kind == yaml.SequenceNode {
			nodes = v.Content
		} else {
			nodes = []*yaml.Node{v}
		}
		for _, x := range nodes {
			l, err := p.str(x, "a block label")
			if err != nil {
				return e, err
			}
			if _, ok := p.labels[l]; !ok {
				return e, p.errf(x, "no build step labels a block %q before this (build: {node: n1, as: %s})", l, l)
			}
			e.Labels = append(e.Labels, l)
		}
		if e.Kind == ExpectOneAccepted && len(e.Labels) < 2 {
			return e, p.errf(v, "one_accepted lists two or more competing blocks")
		}
	case ExpectTraceContains:
		pairs, err := p.mapping(v, "trace_contains", "node", "kind", "name", "from", "to", "detail", "min", "max")
		if err != nil {
			return e, err
		}
		for _, x := range pairs {
			switch x.key {
			case "min":
				e.Min, err = p.integer(x.v, "min", 0, 1_000_000)
			case "max":
				e.Max, err = p.integer(x.v, "max", 0, 1_000_000)
			case "node":
				e.Trace.Node, err = p.lane(x.v)
			case "from", "to":
				var s string
				if s, err = p.str(x.v, x.key); err == nil {
					if s != "node" && s != "plugin" {
						s, err = p.lane(x.v)
					}
				}
				if x.key == "from" {
					e.Trace.From = s
				} else {
					e.Trace.To = s
				}
			case "kind":
				e.Trace.Kind, err = p.str(x.v, x.key)
				if err == nil && !slices.Contains(eventKinds, e.Trace.Kind) {
					err = p.errf(x.v, "kind %q: want one of %s", e.Trace.Kind, strings.Join(eventKinds, ", "))
				}
			case "name":
				e.Trace.Name, err = p.str(x.v, x.key)
			case "detail":
				e.Trace.Detail, err = p.str(x.v, x.key)
			}
			if err != nil {
				return e, err
			}
		}
		if e.Max >= 0 && e.Max < e.Min {
			return e, p.errf(v, "trace_contains: max %d is below min %d", e.Max, e.Min)
		}
	case ExpectState:
		e.NodeState = map[string]string{}
		pairs, err := p.mapping(v, "state")
		if err != nil {
			return e, err
		}
		for _, x := range pairs {
			name, err := p.node(x.k)
			if err != nil {
				return e, err
			}
			s, err := p.str(x.v, "a state")
			if err != nil {
				return e, err
			}
			if s != stateDown && s != stateBootstrapping && s != stateNormal {
				return e, p.errf(x.v, "state %q: want down, bootstrapping or normal", s)
			}
			e.NodeState[name] = s
		}
	}
	return e, nil
}

var eventKinds = []string{KindHypervisor, sim.KindCall, sim.KindSend, sim.KindDeliver, sim.KindDrop, sim.KindFault,
	sim.KindTopology, sim.KindDecide, sim.KindInvariant, sim.KindNote}

// WithNodes is sc with n nodes (the --nodes flag): a count topology grows or
// shrinks; steps and expectations that name a node past n make it an error.
func (sc *Scenario) WithNodes(n int) (*Scenario, error) {
	if n < 1 || n > MaxScenarioNodes {
		return nil, fmt.Errorf("--nodes %d: want 1 to %d", n, MaxScenarioNodes)
	}
	out := *sc
	nodes := defaultNodes(n)
	for i := range min(n, len(sc.Topology.Nodes)) {
		nodes[i] = sc.Topology.Nodes[i]
	}
	out.Topology.Nodes = nodes
	if out.Topology.Decider.K > n {
		out.Topology.Decider = SnowParams{}
	}
	used := func(name string, line int) error {
		if slices.ContainsFunc(nodes, func(s NodeSpec) bool { return s.Name == name }) {
			return nil
		}
		return &ParseError{File: sc.File, Line: line, Column: 1, Msg: fmt.Sprintf("names node %s, but --nodes %d leaves n1..n%d", name, n, n)}
	}
	var errs []error
	for _, st := range sc.Steps {
		for _, s := range st.Nodes {
			errs = append(errs, used(s, st.Line))
		}
		for _, g := range st.Groups {
			for _, s := range g {
				errs = append(errs, used(s, st.Line))
			}
		}
		for _, name := range []string{st.From, st.To} {
			if name != "" { // "" = any link, in a chance step
				errs = append(errs, used(name, st.Line))
			}
		}
	}
	for _, l := range sc.Topology.Links {
		errs = append(errs, used(l.From, l.Line), used(l.To, l.Line))
	}
	var expects []Expectation
	for _, st := range sc.Steps {
		expects = append(expects, st.Expect...)
	}
	for _, e := range append(expects, sc.Expect...) {
		for name := range e.Heights {
			if name != "" {
				errs = append(errs, used(name, e.Line))
			}
		}
		for name := range e.NodeState {
			errs = append(errs, used(name, e.Line))
		}
		for _, name := range []string{e.Trace.Node, e.Trace.From, e.Trace.To} {
			if name != "" && name != "node" && name != "plugin" && !isHostName(name) {
				errs = append(errs, used(name, e.Line))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &out, nil
}

// WithPlugin is sc with every node running plugin (the --plugin flag).
func (sc *Scenario) WithPlugin(plugin string) (*Scenario, error) {
	ps, err := ParsePlugin(plugin)
	if err != nil {
		return nil, fmt.Errorf("--plugin: %w", err)
	}
	out := *sc
	out.Topology.Plugin = ps
	out.Topology.Nodes = slices.Clone(sc.Topology.Nodes)
	for i := range out.Topology.Nodes {
		out.Topology.Nodes[i].Plugin = PluginSpec{}
	}
	return &out, nil
}

// PluginOf is node i's plugin.
func (t Topology) PluginOf(i int) PluginSpec {
	if i < len(t.Nodes) && t.Nodes[i].Plugin.Set {
		return t.Nodes[i].Plugin
	}
	return t.Plugin
}
