package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/ava-labs/avalanchego/config"
	"github.com/ava-labs/avalanchego/tests/fixture/tmpnet"
	"github.com/ava-labs/avalanchego/utils/constants"
	"github.com/ava-labs/avalanchego/utils/crypto/secp256k1"
	"github.com/ava-labs/avalanchego/utils/logging"
	"github.com/ava-labs/avalanchego/vms/example/xsvm/genesis"
)

// networkPlan is one local network to start, drive and stop.
type networkPlan struct {
	Name      string // e.g. xsvm-2node
	Nodes     int
	Transfers int    // per node
	Plugin    string // what the nodes run as xsvm (the plain binary or a recorder wrapper)
	WorkDir   string // tmpnet network root and plugin dir live below it
	Timeout   time.Duration
	Settle    time.Duration // idle time after the last acceptance, before the stop
}

// networkResult holds what a run measured.
type networkResult struct {
	StartToHealthy  time.Duration // tmpnet bootstrap (nodes up, subnet and chain created)
	StartToFirstBlk time.Duration // network start -> first xsvm block accepted
	Total           time.Duration
	Blocks          uint64 // height of the last accepted xsvm block, on every node
	NetworkDir      string
	Listeners       int   // TCP listening sockets of nodes and plugins (all on 127.0.0.1)
	Killed          []int // processes the final sweep had to kill (should be none)
}

// runNetwork starts a tmpnet network with an xsvm subnet, issues transfers on
// every node, waits for them to be accepted everywhere and stops the network.
// Every node process (and so every plugin) is gone when it returns, whatever
// happened.
func runNetwork(parent context.Context, bins *binaries, plan networkPlan, log logging.Logger, out io.Writer) (res *networkResult, err error) {
	res = &networkResult{}
	start := time.Now()
	defer func() { res.Total = time.Since(start) }()

	pluginDir := filepath.Join(plan.WorkDir, "plugins")
	rootDir := filepath.Join(plan.WorkDir, "networks")
	for _, d := range []string{pluginDir, rootDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return res, err
		}
	}
	// AvalancheGo looks a VM up by its ID in the plugin dir. A symlink keeps a
	// wrapper's own path (it may find its config next to itself).
	vmPath := filepath.Join(pluginDir, constants.XSVMID.String())
	_ = os.Remove(vmPath)
	if err := os.Symlink(plan.Plugin, vmPath); err != nil {
		return res, fmt.Errorf("plugin dir: %w", err)
	}

	key, err := secp256k1.NewPrivateKey()
	if err != nil {
		return res, err
	}
	genesisBytes, err := genesis.Codec.Marshal(genesis.CodecVersion, &genesis.Genesis{
		Timestamp:   time.Now().Unix(),
		Allocations: []genesis.Allocation{{Address: key.Address(), Balance: math.MaxUint64}},
	})
	if err != nil {
		return res, err
	}
	nodes := tmpnet.NewNodesOrPanic(plan.Nodes)
	network := &tmpnet.Network{
		Owner: plan.Name,
		Nodes: nodes,
		DefaultRuntimeConfig: tmpnet.NodeRuntimeConfig{
			Process: &tmpnet.ProcessRuntimeConfig{
				AvalancheGoPath: bins.AvalancheGo,
				PluginDir:       pluginDir,
			},
		},
		DefaultFlags: tmpnet.FlagsMap{
			// AvalancheGo raises its open-files limit to 32768 by default and
			// refuses to start when the hard limit is lower (20000 here).
			config.FdLimitKey:         strconv.FormatUint(fdLimit(), 10),
			config.LogLevelKey:        "info",
			config.LogDisplayLevelKey: "off",
		},
		Subnets: []*tmpnet.Subnet{{
			Name: "xsvm",
			Chains: []*tmpnet.Chain{{
				VMID:         constants.XSVMID,
				Genesis:      genesisBytes,
				PreFundedKey: key,
				// No VersionArgs: tmpnet would run the plugin (maybe a
				// recorder wrapper) with `version-json` outside a node.
			}},
			ValidatorIDs: tmpnet.NodesToIDs(nodes...),
		}},
	}

	ctx, cancel := context.WithTimeout(parent, plan.Timeout)
	defer cancel()

	rp := newReaper()
	stopWatch := make(chan struct{})
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		rp.run(stopWatch, func() []string {
			dirs, _ := filepath.Glob(filepath.Join(rootDir, "*", "NodeID-*"))
			return dirs
		})
	}()
	defer func() {
		// Stop gracefully (SIGTERM, the node shuts its chains and plugins
		// down), bounded; then make sure nothing is left.
		stopCtx, stopCancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer stopCancel()
		if network.Dir != "" {
			fmt.Fprintf(out, "recordnet: %s: stopping network\n", plan.Name)
			if serr := network.Stop(stopCtx); serr != nil {
				err = errors.Join(err, fmt.Errorf("stop network: %w", serr))
			}
		}
		close(stopWatch)
		<-watchDone
		rp.watch(nodeDataDirs(rootDir)...)
		rp.reapExited()
		if killed := rp.sweep(); len(killed) > 0 {
			res.Killed = killed
			err = errors.Join(err, fmt.Errorf("processes still running after stop, killed: %v", killed))
		}
		rp.reapExited()
	}()

	fmt.Fprintf(out, "recordnet: %s: starting %d node(s) with plugin %s\n", plan.Name, plan.Nodes, plan.Plugin)
	if err := tmpnet.BootstrapNewNetwork(ctx, log, network, rootDir); err != nil {
		return res, fmt.Errorf("bootstrap network %s: %w", plan.Name, err)
	}
	res.NetworkDir = network.Dir
	// tmpnet's bootstrap ends by restarting the first node (and starting the
	// others) without waiting for them to be healthy again: wait, so the
	// xsvm chain is bootstrapped everywhere before the workload.
	if err := tmpnet.WaitForHealthyNodes(ctx, log, network.Nodes); err != nil {
		return res, fmt.Errorf("wait for healthy nodes: %w", err)
	}
	res.StartToHealthy = time.Since(start)
	rp.watch(nodeDataDirs(rootDir)...)
	addrs, err := rp.listeners()
	if err != nil {
		return res, fmt.Errorf("list listening sockets: %w", err)
	}
	for _, a := range addrs {
		if !isLoopback(a) {
			return res, fmt.Errorf("a node or plugin listens on %s, beyond the loopback address (all: %v)", a, addrs)
		}
	}
	res.Listeners = len(addrs)
	fmt.Fprintf(out, "recordnet: %s: network healthy after %s, %d listening sockets, all on loopback (%s)\n", plan.Name, res.StartToHealthy.Round(time.Millisecond), res.Listeners, network.Dir)

	chain := network.Subnets[0].Chains[0]
	uris := network.GetNodeURIs()
	if len(uris) != plan.Nodes {
		return res, fmt.Errorf("%d node URIs for %d nodes", len(uris), plan.Nodes)
	}
	tr := &transferrer{ChainID: chain.ChainID, Key: key, Out: out}
	var urls []string
	for _, u := range uris {
		urls = append(urls, u.URI)
	}
	first, height, err := tr.run(ctx, urls, plan.Transfers)
	if !first.IsZero() {
		res.StartToFirstBlk = first.Sub(start)
	}
	res.Blocks = height
	if err != nil {
		return res, err
	}
	// Let the calls that follow an acceptance (new preference, a fresh
	// WaitForEvent) happen before the stop, as they would on a live chain.
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(plan.Settle):
	}
	return res, nil
}

func nodeDataDirs(rootDir string) []string {
	dirs, _ := filepath.Glob(filepath.Join(rootDir, "*", "NodeID-*"))
	return dirs
}

// fdLimit is what the node may raise its open-files limit to: its default
// (32768) when the hard limit allows, else the hard limit.
func fdLimit() uint64 {
	const want = 32 * 1024
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Max >= want {
		return want
	}
	return rl.Max
}

func newLogger(w io.Writer, level logging.Level) logging.Logger {
	return logging.NewLogger("", logging.NewWrappedCore(level, nopCloser{w}, logging.Plain.ConsoleEncoder()))
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
