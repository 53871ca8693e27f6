package avalanchego_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/sim"
)

var update = flag.Bool("update", false, "rewrite golden files")

// stepClock advances 1 ms per reading.
func stepClock() func() time.Time {
	var mu sync.Mutex
	t := time.Unix(1700000000, 0)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Millisecond)
		return t
	}
}

func sampleTrace() *avalanchego.Trace {
	clk := stepClock()
	tr := avalanchego.NewTrace(sim.NowFunc(clk))
	id := bytes.Repeat([]byte{0xab}, 32)
	rec := func(dir, m string, req, resp any, err error) {
		// begun is read from the trace's clock, as the interceptors do.
		tr.Record(dir, m, req, resp, clk(), err)
	}
	rec(avalanchego.DirNodeToPlugin, "/vm.VM/Initialize", &vmpb.InitializeRequest{NetworkId: 12345, ChainId: id, GenesisBytes: make([]byte, 300), DbServerAddr: "bufnet:rpcdb-1"},
		&vmpb.InitializeResponse{LastAcceptedId: id, Height: 0, Timestamp: timestamppb.New(time.Unix(1700000000, 0))}, nil)
	rec(avalanchego.DirPluginToNode, "/rpcdb.Database/Get", nil, nil, status.Error(codes.NotFound, "not found; really"))
	rec(avalanchego.DirNodeToPlugin, "/vm.VM/WaitForEvent", &emptypb.Empty{}, &vmpb.WaitForEventResponse{Message: vmpb.Message_MESSAGE_BUILD_BLOCK}, nil)
	rec(avalanchego.DirNodeToPlugin, "/vm.VM/BuildBlock", &vmpb.BuildBlockRequest{}, nil, errors.New("plain <error> #1"))
	return tr
}

func TestTraceRenderersGolden(t *testing.T) {
	tr := sampleTrace()
	for name, write := range map[string]func(*bytes.Buffer) error{
		"trace.json": func(b *bytes.Buffer) error { return tr.WriteJSON(b) },
		"trace.txt":  func(b *bytes.Buffer) error { return tr.WriteText(b) },
		"trace.md":   func(b *bytes.Buffer) error { return tr.WriteMermaid(b) },
	} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := write(&b); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", name)
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Fatalf("%s differs from golden:\n%s", name, b.String())
			}
		})
	}
}

func TestTraceSummariesAreShort(t *testing.T) {
	ev := sampleTrace().Events()
	if ev[0].Request != `{network_id=12345 chain_id=abababab genesis_bytes=<300B> db_server_addr="bufnet:rpcdb-1"}` {
		t.Errorf("request summary %s", ev[0].Request)
	}
	if ev[1].Code != "NotFound" || ev[3].Code != "Unknown" || ev[0].Code != "OK" {
		t.Errorf("codes %s %s %s", ev[0].Code, ev[1].Code, ev[3].Code)
	}
	for i, e := range ev {
		if e.Seq != i+1 || e.Latency <= 0 {
			t.Errorf("event %d: %+v", i, e)
		}
	}
}

func TestTraceConcurrentRecord(t *testing.T) {
	tr := avalanchego.NewTrace(nil)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				tr.Record(avalanchego.DirNodeToPlugin, "/vm.VM/Health", nil, nil, time.Now(), nil)
			}
		}()
	}
	wg.Wait()
	ev := tr.Events()
	if len(ev) != 400 || ev[399].Seq != 400 {
		t.Fatalf("%d events", len(ev))
	}
}

// Summaries list fields in declaration order. protobuf-go's Range order is
// unspecified and differs between builds, which once made the same seed
// print different traces from a fresh clone.
func TestSummaryFieldOrder(t *testing.T) {
	req := &vmpb.ConnectedRequest{NodeId: make([]byte, 20), Name: "avalanchego", Major: 1, Minor: 14, Patch: 2}
	want := `{node_id=00000000 name="avalanchego" major=1 minor=14 patch=2}`
	for range 20 {
		if got := avalanchego.Summarize(req); got != want {
			t.Fatalf("Summarize = %s, want %s", got, want)
		}
	}
}
