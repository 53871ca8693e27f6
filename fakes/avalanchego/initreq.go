package avalanchego

import (
	"time"

	"github.com/ava-labs/avalanchego/upgrade"
	"github.com/ava-labs/avalanchego/utils/crypto/bls"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
)

// InitializeRequest is the complete request AvalancheGo sends: 32-byte ids,
// the 20-byte node id, the compressed BLS public key of the node's warp
// signer, the node's service addresses, and network_upgrades with every
// timestamp set (avalanchego's local-network schedule, upgrade.Default,
// unless NodeConfig.NetworkUpgrades replaces it).
//
// The message is the same for every protocol in the table; protocols before
// 37 (no network_upgrades) and before 40/44 (no Granite/Helicon fields)
// simply ignore the fields they do not know, as proto3 decoders do, so they
// are always sent.
func (n *Node) InitializeRequest(protocol uint) *vmpb.InitializeRequest {
	_ = protocol // one wire message serves every protocol, see above
	upgrades := NetworkUpgrades(upgrade.Default)
	if n.cfg.NetworkUpgrades != nil {
		upgrades = proto.Clone(n.cfg.NetworkUpgrades).(*vmpb.NetworkUpgrades)
	}
	return &vmpb.InitializeRequest{
		NetworkId:       n.cfg.NetworkID,
		SubnetId:        n.subnetID[:],
		ChainId:         n.chainID[:],
		NodeId:          n.nodeID.Bytes(),
		PublicKey:       bls.PublicKeyToCompressedBytes(n.signer.PublicKey()),
		XChainId:        n.xChainID[:],
		CChainId:        n.cChainID[:],
		AvaxAssetId:     n.avaxAsset[:],
		ChainDataDir:    n.dataDir,
		GenesisBytes:    n.cfg.Genesis,
		UpgradeBytes:    n.cfg.Upgrade,
		ConfigBytes:     n.cfg.Config,
		DbServerAddr:    n.dbAddr,
		ServerAddr:      n.serverAddr,
		NetworkUpgrades: upgrades,
	}
}

// NetworkUpgrades converts an avalanchego upgrade schedule to its wire form.
func NetworkUpgrades(c upgrade.Config) *vmpb.NetworkUpgrades {
	ts := func(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }
	return &vmpb.NetworkUpgrades{
		ApricotPhase_1Time:            ts(c.ApricotPhase1Time),
		ApricotPhase_2Time:            ts(c.ApricotPhase2Time),
		ApricotPhase_3Time:            ts(c.ApricotPhase3Time),
		ApricotPhase_4Time:            ts(c.ApricotPhase4Time),
		ApricotPhase_4MinPChainHeight: c.ApricotPhase4MinPChainHeight,
		ApricotPhase_5Time:            ts(c.ApricotPhase5Time),
		ApricotPhasePre_6Time:         ts(c.ApricotPhasePre6Time),
		ApricotPhase_6Time:            ts(c.ApricotPhase6Time),
		ApricotPhasePost_6Time:        ts(c.ApricotPhasePost6Time),
		BanffTime:                     ts(c.BanffTime),
		CortinaTime:                   ts(c.CortinaTime),
		CortinaXChainStopVertexId:     c.CortinaXChainStopVertexID[:],
		DurangoTime:                   ts(c.DurangoTime),
		EtnaTime:                      ts(c.EtnaTime),
		FortunaTime:                   ts(c.FortunaTime),
		GraniteTime:                   ts(c.GraniteTime),
		GraniteEpochDuration:          durationpb.New(c.GraniteEpochDuration),
		HeliconTime:                   ts(c.HeliconTime),
	}
}
