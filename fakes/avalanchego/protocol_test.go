package avalanchego_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ava-labs/avalanchego/ids"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
)

func TestProtocolTable(t *testing.T) {
	ps := avalanchego.Protocols()
	if len(ps) != 14 || ps[0].Version != 33 || ps[len(ps)-1].Version != avalanchego.NewestProtocol {
		t.Fatalf("table %v", ps)
	}
	for i, p := range ps {
		if p.Version != 33+uint(i) || len(p.Releases) == 0 || p.WireChange == "" {
			t.Errorf("row %d: %+v", i, p)
		}
	}
	ps[0].Releases[0] = "mutated"
	if avalanchego.Protocols()[0].Releases[0] != "v1.11.0" {
		t.Fatal("Protocols returned shared slices")
	}
}

func TestProtocolForRelease(t *testing.T) {
	for rel, want := range map[string]uint{"v1.14.2": 45, "1.15.0": 46, "v1.11.5": 35, "v1.12.1": 38, "v1.13.5": 43, "v1.11.0": 33} {
		got, err := avalanchego.ProtocolForRelease(rel)
		if err != nil || got != want {
			t.Errorf("%s: %d %v, want %d", rel, got, err, want)
		}
	}
	if _, err := avalanchego.ProtocolForRelease("v1.10.0"); err == nil {
		t.Error("unknown release mapped")
	}
}

func TestSameWire(t *testing.T) {
	for _, c := range []struct {
		a, b uint
		same bool
	}{{45, 46, true}, {46, 45, true}, {42, 43, true}, {46, 46, true}, {44, 45, false}, {41, 46, false}, {43, 44, false}, {30, 31, false}} {
		if got := avalanchego.SameWire(c.a, c.b); got != c.same {
			t.Errorf("SameWire(%d,%d) = %v", c.a, c.b, got)
		}
	}
}

func TestMismatchMessage(t *testing.T) {
	msg := avalanchego.MismatchMessage(38, 46)
	for _, want := range []string{"protocol 38", "v1.11.13, v1.12.0, v1.12.1", "protocol 46", "v1.15.0"} {
		if !strings.Contains(msg, want) {
			t.Errorf("lacks %q: %s", want, msg)
		}
	}
	if !strings.Contains(avalanchego.MismatchMessage(99, 46), "no AvalancheGo release") {
		t.Error("unknown protocol not explained")
	}
}

// TestConnectedRequest: Connected announces the node's name and release
// numbers; a protocol's node version is its newest release's.
func TestConnectedRequest(t *testing.T) {
	id := ids.GenerateTestNodeID()
	for _, tc := range []struct {
		version             string
		name                string
		major, minor, patch uint32
	}{
		{"avalanchego/1.14.2", "avalanchego", 1, 14, 2},
		{"avalanchego/v1.15.0", "avalanchego", 1, 15, 0},
		{avalanchego.NodeVersionForProtocol(45), "avalanchego", 1, 14, 2},
		{"other/2", "other", 2, 0, 0},
	} {
		r := avalanchego.ConnectedRequest(id, tc.version)
		if !bytes.Equal(r.GetNodeId(), id.Bytes()) || r.GetName() != tc.name || r.GetMajor() != tc.major || r.GetMinor() != tc.minor || r.GetPatch() != tc.patch {
			t.Errorf("%q: %v", tc.version, r)
		}
	}
}
