package avalanchego_test

import (
	"context"
	"testing"

	"github.com/ava-labs/avalanchego/ids"
	"google.golang.org/protobuf/types/known/timestamppb"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/transport"
)

// TestNodeIdentityOverrides: set identity fields replace the derived ids
// everywhere the node announces them; unset ones keep the derived value.
func TestNodeIdentityOverrides(t *testing.T) {
	derived, err := avalanchego.NewNode(context.Background(), avalanchego.NodeConfig{Transport: transport.NewBufnet(), Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer derived.Close()
	upgrades := &vmpb.NetworkUpgrades{BanffTime: timestamppb.Now()}
	cfg := avalanchego.NodeConfig{
		Transport: transport.NewBufnet(), Seed: 5,
		NodeID: ids.GenerateTestNodeID(), ChainID: ids.GenerateTestID(), SubnetID: ids.GenerateTestID(),
		XChainID: ids.GenerateTestID(), AvaxAssetID: ids.GenerateTestID(), NetworkUpgrades: upgrades,
	}
	n, err := avalanchego.NewNode(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	req := n.InitializeRequest(avalanchego.NewestProtocol)
	want := derived.InitializeRequest(avalanchego.NewestProtocol)
	for name, got := range map[string][2][]byte{
		"node_id":       {req.GetNodeId(), cfg.NodeID.Bytes()},
		"chain_id":      {req.GetChainId(), cfg.ChainID[:]},
		"subnet_id":     {req.GetSubnetId(), cfg.SubnetID[:]},
		"x_chain_id":    {req.GetXChainId(), cfg.XChainID[:]},
		"avax_asset_id": {req.GetAvaxAssetId(), cfg.AvaxAssetID[:]},
		"c_chain_id":    {req.GetCChainId(), want.GetCChainId()}, // not overridden
	} {
		if string(got[0]) != string(got[1]) {
			t.Errorf("%s = %x, want %x", name, got[0], got[1])
		}
	}
	if n.NodeID() != cfg.NodeID || n.ChainID() != cfg.ChainID || n.SubnetID() != cfg.SubnetID {
		t.Errorf("accessors do not report the overrides")
	}
	if !req.GetNetworkUpgrades().GetBanffTime().AsTime().Equal(upgrades.GetBanffTime().AsTime()) || req.GetNetworkUpgrades().GetDurangoTime() != nil {
		t.Errorf("network upgrades not replaced: %v", req.GetNetworkUpgrades())
	}
}
