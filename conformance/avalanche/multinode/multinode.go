// Package multinode binds the Avalanche suite's multi-node specs
// ([AVA-NET-…]) to harness.Network. The suite does not import harness (the
// two are siblings in the dependency order); the CLI and the suite's own
// tests pass Network here as avalanche.Config.NewNetwork.
package multinode

import (
	"context"

	"github.com/vmtestbed/vmtestbed/conformance/avalanche"
	"github.com/vmtestbed/vmtestbed/harness"
)

// Network builds the specs' network: harness.Network with every node
// running the in-process refvm variant ("" = the correct VM), or the plugin
// binary NetworkOptions.Plugin names.
func Network(variant string) avalanche.NewNetworkFunc {
	return func(ctx context.Context, o avalanche.NetworkOptions) (avalanche.Network, error) {
		variants := make([]string, o.Nodes)
		for i := range variants {
			variants[i] = variant
		}
		n, err := harness.NewNetwork(ctx, harness.NetworkConfig{Seed: o.Seed, Nodes: o.Nodes, Variants: variants,
			Plugin: o.Plugin, HandshakeTimeout: o.HandshakeTimeout, Protocol: o.Protocol, SameWire: o.SameWire, Genesis: o.Genesis, Log: o.Log})
		if err != nil {
			return nil, err
		}
		return n, nil
	}
}
