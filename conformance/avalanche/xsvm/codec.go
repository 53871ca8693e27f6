package xsvm

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/ava-labs/avalanchego/ids"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	//lint:ignore SA1019 xsvm addresses are RIPEMD-160(SHA-256(pubkey)); no other hash will do.
	"golang.org/x/crypto/ripemd160"
)

// xsvm serialises with avalanchego's linear codec: a big-endian uint16 codec
// version, then fields in declaration order (fixed arrays raw, integers
// big-endian, slices as a uint32 length then elements, an interface as a
// uint32 type id then the value). This file writes the two shapes the
// workload needs; the integration test against the real plugin proves them.

const (
	codecVersion   = 0
	transferTypeID = 0 // Transfer is the first type xsvm's tx codec registers
	signatureLen   = 65
)

// key is a secp256k1 signing key with its xsvm address.
type key struct {
	priv *secp256k1.PrivateKey
	addr ids.ShortID
}

func newKey(seed []byte) key {
	priv := secp256k1.PrivKeyFromBytes(seed)
	return key{priv: priv, addr: address(priv.PubKey())}
}

// address is RIPEMD-160(SHA-256(compressed public key)), avalanchego's short id.
func address(pub *secp256k1.PublicKey) ids.ShortID {
	sum := sha256.Sum256(pub.SerializeCompressed())
	h := ripemd160.New()
	h.Write(sum[:])
	var id ids.ShortID
	copy(id[:], h.Sum(nil))
	return id
}

// sign returns xsvm's 65-byte [r || s || v] signature over SHA-256(msg).
func (k key) sign(msg []byte) [signatureLen]byte {
	hash := sha256.Sum256(msg)
	compact := ecdsa.SignCompact(k.priv, hash[:], false) // [27+v || r || s]
	var sig [signatureLen]byte
	copy(sig[:], compact[1:])
	sig[signatureLen-1] = compact[0] - 27
	return sig
}

type genesisAlloc struct {
	addr    ids.ShortID
	balance uint64
}

// encodeGenesis writes xsvm's Genesis{Timestamp int64; Allocations []Allocation}.
func encodeGenesis(timestamp int64, allocs []genesisAlloc) []byte {
	b := binary.BigEndian.AppendUint16(nil, codecVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(timestamp))
	b = binary.BigEndian.AppendUint32(b, uint32(len(allocs)))
	for _, a := range allocs {
		b = append(b, a.addr[:]...)
		b = binary.BigEndian.AppendUint64(b, a.balance)
	}
	return b
}

type transfer struct {
	chainID ids.ID
	nonce   uint64
	maxFee  uint64
	assetID ids.ID
	amount  uint64
	to      ids.ShortID
}

// unsignedBytes is what the sender signs: the Transfer marshalled as the
// Unsigned interface (version, type id, fields).
func (t transfer) unsignedBytes() []byte {
	b := binary.BigEndian.AppendUint16(nil, codecVersion)
	return t.appendBody(b)
}

func (t transfer) appendBody(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, transferTypeID)
	b = append(b, t.chainID[:]...)
	b = binary.BigEndian.AppendUint64(b, t.nonce)
	b = binary.BigEndian.AppendUint64(b, t.maxFee)
	b = append(b, t.assetID[:]...)
	b = binary.BigEndian.AppendUint64(b, t.amount)
	return append(b, t.to[:]...)
}

// signedTx is Tx{Unsigned; Signature [65]byte} marshalled.
func (t transfer) signedTx(k key) []byte {
	sig := k.sign(t.unsignedBytes())
	b := binary.BigEndian.AppendUint16(nil, codecVersion)
	b = t.appendBody(b)
	return append(b, sig[:]...)
}

// txID is SHA-256 of the signed bytes, the id xsvm.issueTx answers with.
func txID(signed []byte) ids.ID { return sha256.Sum256(signed) }

func (t transfer) String() string {
	return fmt.Sprintf("transfer %d of %s to %s (nonce %d)", t.amount, t.assetID, t.to, t.nonce)
}
