package xsvm_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"

	"github.com/vmtestbed/vmtestbed/conformance/avalanche/xsvm"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recording"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/replay"
	"github.com/vmtestbed/vmtestbed/fakes/refvm"
	"github.com/vmtestbed/vmtestbed/internal/buildbin"
)

// realRecordings are the committed recordings of a real AvalancheGo v1.14.2
// network driving xsvm v1.14.2 (fakes/avalanchego/testdata/recordings).
var realRecordings = []string{"xsvm-1node", "xsvm-2node"}

func recordingDir(t testing.TB, name string) string {
	t.Helper()
	root, err := buildbin.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "fakes", "avalanchego", "testdata", "recordings", "avalanchego-v"+strings.TrimPrefix(xsvm.DefaultVersion, "v"), name)
}

// chainSessions loads a recording dir's chain sessions (pre-init sessions
// have nothing to replay).
func chainSessions(t testing.TB, dir string) []*recording.Session {
	t.Helper()
	all, err := recording.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var chains []*recording.Session
	for _, s := range all {
		if s.IsChain() {
			chains = append(chains, s)
		}
	}
	if len(chains) == 0 {
		t.Fatalf("%s: no chain session", dir)
	}
	return chains
}

func xsvmPlugin(t testing.TB) string {
	t.Helper()
	if os.Getenv("VMTESTBED_SKIP_XSVM") == "1" {
		t.Skip("VMTESTBED_SKIP_XSVM=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	bin, err := xsvm.Build(ctx, buildbin.CacheDir(), xsvm.DefaultVersion)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func replaySession(t testing.TB, plugin string, s *recording.Session) *replay.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := replay.Run(ctx, replay.Config{Plugin: plugin, Session: s})
	if err != nil {
		t.Fatalf("replay %s: %v", s.Name, err)
	}
	return rep
}

// TestReplayRealRecordingsXSVM replays both real recordings against the
// plugin that was recorded, xsvm v1.14.2: no difference at all. Blocks the
// plugin builds at replay time carry another timestamp; each is reported as
// a note (the recorded block adopted), and at least one must be.
func TestReplayRealRecordingsXSVM(t *testing.T) {
	plugin := xsvmPlugin(t)
	for _, name := range realRecordings {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			replayed, adopted := 0, 0
			for _, s := range chainSessions(t, recordingDir(t, name)) {
				rep := replaySession(t, plugin, s)
				replayed += rep.Replayed
				for _, d := range rep.Differences {
					t.Errorf("%s seq %d %s %s: recorded %s, got %s", d.Session, d.Seq, d.Method, d.Field, d.Recorded, d.Got)
				}
				for _, n := range rep.Notes {
					if strings.Contains(n, "only in its timestamp") {
						adopted++
					}
					t.Logf("%s: note: %s", s.Name, n)
				}
			}
			if adopted == 0 {
				t.Error("no BuildBlock was adopted: the recording's blocks were all rebuilt at the recorded second?")
			}
			t.Logf("%s: %d calls replayed, %d recorded blocks adopted, in %s", name, replayed, adopted, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestReplayRealRecordingTamperedBlock: adopting recorded blocks must not
// hide a block that differs in more than its timestamp. One recorded
// BuildBlock answer gets one byte changed outside the timestamp (the last
// byte of the transaction's signature): replay must report BuildBlock's
// bytes and id as differences, and not adopt it silently.
func TestReplayRealRecordingTamperedBlock(t *testing.T) {
	plugin := xsvmPlugin(t)
	s := chainSessions(t, recordingDir(t, "xsvm-1node"))[1]
	seq := 0
	for i := range s.Calls {
		c := &s.Calls[i]
		if c.Method != "/vm.VM/BuildBlock" || !c.OK() {
			continue
		}
		m, err := recording.NewResponse(c.Method, c.Response)
		if err != nil {
			t.Fatal(err)
		}
		blk := m.(*vmpb.BuildBlockResponse)
		blk.Bytes[len(blk.Bytes)-1] ^= 0xff
		if c.Response, err = recording.MarshalJSON(blk); err != nil {
			t.Fatal(err)
		}
		seq = c.Seq
		break
	}
	if seq == 0 {
		t.Fatal("the recording has no BuildBlock")
	}
	rep := replaySession(t, plugin, s)
	fields := map[string]bool{}
	for _, d := range rep.Differences {
		if d.Seq == seq && d.Method == "/vm.VM/BuildBlock" {
			fields[d.Field] = true
		}
	}
	if !fields["bytes"] || !fields["id"] {
		t.Fatalf("BuildBlock seq %d: want differences in bytes and id, got %v (all: %+v)", seq, fields, rep.Differences)
	}
	for _, n := range rep.Notes {
		if strings.HasPrefix(n, "seq "+strconv.Itoa(seq)+" ") && strings.Contains(n, "only in its timestamp") {
			t.Fatalf("a tampered block was adopted as time only: %s", n)
		}
	}
	t.Logf("%d differences, first: %+v", len(rep.Differences), rep.Differences[0])
}

// TestReplayRealRecordingsOtherPlugin: the same recordings replayed by the
// CLI against plugins that really differ from xsvm (the reference VM, and
// its wrong-genesis-id variant; both speak protocol 46, the same wire as
// the recorded 45, hence --same-wire) exit 1 with a table of differences.
func TestReplayRealRecordingsOtherPlugin(t *testing.T) {
	cli, err := buildbin.Build("./cmd/vmtestbed", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, variant := range []string{"", refvm.VariantWrongGenesisID} {
		ld := ""
		if variant != "" {
			ld = "-X main.variant=" + variant
		}
		plugin, err := buildbin.Build("./cmd/refvm", ld)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range realRecordings {
			t.Run(strings.TrimSuffix(name+"/refvm+"+variant, "+"), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				out, err := exec.CommandContext(ctx, cli, "replay", recordingDir(t, name), "--plugin", plugin, "--same-wire", "--call-timeout", "3s").CombinedOutput()
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != 1 {
					t.Fatalf("exit %v, want status 1 (differences):\n%s", err, out)
				}
				for _, want := range []string{"RECORDED", "vm.VM/Initialize", "difference(s) from the recording"} {
					if !strings.Contains(string(out), want) {
						t.Fatalf("output lacks %q:\n%s", want, out)
					}
				}
			})
		}
	}
}

// BenchmarkReplayRealXSVM: replaying each committed real recording dir
// against xsvm v1.14.2 (build cached), launches included.
func BenchmarkReplayRealXSVM(b *testing.B) {
	plugin := xsvmPlugin(b)
	for _, name := range realRecordings {
		sessions := chainSessions(b, recordingDir(b, name))
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				for _, s := range sessions {
					replaySession(b, plugin, s)
				}
			}
		})
	}
}
