package avalanchego

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"

	"github.com/ava-labs/avalanchego/ids"
	"github.com/ava-labs/avalanchego/snow/validators"
	"github.com/ava-labs/avalanchego/utils/constants"
	"github.com/ava-labs/avalanchego/utils/crypto/bls"
)

// Validator is one member of the node's subnet validator set.
type Validator struct {
	NodeID    ids.NodeID
	PublicKey *bls.PublicKey // may be nil
	Weight    uint64
}

// PChainHeight is the fake P-chain's current height; the validator set is
// the same at every height from 0 to it.
const PChainHeight uint64 = 1

// ErrUnknown is returned by the validator state for chains, subnets and
// heights it does not know.
var ErrUnknown = errors.New("unknown to this node")

// validatorState is a fixed validators.State built from NodeConfig.Validators.
type validatorState struct {
	subnetID ids.ID
	chains   map[ids.ID]ids.ID // chain -> subnet
	vals     []Validator
}

var _ validators.State = (*validatorState)(nil)

func (s *validatorState) GetMinimumHeight(context.Context) (uint64, error) { return 0, nil }
func (s *validatorState) GetCurrentHeight(context.Context) (uint64, error) { return PChainHeight, nil }

func (s *validatorState) GetSubnetID(_ context.Context, chainID ids.ID) (ids.ID, error) {
	subnet, ok := s.chains[chainID]
	if !ok {
		return ids.Empty, fmt.Errorf("subnet of chain %s: %w", chainID, ErrUnknown)
	}
	return subnet, nil
}

func (s *validatorState) checkHeight(height uint64) error {
	if height > PChainHeight {
		return fmt.Errorf("p-chain height %d (current %d): %w", height, PChainHeight, ErrUnknown)
	}
	return nil
}

func (s *validatorState) GetValidatorSet(_ context.Context, height uint64, subnetID ids.ID) (map[ids.NodeID]*validators.GetValidatorOutput, error) {
	if err := s.checkHeight(height); err != nil {
		return nil, err
	}
	if subnetID != s.subnetID && subnetID != constants.PrimaryNetworkID {
		return nil, fmt.Errorf("validator set of subnet %s: %w", subnetID, ErrUnknown)
	}
	out := make(map[ids.NodeID]*validators.GetValidatorOutput, len(s.vals))
	for _, v := range s.vals {
		out[v.NodeID] = &validators.GetValidatorOutput{NodeID: v.NodeID, PublicKey: v.PublicKey, Weight: v.Weight}
	}
	return out, nil
}

func (s *validatorState) GetCurrentValidatorSet(_ context.Context, subnetID ids.ID) (map[ids.ID]*validators.GetCurrentValidatorOutput, uint64, error) {
	if subnetID != s.subnetID && subnetID != constants.PrimaryNetworkID {
		return nil, 0, fmt.Errorf("current validator set of subnet %s: %w", subnetID, ErrUnknown)
	}
	out := make(map[ids.ID]*validators.GetCurrentValidatorOutput, len(s.vals))
	for _, v := range s.vals {
		vid := ids.ID(sha256.Sum256(append([]byte("validation:"), v.NodeID.Bytes()...)))
		out[vid] = &validators.GetCurrentValidatorOutput{
			ValidationID: vid, NodeID: v.NodeID, PublicKey: v.PublicKey, Weight: v.Weight, IsActive: true,
		}
	}
	return out, PChainHeight, nil
}

func (s *validatorState) GetWarpValidatorSets(_ context.Context, height uint64) (map[ids.ID]validators.WarpSet, error) {
	if err := s.checkHeight(height); err != nil {
		return nil, err
	}
	set := validators.WarpSet{}
	for _, v := range s.vals {
		set.TotalWeight += v.Weight
		if v.PublicKey == nil {
			continue
		}
		set.Validators = append(set.Validators, &validators.Warp{
			PublicKey:      v.PublicKey,
			PublicKeyBytes: bls.PublicKeyToUncompressedBytes(v.PublicKey),
			Weight:         v.Weight,
			NodeIDs:        []ids.NodeID{v.NodeID},
		})
	}
	slices.SortFunc(set.Validators, (*validators.Warp).Compare)
	return map[ids.ID]validators.WarpSet{s.subnetID: set}, nil
}
