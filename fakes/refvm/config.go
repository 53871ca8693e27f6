package refvm

import (
	"io"
	"slices"

	"github.com/vmtestbed/vmtestbed/sim"
	"github.com/vmtestbed/vmtestbed/transport"
)

// DefaultProtocol is the rpcchainvm protocol refvm speaks (avalanchego v1.15.0).
const DefaultProtocol uint = 46

// Version is what VM/Version returns for the correct VM.
const Version = "refvm/v0.1.0"

// Config selects the behaviour of one refvm plugin.
type Config struct {
	Variant   string              // "" = correct VM; else a broken variant name (see Variants)
	Transport transport.Transport // TCP{} for the binary, the node's *Bufnet in-process
	Protocol  uint                // announced in the handshake; 0 = DefaultProtocol ("wrong-protocol" overrides)
	Stderr    io.Writer           // logs; nil = os.Stderr
	Exit      func(code int)      // used by the crash variants; nil = os.Exit
	Terminate <-chan struct{}     // closed on SIGTERM (the binary); in-process the ctx ends instead
	StateSync bool                // turn on the state-sync implementation (StateSyncEnabled answers true)
	Clock     sim.Clock           // block timestamps; nil = the wall clock
}

// Broken variant names.
const (
	VariantWrongGenesisID        = "wrong-genesis-id"
	VariantVerifyAcceptsInvalid  = "verify-accepts-invalid"
	VariantNondeterministicParse = "nondeterministic-parse"
	VariantStaleLastAccepted     = "stale-last-accepted"
	VariantWrongProtocol         = "wrong-protocol"
	VariantHangShutdown          = "hang-shutdown"
	VariantCrashBuild            = "crash-build"
	VariantGetBlockStatus        = "getblock-status"
	VariantNoAppError            = "no-app-error"
	VariantCrashInitialize       = "crash-initialize"
	VariantVerifyOnce            = "verify-once"
	VariantVerifyRewindsAccepted = "verify-rewinds-accepted"
	VariantHeightIndexAtVerify   = "height-index-at-verify"
	VariantParseLocalTimestamp   = "parse-local-timestamp"
	VariantVerifyOwnBlocksOnly   = "verify-own-blocks-only"
	VariantMemDBState            = "memdb-state"
	VariantVolatileHeightIndex   = "volatile-height-index"
	VariantBuildOnCachedTip      = "build-on-cached-tip"
	VariantShutdownAwaitsEvents  = "shutdown-awaits-events"
	VariantDBAfterShutdown       = "db-after-shutdown"
	VariantHTTPNoStatus          = "http-no-status"
	VariantAppResponseError      = "app-response-error"
	VariantAppFailedError        = "app-failed-error"

	// Multi-node variants (MultiNodeVariants): one node alone cannot tell.
	VariantAcceptOnReject  = "accept-on-reject"
	VariantLocalBlockID    = "local-block-id"
	VariantGossipNoTargets = "gossip-no-targets"
	VariantPongToSelf      = "app-response-to-self"
	VariantBootstrapStale  = "bootstrap-stale-state"
)

// WrongProtocol is what the wrong-protocol variant announces.
const WrongProtocol uint = 41

// CrashMessage is what the crash-build variant prints to stderr before exiting 2.
const CrashMessage = "refvm: crashing in BuildBlock"

// InitCrashMessage is what the crash-initialize variant prints to stderr
// before exiting 3.
const InitCrashMessage = "refvm: cannot open the chain: the database is locked by another process"

// Variant names and explains one deliberately broken refvm.
type Variant struct{ Name, Description string }

var variants = []Variant{
	{VariantWrongGenesisID, "Initialize reports a last-accepted id that is not the id ParseBlock gives for the genesis bytes"},
	{VariantVerifyAcceptsInvalid, "BlockVerify succeeds for a block with an unknown parent or a wrong height"},
	{VariantNondeterministicParse, "ParseBlock gives a different id each call"},
	{VariantStaleLastAccepted, "after BlockAccept, GetBlockIDAtHeight/SetState still report the old last accepted"},
	{VariantWrongProtocol, "announces protocol 41 in the runtime handshake"},
	{VariantHangShutdown, "Shutdown never returns and SIGTERM is ignored: only SIGKILL ends it"},
	{VariantCrashBuild, "BuildBlock prints \"" + CrashMessage + "\" to stderr and exits 2"},
	{VariantGetBlockStatus, "GetBlock of an unknown id returns a gRPC NotFound status instead of the ERROR_NOT_FOUND enum"},
	{VariantNoAppError, "AppRequest for an unknown handler is silently dropped instead of SendAppError"},
	{VariantCrashInitialize, "Initialize prints \"" + InitCrashMessage + "\" to stderr and exits 3"},
	{VariantVerifyOnce, "a second BlockVerify of a verified block fails (\"already verified\")"},
	{VariantVerifyRewindsAccepted, "BlockVerify of the last accepted block re-executes it: its parent becomes last accepted again"},
	{VariantHeightIndexAtVerify, "BlockVerify already records the block in the height index, before it is accepted"},
	{VariantParseLocalTimestamp, "ParseBlock of a block the VM does not hold reports the local time as its timestamp"},
	{VariantVerifyOwnBlocksOnly, "BlockVerify fails for blocks other nodes built (their transactions are not in the local mempool)"},
	{VariantMemDBState, "the chain lives in a private in-memory database, not the node's: a restart is back at genesis"},
	{VariantVolatileHeightIndex, "the height index above genesis is kept in memory only: lost on restart"},
	{VariantBuildOnCachedTip, "with an accepted block preferred, BuildBlock builds on an in-memory tip that starts at genesis: wrong after a restart"},
	{VariantShutdownAwaitsEvents, "Shutdown waits for pending WaitForEvent calls, which only end when cancelled"},
	{VariantDBAfterShutdown, "after Shutdown returned, the plugin writes a marker to the node's database when told to terminate"},
	{VariantHTTPNoStatus, "the NewHTTPHandler server answers HTTP.HandleSimple with status 0"},
	{VariantAppResponseError, "AppResponse to refvm's own ping fails the call (AvalancheGo would shut the chain down)"},
	{VariantAppFailedError, "AppRequestFailed for refvm's own ping fails the call (AvalancheGo would shut the chain down)"},
}

// Variants lists the broken variants (the correct VM is not among them).
func Variants() []Variant {
	return slices.Clone(variants)
}

// multiNodeVariants break what several nodes can see: all but
// accept-on-reject pass every single-node check (the single-node conflict
// specs catch that one too), so they are kept apart from Variants (which the
// single-node conformance suite must each catch). The multi-node specs
// ([AVA-NET-…]) catch each.
var multiNodeVariants = []Variant{
	{VariantAcceptOnReject, "BlockReject of a block whose parent is accepted accepts it instead: the VM's chain takes a block the network rejected"},
	{VariantLocalBlockID, "a block's id hashes its bytes together with the node's own id: every other node gives the same block another id"},
	{VariantGossipNoTargets, "issued transactions are gossiped to nobody: SendAppGossip names no node and asks for no validators or peers"},
	{VariantPongToSelf, "a peer's ping AppRequest is answered with an AppResponse addressed to the VM's own node, so the requester never gets it"},
	{VariantBootstrapStale, "restarted on a chain above genesis, SetState(NormalOp) after bootstrapping reports the last accepted block SetState(Bootstrapping) did, not the blocks bootstrapping accepted"},
}

// MultiNodeVariants lists the broken variants only a multi-node run catches.
func MultiNodeVariants() []Variant {
	return slices.Clone(multiNodeVariants)
}

// knownVariant reports whether name is "" or a broken variant.
func knownVariant(name string) bool {
	if name == "" {
		return true
	}
	named := func(v Variant) bool { return v.Name == name }
	return slices.ContainsFunc(variants, named) || slices.ContainsFunc(multiNodeVariants, named)
}
