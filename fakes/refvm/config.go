package refvm

import (
	"io"
	"time"

	"github.com/vmtestbed/vmtestbed/internal/transport"
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
	Exit      func(code int)      // used by the crash variant; nil = os.Exit
	StateSync bool                // turn on the state-sync implementation (StateSyncEnabled answers true)
	Clock     func() time.Time    // block timestamps; nil = time.Now
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
)

// WrongProtocol is what the wrong-protocol variant announces.
const WrongProtocol uint = 41

// CrashMessage is what the crash-build variant prints to stderr before exiting 2.
const CrashMessage = "refvm: crashing in BuildBlock"

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
}

// Variants lists the broken variants (the correct VM is not among them).
func Variants() []Variant {
	return append([]Variant(nil), variants...)
}

// knownVariant reports whether name is "" or a broken variant.
func knownVariant(name string) bool {
	if name == "" {
		return true
	}
	for _, v := range variants {
		if v.Name == name {
			return true
		}
	}
	return false
}
