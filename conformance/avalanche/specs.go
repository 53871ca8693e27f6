package avalanche

import (
	"fmt"
	"slices"
)

// Spec is one conformance spec: a stable ID and its RFC 2119 statement.
type Spec struct{ ID, Text string }

// Title is how the spec appears in reports: "[ID] Text".
func (s Spec) Title() string { return fmt.Sprintf("[%s] %s", s.ID, s.Text) }

// specList is every spec of the suite, in the order they run. IDs are
// stable: a dropped spec's ID is never reused (AVA-HSK-002, a duplicate of
// AVA-PRE-002, and AVA-BLK-003, a duplicate of AVA-BLK-004, are gone).
var specList = []Spec{
	{"AVA-HSK-001", "The plugin MUST complete the runtime handshake announcing exactly the node's rpcchainvm protocol, as AvalancheGo requires"},
	{"AVA-PRE-002", "Version MUST return a non-empty version before Initialize"},
	{"AVA-PRE-001", "In the pre-init cycle (Version, Shutdown, no Initialize) Shutdown MUST return and the plugin MUST exit without SIGKILL"},
	{"AVA-INI-001", "Initialize MUST accept a complete request and report a last accepted block with 32-byte ids and its bytes"},
	{"AVA-INI-002", "On a fresh chain the last accepted block MUST be genesis, at height 0"},
	{"AVA-HTTP-001", "Handlers from CreateHandlers MUST have unique prefixes and reachable servers answering HTTP.HandleSimple with a valid status"},
	{"AVA-HTTP-002", "The server from NewHTTPHandler, when given, MUST answer a request routed to the chain with a valid HTTP status"},
	{"AVA-SYN-001", "StateSyncEnabled MUST answer; when enabled, GetLastStateSummary and ParseStateSummary MUST agree on id and height"},
	{"AVA-STA-001", "SetState(Bootstrapping) MUST return the last accepted block Initialize reported"},
	{"AVA-INI-005", "GetBlockIDAtHeight(0) MUST return the genesis id"},
	{"AVA-HLT-001", "Health MUST answer from bootstrapping on, with JSON details"},
	{"AVA-APP-003", "Connected for this node and a peer (announcing the emulated release), Disconnected and a reconnect MUST succeed, and the VM MUST answer the reconnected peer"},
	{"AVA-INI-003", "ParseBlock of the genesis bytes MUST give the id Initialize reported"},
	{"AVA-INI-004", "GetBlock of the last accepted id MUST return the same bytes, parent and height as Initialize"},
	{"AVA-STA-002", "SetState(NormalOp) MUST return the last accepted block"},
	{"AVA-APP-001", "An AppRequest for an unknown handler MUST be answered with SendAppError to the requester and request id"},
	{"AVA-APP-002", "AppGossip with unknown content MUST succeed and MUST NOT be answered"},
	{"AVA-APP-004", "When a peer answers an AppRequest the VM sent, the VM MUST accept the AppResponse the node delivers"},
	{"AVA-APP-005", "When an AppRequest the VM sent cannot be delivered, the VM MUST accept the AppRequestFailed (-1, \"timed out\") the node delivers and keep serving"},
	{"AVA-MET-001", "Gather MUST answer with uniquely named metric families"},
	{"AVA-BLK-001", "With a pending transaction, WaitForEvent MUST return MESSAGE_BUILD_BLOCK"},
	{"AVA-BLK-002", "BuildBlock MUST return a block on the preferred block, at its height plus one"},
	{"AVA-BLK-005", "BlockVerify MUST succeed for a freshly built block"},
	{"AVA-BLK-017", "GetBlockIDAtHeight MUST NOT report a block that is verified but not accepted"},
	{"AVA-BLK-015", "BlockVerify of a verified, undecided block MUST succeed again, as the proposervm verifies an inner block once per block wrapping it"},
	{"AVA-BLK-011", "SetPreference MUST be idempotent, and BuildBlock MUST build on the preferred block even while it is undecided"},
	{"AVA-BLK-004", "ParseBlock of a built block's bytes MUST agree with BuildBlock on id, parent, height and timestamp"},
	{"AVA-BLK-006", "After BlockAccept, GetBlockIDAtHeight MUST return the accepted block at its height"},
	{"AVA-BLK-016", "BlockVerify of an accepted block MUST NOT change the last accepted block"},
	{"AVA-STA-003", "After BlockAccept, SetState MUST report the newly accepted block as last accepted"},
	{"AVA-BLK-014", "GetBlock of an accepted block MUST return its bytes and height"},
	{"AVA-BLK-007", "GetBlock of an unknown id MUST answer ERROR_NOT_FOUND in the reply, not a gRPC error"},
	{"AVA-BLK-008", "GetBlockIDAtHeight above the last accepted height MUST answer ERROR_NOT_FOUND in the reply"},
	{"AVA-BLK-013", "ParseBlock MUST reject bytes that are not a block with an error, and the plugin MUST keep serving"},
	{"AVA-BLK-009", "GetAncestors MUST return the block's bytes first, then its ancestors by descending height, at most max_blocks_num"},
	{"AVA-CON-001", "Two conflicting blocks built on the same parent MUST both verify"},
	{"AVA-CON-002", "After accepting one sibling and rejecting the other, the accepted one MUST be last accepted"},
	{"AVA-CON-003", "The rejected sibling MUST NOT be the block at its height"},
	{"AVA-CTX-001", "A block built with p_chain_height that asks to verify with context MUST verify with that p_chain_height"},
	{"AVA-BLK-012", "ParseBlock MUST accept a block whose parent the VM has not seen (bootstrapping parses newest first), and BlockVerify MUST then fail for it"},
	{"AVA-BLK-010", "BatchedParseBlock MUST agree with BuildBlock on each block's id, parent, height and timestamp"},
	{"AVA-DET-001", "A second plugin instance on the same genesis MUST parse the first one's blocks to the same ids, parents, heights and timestamps"},
	{"AVA-DET-002", "The second instance MUST verify and accept those blocks in height order and then report the same last accepted block and the same block at every height"},
	{"AVA-SHD-001", "After Initialize, Shutdown MUST return and the plugin MUST exit within the grace period without SIGKILL"},
	{"AVA-RST-001", "Relaunched on the same database, Initialize MUST report the last accepted block from before the restart"},
	{"AVA-RST-002", "After the restart, GetBlockIDAtHeight and GetBlock MUST return every block accepted before it"},
	{"AVA-RST-003", "After the restart, a new block MUST build on the restored last accepted block, verify and be accepted"},
	{"AVA-SHD-002", "Shutdown MUST return while a WaitForEvent is pending and HTTP requests are in flight, as AvalancheGo awaits neither"},
	{"AVA-SHD-003", "After Shutdown returned, the plugin MUST NOT use its database: the node stops serving it right away"},
	{"AVA-SEQ-001", "The VM MUST complete AvalancheGo's start sequence and build and accept a block in steady state"},
	// Multi-node specs: registered only with Config.Nodes >= 2.
	{"AVA-NET-001", "A block built on one instance MUST verify on every other instance and be accepted there with the same id"},
	{"AVA-NET-002", "When the VM gossips a transaction issued on one instance, the gossip MUST reach every other instance (AppGossip)"},
	{"AVA-NET-003", "When two instances propose conflicting blocks at once, every instance MUST accept the same one; the other MUST be rejected and MUST NOT be in any instance's chain"},
	{"AVA-NET-004", "A restarted instance MUST bootstrap from its peers to their last accepted block, and its SetState(NormalOp) MUST report that block"},
	{"AVA-NET-005", "An AppRequest one instance sends another MUST be answered with AppResponse or AppError to the requester before its deadline"},
}

// Specs lists every spec of the suite.
func Specs() []Spec { return slices.Clone(specList) }

// spec returns the spec with the given ID; an unknown ID is a bug in this
// package, caught by its tests.
func spec(id string) Spec {
	for _, s := range specList {
		if s.ID == id {
			return s
		}
	}
	panic("conformance/avalanche: unknown spec ID " + id)
}
