// Package refvm is the reference Avalanche chain VM of vmtestbed, written
// straight against vm.proto: it implements vmpb.VMServer and httppb.HTTPServer
// itself (not through avalanchego's rpcchainvm server), the way the
// "VM in any language" guide describes. It also ships twenty-one
// deliberately broken variants (see Variants) that the conformance suite
// must catch.
//
// The chain is a key/value store. A transaction sets one key to one value; a
// block carries an ordered list of transactions on top of its parent.
//
// Block encoding (canonical: every block has exactly one encoding, and its
// ID is sha256 of those bytes):
//
//	version   1 byte  (0x01)
//	parent   32 bytes
//	height    8 bytes big-endian
//	timestamp 8 bytes big-endian unix seconds
//	ntx       4 bytes big-endian
//	ntx times: keylen 4 bytes, key, valuelen 4 bytes, value
//
// Nothing may follow the last transaction. Keys are 1..256 bytes, values at
// most 4096 bytes, a block holds at most 1024 transactions.
//
// Genesis bytes are JSON {"timestamp": unix-seconds, "state": {"k": "v"}};
// empty genesis bytes mean DefaultGenesis. The genesis block has the zero
// parent, height 0, the genesis timestamp and the genesis state as its
// transactions in key order, so equal genesis bytes give equal genesis ids.
//
// Accepted blocks and state live in the node's database (rpcdb at
// db_server_addr). The JSON-RPC 2.0 API (refvm.issueTx, refvm.get,
// refvm.lastAccepted, refvm.getBlock) is served through HTTP.HandleSimple
// and HTTP.Handle on the "/rpc" handler of CreateHandlers and on the server
// of NewHTTPHandler. Issued txs are gossiped with AppGossip; gossip from
// peers enters the mempool. AppRequest "ping" is answered "pong"; any other
// request gets SendAppError with code ErrCodeUnknownHandler.
//
// With Config.StateSync, a state summary is (height, block, state hash, full
// state); StateSummaryAccept applies it synchronously (MODE_STATIC), so
// WaitForEvent never needs to report STATE_SYNC_FINISHED.
package refvm
