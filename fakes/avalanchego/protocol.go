package avalanchego

import (
	"fmt"
	"slices"
	"strings"
)

// NewestProtocol is the rpcchainvm protocol of avalanchego v1.15.0.
const NewestProtocol uint = 46

// OldestProtocol is the oldest protocol in the table.
const OldestProtocol uint = 33

// ProtocolInfo describes one rpcchainvm protocol version.
type ProtocolInfo struct {
	Version    uint
	Releases   []string // AvalancheGo releases that speak it, oldest first
	WireChange string   // what changed on the wire relative to Version-1
}

// protocols is the spec's table (version/compatibility.json of avalanchego).
var protocols = []ProtocolInfo{
	{33, []string{"v1.11.0"}, "SendAppError added"},
	{34, []string{"v1.11.2"}, "gossip count fields"},
	{35, releaseRange("v1.11.", 3, 9), "SendAppGossipSpecific, VerifyHeightIndex removed"},
	{36, []string{"v1.11.10"}, "block Status removed"},
	{37, releaseRange("v1.11.", 11, 12), "cross-chain app messages removed; network_upgrades added"},
	{38, []string{"v1.11.13", "v1.12.0", "v1.12.1"}, "GetCurrentValidatorSet added"},
	{39, []string{"v1.12.2", "v1.13.0"}, "Keystore removed"},
	{40, []string{"v1.13.1"}, "HTTP.Handle returns headers; Granite time"},
	{41, []string{"v1.13.2"}, "CreateHTTP2Handler added"},
	{42, []string{"v1.13.3"}, "Messenger.Notify replaced by VM.WaitForEvent; NewHTTPHandler"},
	{43, releaseRange("v1.13.", 4, 5), "none"},
	{44, releaseRange("v1.14.", 0, 1), "GetWarpValidatorSet(s); epoch duration, Helicon fields"},
	{45, []string{"v1.14.2"}, "GetWarpValidatorSet removed"},
	{46, []string{"v1.15.0"}, "none"},
}

func releaseRange(prefix string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

// Protocols returns the table, oldest first. The result is a copy.
func Protocols() []ProtocolInfo {
	out := make([]ProtocolInfo, len(protocols))
	for i, p := range protocols {
		p.Releases = slices.Clone(p.Releases)
		out[i] = p
	}
	return out
}

// LookupProtocol returns the table entry for v.
func LookupProtocol(v uint) (ProtocolInfo, bool) {
	for _, p := range protocols {
		if p.Version == v {
			p.Releases = slices.Clone(p.Releases)
			return p, true
		}
	}
	return ProtocolInfo{}, false
}

// ProtocolForRelease maps an AvalancheGo release ("v1.14.2" or "1.14.2") to
// its protocol.
func ProtocolForRelease(release string) (uint, error) {
	r := release
	if !strings.HasPrefix(r, "v") {
		r = "v" + r
	}
	for _, p := range protocols {
		if slices.Contains(p.Releases, r) {
			return p.Version, nil
		}
	}
	return 0, fmt.Errorf("release %q: not in the protocol table (protocols %d..%d)", release, OldestProtocol, NewestProtocol)
}

// SameWire reports whether two protocols have an identical wire format:
// a version whose wire change is "none" is identical to its predecessor.
func SameWire(a, b uint) bool {
	if a == b {
		return true
	}
	if a > b {
		a, b = b, a
	}
	for v := a + 1; v <= b; v++ {
		p, ok := LookupProtocol(v)
		if !ok || p.WireChange != "none" {
			return false
		}
	}
	return true
}

// releasesText names the releases speaking v, or says it is unknown.
func releasesText(v uint) string {
	p, ok := LookupProtocol(v)
	if !ok {
		return fmt.Sprintf("no AvalancheGo release in the table (%d..%d)", OldestProtocol, NewestProtocol)
	}
	return "AvalancheGo " + strings.Join(p.Releases, ", ")
}

// ReleaseForProtocol is the newest AvalancheGo release that speaks v, or ""
// when v is not in the table.
func ReleaseForProtocol(v uint) string {
	p, ok := LookupProtocol(v)
	if !ok {
		return ""
	}
	return p.Releases[len(p.Releases)-1]
}

// NodeVersionForProtocol is what a node of the newest release speaking v
// announces to its peers and in Connected, e.g. "avalanchego/1.14.2".
func NodeVersionForProtocol(v uint) string {
	r := ReleaseForProtocol(v)
	if r == "" {
		r = ReleaseForProtocol(NewestProtocol)
	}
	return "avalanchego/" + strings.TrimPrefix(r, "v")
}

// MismatchMessage explains a protocol mismatch: the plugin's protocol, the
// releases that speak it, ours, and how to emulate a release the plugin
// speaks with.
func MismatchMessage(plugin, ours uint) string {
	msg := fmt.Sprintf("plugin speaks rpcchainvm protocol %d (%s); this node emulates protocol %d (%s) and, like AvalancheGo, requires an exact match",
		plugin, releasesText(plugin), ours, releasesText(ours))
	if r := ReleaseForProtocol(plugin); r != "" {
		msg += fmt.Sprintf("; emulate the plugin's release with --avalanchego %s (or --protocol %d)", r, plugin)
		if SameWire(plugin, ours) {
			msg += ", or accept the identical wire with --same-wire"
		}
	} else {
		msg += "; rebuild the plugin against an avalanchego release in the table"
	}
	return msg
}

// SameWireNotice is the notice printed when a same-wire protocol is accepted.
func SameWireNotice(plugin, ours uint) string {
	return fmt.Sprintf("plugin speaks %d, emulating %d: identical wire, accepted because of --same-wire (a real AvalancheGo would refuse it)", plugin, ours)
}

// checkProtocol decides a handshake as AvalancheGo's initializer does: an
// exact match, or (sameWire) a protocol with an identical wire, accepted
// with a notice. nil error means accepted.
func checkProtocol(plugin, ours uint, sameWire bool) (notice string, err error) {
	if plugin == ours {
		return "", nil
	}
	if sameWire && SameWire(plugin, ours) {
		return SameWireNotice(plugin, ours), nil
	}
	return "", fmt.Errorf("%s", MismatchMessage(plugin, ours))
}
