package avalanchego

import (
	"crypto/sha256"
	"fmt"

	"github.com/ava-labs/avalanchego/ids"
	"github.com/ava-labs/avalanchego/utils/crypto/bls"
	"github.com/ava-labs/avalanchego/utils/crypto/bls/signer/localsigner"
)

// derive gives 32 deterministic bytes for (seed, label).
func derive(seed int64, label string) [32]byte {
	return sha256.Sum256(fmt.Appendf(nil, "vmtestbed/%s/%d", label, seed))
}

func deriveID(seed int64, label string) ids.ID { return ids.ID(derive(seed, label)) }

func deriveNodeID(seed int64, label string) ids.NodeID {
	b := derive(seed, label)
	var n ids.NodeID
	copy(n[:], b[:ids.NodeIDLen])
	return n
}

// deriveSigner makes a BLS secret key from the seed: 32 derived bytes with
// the top two bits cleared are always below the BLS12-381 group order, so
// localsigner.FromBytes accepts them. The key is deterministic per Seed.
func deriveSigner(seed int64) (*localsigner.LocalSigner, error) {
	b := derive(seed, "bls-secret-key")
	b[0] &= 0x3f
	b[31] |= 1 // never the zero key
	s, err := localsigner.FromBytes(b[:])
	if err != nil {
		return nil, fmt.Errorf("bls key from seed %d: %w", seed, err)
	}
	return s, nil
}

// Identity is the node id and BLS public key NewNode derives from seed, so
// a network can build its validator set before it starts its nodes.
func Identity(seed int64) (ids.NodeID, *bls.PublicKey, error) {
	s, err := deriveSigner(seed)
	if err != nil {
		return ids.EmptyNodeID, nil, err
	}
	return deriveNodeID(seed, "node-id"), s.PublicKey(), nil
}
