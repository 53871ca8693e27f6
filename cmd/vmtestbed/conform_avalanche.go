package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/vmtestbed/vmtestbed/conformance/avalanche"
	"github.com/vmtestbed/vmtestbed/conformance/avalanche/multinode"
	"github.com/vmtestbed/vmtestbed/conformance/avalanche/xsvm"
	"github.com/vmtestbed/vmtestbed/conformance/report"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/fakes/refvm"
	"github.com/vmtestbed/vmtestbed/transport"
)

// avaFlags are the flags of `vmtestbed conform avalanche` that are not
// fields of avalanche.Config (those are bound straight onto it).
type avaFlags struct {
	cfg                              avalanche.Config
	opts                             report.Options
	inProcess                        string
	release                          string
	protocol                         uint
	genesis, upgrade, config, subnet string
	trace                            string
	workload                         string
}

func init() {
	f := avaFlags{cfg: avalanche.DefaultConfig()}
	cmd := &cobra.Command{
		Use:   "avalanche (--plugin PATH | --in-process refvm[:VARIANT]) [--nodes N]",
		Short: "Check an Avalanche chain-VM plugin against the rpcchainvm contract",
		Long: `Launches the plugin as AvalancheGo does (or the reference VM in this process),
drives it through the node's call sequence and checks every answer.
The node emulates one AvalancheGo release (--avalanchego, default the newest):
its rpcchainvm protocol, which the plugin must speak exactly as AvalancheGo
requires (--same-wire also accepts a protocol with an identical wire), and its
node version, announced in Connected. Like AvalancheGo, it sets no time limit on
Initialize and Shutdown unless asked (--initialize-timeout, --shutdown-timeout);
--timeout bounds the whole run and names the calls still running when it ends.
With --nodes N (2 or more) the multi-node specs (AVA-NET-*) run too: N fake
nodes, each with its own instance of the plugin (the binary in its own process,
or the in-process reference VM), in one simulated network with gossip, app
requests, a Snowman-like decider and bootstrapping. With --in-process the
network's run is deterministic for a --seed; plugin binaries in their own
processes are not (their goroutines and clocks are their own).
Exit status: 0 every spec passed, 1 some spec failed (a plugin of another
protocol fails AVA-HSK-001), 2 usage error or a plugin that could not be started
(its exit status and last output lines are printed).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runConformAvalanche(cmd.OutOrStdout(), f) },
	}
	fl := cmd.Flags()
	c := &f.cfg
	fl.StringVar(&c.Plugin, "plugin", "", "path to the plugin binary")
	fl.StringVar(&f.inProcess, "in-process", "", "run the reference VM in this process: refvm or refvm:VARIANT (see refvm --list-broken)")
	fl.StringVar(&f.release, "avalanchego", "", "emulate this AvalancheGo release: its protocol and node version, e.g. v1.14.2 (default: the newest, "+avalanchego.ReleaseForProtocol(avalanchego.NewestProtocol)+")")
	fl.UintVar(&f.protocol, "protocol", 0, "emulate this rpcchainvm protocol version, as the newest release speaking it (default: newest)")
	fl.BoolVar(&c.SameWire, "same-wire", false, "also accept a plugin whose protocol differs from the emulated one but has the same wire (AvalancheGo does not)")
	fl.Uint32Var(&c.NetworkID, "network-id", 0, "network id in the InitializeRequest (default: local, 12345)")
	fl.StringVar(&f.genesis, "genesis", "", "file with the genesis bytes (default: the workload's)")
	fl.StringVar(&f.upgrade, "upgrade", "", "file with the chain's upgrade bytes")
	fl.StringVar(&f.config, "chain-config", "", "file with the chain config bytes")
	fl.StringVar(&f.config, "config", "", "file with the chain config bytes")
	_ = fl.MarkDeprecated("config", "use --chain-config")
	fl.StringVar(&f.subnet, "subnet-config", "", "file with the subnet config (JSON)")
	fl.StringVar(&f.trace, "trace", "", "write the RPC trace here (.json, .md for Mermaid, else text)")
	fl.StringVar(&f.workload, "workload", "auto", "how to make the VM want blocks: auto (detects xsvm with a probe launch when no --genesis is given, and the reference VM's API), refvm, or xsvm (signed transfers; also writes the genesis)")
	fl.StringVar(&c.DBDir, "db-dir", "", "back the node's database with an on-disk leveldb under this directory (one launch-N per plugin launch; default in memory)")
	fl.IntVar(&c.Repeat, "repeat", c.Repeat, "how often idempotency specs repeat a call")
	fl.Int64Var(&c.Seed, "seed", 0, "seed of the fake node's ids and keys (and of the multi-node network)")
	fl.IntVar(&c.Nodes, "nodes", c.Nodes, "instances of the plugin; 2 or more also runs the multi-node specs (AVA-NET-*) on a simulated network of that many nodes")
	fl.DurationVar(&c.HandshakeTimeout, "handshake-timeout", c.HandshakeTimeout, "how long the plugin has for the runtime handshake")
	fl.DurationVar(&c.CallTimeout, "call-timeout", c.CallTimeout, "bound of every VM call but Initialize and Shutdown, and of every wait for an event")
	fl.DurationVar(&c.InitializeTimeout, "initialize-timeout", 0, "bound of the Initialize call (0: none, as AvalancheGo)")
	fl.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 0, "bound of the Shutdown call (0: none, as AvalancheGo)")
	fl.DurationVar(&c.GracePeriod, "grace-period", c.GracePeriod, "wait between SIGTERM and SIGKILL after Shutdown")
	fl.DurationVar(&c.Timeout, "timeout", c.Timeout, "bound of the whole run; when it runs out, the calls still running are named")
	bindReportFlags(fl, &f.opts, "AVA-BLK", "stream plugin output and cleanup notes")
	conformCmd.AddCommand(cmd)
}

// avaConfig completes the suite configuration from the flags that are not
// Config fields.
func avaConfig(f avaFlags, log io.Writer) (avalanche.Config, error) {
	cfg := f.cfg
	cfg.Log = log
	switch {
	case (cfg.Plugin == "") == (f.inProcess == ""):
		return cfg, errors.New("give exactly one of --plugin and --in-process")
	case f.release != "" && f.protocol != 0:
		return cfg, errors.New("give at most one of --avalanchego and --protocol")
	case f.release != "":
		p, err := avalanchego.ProtocolForRelease(f.release)
		if err != nil {
			return cfg, fmt.Errorf("--avalanchego: %w", err)
		}
		cfg.Protocol, cfg.Release = p, f.release
	case f.protocol != 0:
		if _, ok := avalanchego.LookupProtocol(f.protocol); !ok {
			return cfg, fmt.Errorf("--protocol %d: not a known rpcchainvm protocol (%d..%d)", f.protocol, avalanchego.OldestProtocol, avalanchego.NewestProtocol)
		}
		cfg.Protocol = f.protocol
	}
	if cfg.Nodes < 1 {
		return cfg, fmt.Errorf("--nodes %d: want 1 or more", cfg.Nodes)
	}
	var err error
	if cfg.Genesis, err = readOptional(f.genesis, "--genesis"); err != nil {
		return cfg, err
	}
	if cfg.ChainConfig, err = readOptional(f.config, "--chain-config"); err != nil {
		return cfg, err
	}
	if cfg.Upgrade, err = readOptional(f.upgrade, "--upgrade"); err != nil {
		return cfg, err
	}
	if cfg.SubnetConfig, err = readOptional(f.subnet, "--subnet-config"); err != nil {
		return cfg, err
	}
	if cfg.Workload, err = workloadByName(f.workload); err != nil {
		return cfg, err
	}
	if cfg.Workload == nil && cfg.Genesis == nil && cfg.Plugin != "" {
		cfg.Workload = detectXSVM(cfg.Plugin, cfg.Protocol, cfg.HandshakeTimeout)
	}
	if f.inProcess != "" {
		serve, bn, err := inProcessRefVM(f.inProcess, cfg.Protocol, log)
		if err != nil {
			return cfg, err
		}
		cfg.InProcess, cfg.Bufnet = serve, bn
	}
	if cfg.Nodes >= 2 {
		_, variant, _ := strings.Cut(f.inProcess, ":")
		cfg.NewNetwork = multinode.Network(variant)
	}
	return cfg, nil
}

// workloadByName maps --workload to a Workload; nil means auto-detect.
func workloadByName(name string) (avalanche.Workload, error) {
	switch name {
	case "", "auto":
		return nil, nil
	case "refvm":
		return avalanche.RefVMWorkload(), nil
	case "xsvm":
		return xsvm.NewWorkload()
	}
	return nil, fmt.Errorf("--workload %q: want auto, refvm or xsvm", name)
}

// detectXSVM returns the xsvm workload when the plugin turns out to be xsvm
// (a probe launch; see xsvm.Workload.Detect), else nil: the suite then
// auto-detects the reference VM's API or skips block specs with a reason.
func detectXSVM(plugin string, protocol uint, timeout time.Duration) avalanche.Workload {
	w, err := xsvm.NewWorkload()
	if err != nil || !w.Detect(context.Background(), plugin, protocol, timeout) {
		return nil
	}
	return w
}

func readOptional(path, flag string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return b, nil
}

// inProcessRefVM parses "refvm[:VARIANT]" into an in-process plugin.
// The reference VM speaks the protocol the node emulates (0 = newest), so
// --protocol 41 exercises the Messenger path of older AvalancheGo releases.
func inProcessRefVM(spec string, protocol uint, log io.Writer) (func(context.Context, string) error, *transport.Bufnet, error) {
	name, variant, _ := strings.Cut(spec, ":")
	if name != "refvm" {
		return nil, nil, fmt.Errorf("--in-process %q: only refvm runs in process", spec)
	}
	known := variant == ""
	for _, v := range append(refvm.Variants(), refvm.MultiNodeVariants()...) {
		known = known || v.Name == variant
	}
	if !known {
		return nil, nil, fmt.Errorf("--in-process %q: unknown refvm variant %q", spec, variant)
	}
	bn := transport.NewBufnet()
	rc := refvm.Config{Variant: variant, Protocol: protocol, Transport: bn, Stderr: log, Exit: func(int) {}}
	return func(ctx context.Context, addr string) error { return refvm.Serve(ctx, addr, rc) }, bn, nil
}

func runConformAvalanche(out io.Writer, f avaFlags) error {
	log := io.Discard
	if f.opts.Verbose {
		log = os.Stderr
	}
	cfg, err := avaConfig(f, log)
	if err != nil {
		return withCode(exitUsage, err)
	}
	cfg.Notices = &onceLines{w: out, seen: map[string]bool{}}
	if f.trace != "" {
		cfg.Trace = avalanchego.NewTrace(nil)
	}
	f.opts.Progress = out
	res, err := avalanche.RunSuite(context.Background(), cfg, f.opts)
	if err == nil && f.trace != "" {
		err = avalanche.WriteTrace(cfg.Trace, f.trace)
	}
	return verdict(out, res, err, res.FailedIDs())
}

// onceLines prints each distinct line once: every container of the suite
// launches the plugin again and the launcher repeats its notices.
type onceLines struct {
	mu   sync.Mutex
	w    io.Writer
	seen map[string]bool
}

func (o *onceLines) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, line := range strings.SplitAfter(string(p), "\n") {
		if line == "" || o.seen[line] {
			continue
		}
		o.seen[line] = true
		if _, err := io.WriteString(o.w, "\nnotice: "+line); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}
