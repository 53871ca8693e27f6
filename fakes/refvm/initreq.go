package refvm

import (
	"fmt"
	"reflect"

	"google.golang.org/protobuf/types/known/timestamppb"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	"github.com/ava-labs/avalanchego/utils/crypto/bls"
)

// validateInitialize checks an InitializeRequest the way real plugins do:
// 32-byte ids, a 20-byte node id, a valid compressed BLS public key, database
// and node service addresses, and every network-upgrade timestamp present.
func validateInitialize(req *vmpb.InitializeRequest) error {
	for _, f := range []struct {
		name string
		b    []byte
	}{{"subnet_id", req.SubnetId}, {"chain_id", req.ChainId}, {"x_chain_id", req.XChainId}, {"c_chain_id", req.CChainId}, {"avax_asset_id", req.AvaxAssetId}} {
		if len(f.b) != 32 {
			return fmt.Errorf("%s is %d bytes, want 32", f.name, len(f.b))
		}
	}
	if len(req.NodeId) != 20 {
		return fmt.Errorf("node_id is %d bytes, want 20", len(req.NodeId))
	}
	if len(req.PublicKey) == 0 {
		return fmt.Errorf("public_key is missing")
	}
	if _, err := bls.PublicKeyFromCompressedBytes(req.PublicKey); err != nil {
		return fmt.Errorf("public_key: %w", err)
	}
	if req.DbServerAddr == "" {
		return fmt.Errorf("db_server_addr is empty")
	}
	if req.ServerAddr == "" {
		return fmt.Errorf("server_addr is empty")
	}
	return validateUpgrades(req.NetworkUpgrades)
}

// validateUpgrades requires every Timestamp field of NetworkUpgrades to be set
// and valid ("invalid nil Timestamp" in real plugins).
func validateUpgrades(u *vmpb.NetworkUpgrades) error {
	if u == nil {
		return fmt.Errorf("network_upgrades is missing")
	}
	rv := reflect.ValueOf(u).Elem()
	rt := rv.Type()
	tsType := reflect.TypeOf((*timestamppb.Timestamp)(nil))
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		if !f.IsExported() || f.Type != tsType {
			continue
		}
		ts := rv.Field(i).Interface().(*timestamppb.Timestamp)
		if ts == nil {
			return fmt.Errorf("network_upgrades.%s: invalid nil Timestamp", f.Name)
		}
		if err := ts.CheckValid(); err != nil {
			return fmt.Errorf("network_upgrades.%s: %w", f.Name, err)
		}
	}
	return nil
}
