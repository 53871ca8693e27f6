package avalanche

import (
	"fmt"
	"slices"
)

// Spec is one conformance spec: a stable ID and its RFC 2119 statement.
type Spec struct{ ID, Text string }

// Title is how the spec appears in reports: "[ID] Text".
func (s Spec) Title() string { return fmt.Sprintf("[%s] %s", s.ID, s.Text) }

// specList is every spec of the suite, in the order they run.
var specList = []Spec{
	{"AVA-HSK-001", "The plugin MUST complete the runtime handshake, announcing a protocol wire-identical to the node's"},
	{"AVA-HSK-002", "The address announced in the handshake MUST serve vm.VM (Version answers)"},
	{"AVA-PRE-001", "In the pre-init cycle (Version, Shutdown, no Initialize) Shutdown MUST return and the plugin MUST exit without SIGKILL"},
	{"AVA-PRE-002", "Version MUST return a non-empty version before Initialize"},
	{"AVA-INI-001", "Initialize MUST accept a complete request and report a last accepted block with 32-byte ids and its bytes"},
	{"AVA-INI-002", "On a fresh chain the last accepted block MUST be genesis, at height 0"},
	{"AVA-INI-003", "ParseBlock of the genesis bytes MUST give the id Initialize reported"},
	{"AVA-INI-004", "GetBlock of the last accepted id MUST return the same bytes, parent and height as Initialize"},
	{"AVA-INI-005", "GetBlockIDAtHeight(0) MUST return the genesis id"},
	{"AVA-STA-001", "SetState(Bootstrapping) MUST return the last accepted block Initialize reported"},
	{"AVA-STA-002", "SetState(NormalOp) MUST return the last accepted block"},
	{"AVA-STA-003", "After BlockAccept, SetState MUST report the newly accepted block as last accepted"},
	{"AVA-HTTP-001", "Handlers from CreateHandlers MUST have unique prefixes and reachable servers answering HTTP.HandleSimple"},
	{"AVA-HTTP-002", "The server from NewHTTPHandler, when given, MUST answer HTTP.HandleSimple"},
	{"AVA-BLK-001", "With a pending transaction, WaitForEvent MUST return MESSAGE_BUILD_BLOCK"},
	{"AVA-BLK-002", "BuildBlock MUST return a block on the preferred block, at its height plus one"},
	{"AVA-BLK-003", "ParseBlock MUST return the same block ID for the same bytes"},
	{"AVA-BLK-004", "ParseBlock of a built block's bytes MUST agree with BuildBlock on id, parent, height and timestamp"},
	{"AVA-BLK-005", "BlockVerify MUST succeed for a freshly built block, also when repeated"},
	{"AVA-BLK-006", "After BlockAccept, GetBlockIDAtHeight MUST return the accepted block at its height"},
	{"AVA-BLK-007", "GetBlock of an unknown id MUST answer ERROR_NOT_FOUND in the reply, not a gRPC error"},
	{"AVA-BLK-008", "GetBlockIDAtHeight above the last accepted height MUST answer ERROR_NOT_FOUND in the reply"},
	{"AVA-BLK-009", "GetAncestors MUST return the block's bytes first, then its ancestors by descending height, at most max_blocks_num"},
	{"AVA-BLK-010", "BatchedParseBlock MUST agree with ParseBlock for each block"},
	{"AVA-BLK-011", "SetPreference MUST be idempotent"},
	{"AVA-BLK-012", "BlockVerify MUST fail for a block whose parent is unknown to the VM"},
	{"AVA-BLK-013", "ParseBlock MUST reject bytes that are not a block with an error, and the plugin MUST keep serving"},
	{"AVA-BLK-014", "GetBlock of an accepted block MUST return its bytes and height"},
	{"AVA-CON-001", "Two conflicting blocks built on the same parent MUST both verify"},
	{"AVA-CON-002", "After accepting one sibling and rejecting the other, the accepted one MUST be last accepted"},
	{"AVA-CON-003", "The rejected sibling MUST NOT be the block at its height"},
	{"AVA-APP-001", "An AppRequest for an unknown handler MUST be answered with SendAppError to the requester and request id"},
	{"AVA-APP-002", "AppGossip with unknown content MUST NOT fail the call"},
	{"AVA-APP-003", "Connected and Disconnected for a peer MUST succeed"},
	{"AVA-HLT-001", "Health MUST answer after Initialize; details, when present, SHOULD be JSON"},
	{"AVA-MET-001", "Gather MUST answer with uniquely named metric families"},
	{"AVA-SYN-001", "StateSyncEnabled MUST answer; when enabled, GetLastStateSummary and ParseStateSummary MUST agree on id and height"},
	{"AVA-CTX-001", "A block built with p_chain_height that asks to verify with context MUST verify with that p_chain_height"},
	{"AVA-SEQ-001", "The VM MUST complete AvalancheGo's start sequence and build and accept a block in steady state"},
	{"AVA-SHD-001", "After Initialize, Shutdown MUST return and the plugin MUST exit within the grace period without SIGKILL"},
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
