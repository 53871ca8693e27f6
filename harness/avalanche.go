package harness

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/fakes/refvm"
	"github.com/vmtestbed/vmtestbed/transport"
)

// RunOptions tune one scenario run.
type RunOptions struct {
	Seed int64
	// Out gets progress lines and the final trace; nil discards.
	Out io.Writer
	// TraceTimes prints the trace as recorded: sequence numbers in completion
	// order and latencies. Off by default: then the trace is canonical (see
	// writeCanonicalTrace) and the same seed prints it byte for byte.
	TraceTimes bool
	// Timeout bounds the whole run (default 60s).
	Timeout time.Duration
}

// Result is what a run observed.
type Result struct {
	Height  uint64
	Blocks  []avalanchego.BlockInfo
	TxKeys  []string
	Trace   *avalanchego.Trace
	Elapsed time.Duration
	// StepStarts[i] is how many trace events existed when step i began;
	// index 0 marks the end of start-up.
	StepStarts []int
}

// RunScenario plays sc on one fake node with its plugin and checks every
// expectation. It always stops the plugin and the node before returning.
func RunScenario(ctx context.Context, sc *Scenario, opts RunOptions) (res *Result, err error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Timeout == 0 {
		opts.Timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	start := time.Now()
	fmt.Fprintf(opts.Out, "scenario %s (seed %d): %s\n", sc.Name, opts.Seed, sc.Description)

	trace := avalanchego.NewTrace(nil)
	stack, err := startStack(ctx, sc.Plugin, opts.Seed, trace)
	if err != nil {
		return nil, err
	}
	defer func() {
		stopCtx, stopCancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer stopCancel()
		if stopErr := stack.stop(stopCtx); stopErr != nil && err == nil {
			err = stopErr
		}
		if res != nil {
			res.Elapsed = time.Since(start)
			fmt.Fprintf(opts.Out, "\nRPC trace (%d calls):\n", len(trace.Events()))
			if opts.TraceTimes {
				writeTrace(opts.Out, trace)
			} else {
				writeCanonicalTrace(opts.Out, trace.Events(), res.StepStarts, stack.masks())
			}
		}
	}()

	rng := rand.New(rand.NewPCG(uint64(opts.Seed), 0x766d746573746264))
	res = &Result{Trace: trace, Height: stack.start.LastAccepted.Height}
	fmt.Fprintf(opts.Out, "node %s started the plugin (%s); genesis %s at height %d\n",
		stack.node.NodeID(), stack.version, short(stack.start.LastAccepted.ID[:]), res.Height)
	for i, st := range sc.Steps {
		res.StepStarts = append(res.StepStarts, len(trace.Events()))
		if err := stack.step(ctx, st, rng, res); err != nil {
			return res, fmt.Errorf("scenario %s step %d (%s): %w", sc.Name, i+1, st, err)
		}
		fmt.Fprintf(opts.Out, "step %d: %s ok\n", i+1, st)
	}
	return res, nil
}

type avaStack struct {
	bufnet  *transport.Bufnet
	node    *avalanchego.Node
	plugin  *avalanchego.Plugin
	seq     *avalanchego.Sequencer
	start   *avalanchego.StartResult
	version string // from the pre-init launch
	rpc     *avalanchego.HTTPClient
}

func startStack(ctx context.Context, plugin string, seed int64, trace *avalanchego.Trace) (*avaStack, error) {
	s := &avaStack{bufnet: transport.NewBufnet()}
	cfg := avalanchego.LaunchConfig{Trace: trace}
	var nodeTransport transport.Transport = s.bufnet
	launch := func() (*avalanchego.Plugin, error) {
		if plugin == "refvm" {
			clock := newStepClock(seed)
			serve := func(ctx context.Context, engineAddr string) error {
				return refvm.Serve(ctx, engineAddr, refvm.Config{Transport: s.bufnet, Exit: func(int) {}, Clock: clock})
			}
			return avalanchego.LaunchInProcess(ctx, s.bufnet, serve, cfg)
		}
		nodeTransport = transport.TCP{}
		return avalanchego.LaunchProcess(ctx, plugin, cfg)
	}
	// AvalancheGo's pre-init: a throwaway launch asked only for its version.
	pre, err := launch()
	if err != nil {
		return nil, fmt.Errorf("launch plugin %s: %w", plugin, err)
	}
	if s.version, err = avalanchego.PreInit(ctx, pre); err != nil {
		return nil, fmt.Errorf("plugin %s: %w", plugin, err)
	}
	if s.plugin, err = launch(); err != nil {
		return nil, fmt.Errorf("launch plugin %s: %w", plugin, err)
	}
	s.node, err = avalanchego.NewNode(ctx, avalanchego.NodeConfig{Transport: nodeTransport, Seed: seed, Trace: trace})
	if err != nil {
		_ = s.plugin.Stop(ctx)
		return nil, fmt.Errorf("start fake node: %w", err)
	}
	s.seq = &avalanchego.Sequencer{Node: s.node, Plugin: s.plugin}
	if s.start, err = s.seq.Start(ctx); err != nil {
		_ = s.stop(ctx)
		return nil, fmt.Errorf("start sequence: %w", err)
	}
	if len(s.start.Handlers) == 0 {
		_ = s.stop(ctx)
		return nil, fmt.Errorf("the plugin registered no HTTP handlers; scenarios need the reference VM's JSON-RPC API")
	}
	if s.rpc, err = s.node.HandlerHTTP(s.plugin, s.start.Handlers[0]); err != nil {
		_ = s.stop(ctx)
		return nil, fmt.Errorf("connect to the plugin's HTTP handler: %w", err)
	}
	return s, nil
}

func (s *avaStack) stop(ctx context.Context) error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	if s.rpc != nil {
		keep(s.rpc.Close())
	}
	if s.seq != nil && s.start != nil {
		keep(s.seq.Stop(ctx))
	} else if s.plugin != nil {
		keep(s.plugin.Stop(ctx))
	}
	if s.node != nil {
		keep(s.node.Close())
	}
	return first
}

func (s *avaStack) step(ctx context.Context, st Step, rng *rand.Rand, res *Result) error {
	switch {
	case st.Issue > 0:
		for range st.Issue {
			key := fmt.Sprintf("k%06d", rng.IntN(1_000_000))
			params := map[string]string{"key": key, "value": "v-" + key}
			var reply struct {
				TxID string `json:"txID"`
			}
			if err := s.rpc.JSONRPC(ctx, "", "refvm.issueTx", params, &reply); err != nil {
				return fmt.Errorf("refvm.issueTx: %w", err)
			}
			res.TxKeys = append(res.TxKeys, key)
		}
		// The step ends once the VM asked for a block, so the trace of
		// every step is complete and the same for the same seed.
		if err := s.seq.EventReady(ctx); err != nil {
			return err
		}
	case st.Build > 0:
		for range st.Build {
			blk, err := s.seq.BuildAndAccept(ctx)
			if err != nil {
				return err
			}
			res.Blocks = append(res.Blocks, blk)
			res.Height = blk.Height
		}
	case st.ExpectHeight != nil:
		var reply struct {
			Height uint64 `json:"height"`
		}
		if err := s.rpc.JSONRPC(ctx, "", "refvm.lastAccepted", struct{}{}, &reply); err != nil {
			return fmt.Errorf("refvm.lastAccepted: %w", err)
		}
		if reply.Height != *st.ExpectHeight {
			return fmt.Errorf("last accepted height is %d, expected %d", reply.Height, *st.ExpectHeight)
		}
	case st.ExpectStateCount != nil:
		found := 0
		for _, key := range res.TxKeys {
			var reply struct {
				Value string `json:"value"`
				Found bool   `json:"found"`
			}
			if err := s.rpc.JSONRPC(ctx, "", "refvm.get", map[string]string{"key": key}, &reply); err != nil {
				return fmt.Errorf("refvm.get %s: %w", key, err)
			}
			if reply.Found && reply.Value == "v-"+key {
				found++
			}
		}
		if found != *st.ExpectStateCount {
			return fmt.Errorf("%d issued keys read back, expected %d", found, *st.ExpectStateCount)
		}
	}
	return nil
}

// masks are environment-specific strings (temp dirs) the canonical trace hides.
func (s *avaStack) masks() map[string]string {
	if s.node == nil {
		return nil
	}
	return map[string]string{s.node.ChainDataDir(): "<chain-data-dir>"}
}

// writeTrace prints one line per RPC as recorded, with latencies.
func writeTrace(w io.Writer, t *avalanchego.Trace) {
	for _, ev := range t.Events() {
		fmt.Fprintf(w, "%4d %-13s %-45s %s -> %s [%s] %v\n", ev.Seq, ev.Dir, trimService(ev.Method), ev.Request, ev.Response, ev.Code, ev.Latency)
	}
}

func trimService(method string) string {
	if len(method) > 0 && method[0] == '/' {
		return method[1:]
	}
	return method
}

func short(b []byte) string {
	if len(b) > 4 {
		b = b[:4]
	}
	return fmt.Sprintf("%x", b)
}
