package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/ava-labs/avalanchego/ids"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	httppb "github.com/ava-labs/avalanchego/proto/pb/http"
	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recording"
	"github.com/vmtestbed/vmtestbed/transport"
)

// Config says what to replay against which plugin.
type Config struct {
	Plugin           string             // the plugin binary
	Session          *recording.Session // a chain session (with vm.VM/Initialize)
	Seed             int64              // the node's BLS key (ids come from the recording)
	SameWire         bool               // also accept a plugin whose protocol differs from the recorded one but has the same wire
	HandshakeTimeout time.Duration      // 0 = 5 s
	CallTimeout      time.Duration      // bound of each call and of each wait for an overlapping call's end; 0 = 10 s
	ShutdownTimeout  time.Duration      // 0 = 5 s
	Log              io.Writer          // plugin output (nil = discard)
	Notices          io.Writer          // launch notices (nil = discard)
}

// Report is the outcome of one replay.
type Report struct {
	Session     string
	Replayed    int          // node->plugin calls issued
	Differences []Difference // in recorded seq order
	Notes       []string     // adopted recorded blocks, calls that could not be compared, how the plugin ended
}

// ErrNotChainSession: the session has no Initialize (AvalancheGo's pre-init
// process: Version and Shutdown only).
var ErrNotChainSession = errors.New("not a chain session: no node->plugin vm.VM/Initialize")

// BadRecordingError: the session cannot be replayed as recorded.
type BadRecordingError struct {
	Session string
	Seq     int
	Err     error
}

func (e *BadRecordingError) Error() string {
	if e.Seq > 0 {
		return fmt.Sprintf("recording %s: call seq %d: %v", e.Session, e.Seq, e.Err)
	}
	return fmt.Sprintf("recording %s: %v", e.Session, e.Err)
}

func (e *BadRecordingError) Unwrap() error { return e.Err }

func (c Config) withDefaults() Config {
	if c.CallTimeout <= 0 {
		c.CallTimeout = 10 * time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 5 * time.Second
	}
	return c
}

// Run replays cfg.Session against cfg.Plugin. The error is a recording
// that cannot be replayed (*BadRecordingError, ErrNotChainSession) or a
// plugin or node that could not be started (*avalanchego.LaunchError);
// differences in the plugin's answers are in the Report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	s := cfg.Session
	if s == nil {
		return nil, errors.New("replay: no session")
	}
	bad := func(seq int, err error) error { return &BadRecordingError{Session: s.Name, Seq: seq, Err: err} }
	initCall, ok := s.Initialize()
	if !ok {
		return nil, bad(0, ErrNotChainSession)
	}
	m, err := recording.NewRequest(initCall.Method, initCall.Request)
	if err != nil {
		return nil, bad(initCall.Seq, err)
	}
	recorded := m.(*vmpb.InitializeRequest)
	ncfg, err := nodeConfig(recorded, cfg.Seed)
	if err != nil {
		return nil, bad(initCall.Seq, err)
	}
	node, err := avalanchego.NewNode(ctx, ncfg)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer node.Close()
	p, err := avalanchego.LaunchProcess(ctx, cfg.Plugin, avalanchego.LaunchConfig{
		Protocol: s.Header.Protocol, SameWire: cfg.SameWire, HandshakeTimeout: cfg.HandshakeTimeout,
		GracefulTimeout: cfg.ShutdownTimeout, Log: cfg.Log, Notices: cfg.Notices,
	})
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, s: s, node: node, plugin: p, recordedInit: recorded,
		report: &Report{Session: s.Name}, addrs: map[string]string{}, conns: map[string]*grpc.ClientConn{}, https: map[string]*avalanchego.HTTPClient{}}
	err = r.run(ctx)
	r.close()
	sort.SliceStable(r.report.Differences, func(i, j int) bool { return r.report.Differences[i].Seq < r.report.Differences[j].Seq })
	return r.report, err
}

// nodeConfig is the fake node announcing the recorded identity.
func nodeConfig(req *vmpb.InitializeRequest, seed int64) (avalanchego.NodeConfig, error) {
	cfg := avalanchego.NodeConfig{
		Transport: transport.TCP{}, Seed: seed, NetworkID: req.GetNetworkId(),
		Genesis: req.GetGenesisBytes(), Upgrade: req.GetUpgradeBytes(), Config: req.GetConfigBytes(),
		NetworkUpgrades: req.GetNetworkUpgrades(),
	}
	for _, f := range []struct {
		name string
		b    []byte
		dst  *ids.ID
	}{
		{"subnet_id", req.GetSubnetId(), &cfg.SubnetID}, {"chain_id", req.GetChainId(), &cfg.ChainID},
		{"x_chain_id", req.GetXChainId(), &cfg.XChainID}, {"c_chain_id", req.GetCChainId(), &cfg.CChainID},
		{"avax_asset_id", req.GetAvaxAssetId(), &cfg.AvaxAssetID},
	} {
		id, err := ids.ToID(f.b)
		if err != nil {
			return cfg, fmt.Errorf("initialize request %s: %w", f.name, err)
		}
		*f.dst = id
	}
	nodeID, err := ids.ToNodeID(req.GetNodeId())
	if err != nil {
		return cfg, fmt.Errorf("initialize request node_id: %w", err)
	}
	cfg.NodeID = nodeID
	return cfg, nil
}

// replayable: node->plugin calls on the plugin's VM and HTTP servers.
func replayable(c *recording.Call) bool {
	return c.Dir == recording.NodeToPlugin &&
		(c.Endpoint == recording.EndpointVM || c.Endpoint == recording.EndpointHTTP || strings.HasPrefix(c.Endpoint, recording.EndpointHandler))
}

// result is a replayed call's answer.
type result struct {
	resp any // a proto.Message, or a handleAnswer for HTTP.Handle
	err  error
}

// inflight is a replayed call issued asynchronously.
type inflight struct {
	call   *recording.Call
	cancel context.CancelFunc
	done   chan result
}

type runner struct {
	cfg          Config
	s            *recording.Session
	node         *avalanchego.Node
	plugin       *avalanchego.Plugin
	recordedInit *vmpb.InitializeRequest
	report       *Report
	addrs        map[string]string // endpoint name -> replayed address
	conns        map[string]*grpc.ClientConn
	https        map[string]*avalanchego.HTTPClient
	shutdown     bool
}

func (r *runner) run(ctx context.Context) error {
	var calls []*recording.Call
	for i := range r.s.Calls {
		if c := &r.s.Calls[i]; replayable(c) {
			calls = append(calls, c)
		}
	}
	var pending []*inflight
	for i, c := range calls {
		// Settle the overlapping calls the recording shows ended before this one began.
		var still []*inflight
		for _, f := range pending {
			if !f.call.Pending && *f.call.EndNS <= c.StartNS {
				r.settle(ctx, f)
			} else {
				still = append(still, f)
			}
		}
		pending = still
		if c.Endpoint != recording.EndpointVM {
			if _, ok := r.addrs[c.Endpoint]; !ok {
				// The recorded plugin returned this handler; the replayed one did not.
				r.diff(c, "endpoint", c.Endpoint, "no such handler (the replayed plugin did not return it)")
				continue
			}
		}
		if overlaps(c, calls[i+1:]) {
			f, err := r.issueAsync(ctx, c)
			if err != nil {
				return err
			}
			pending = append(pending, f)
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
		resp, err := r.issue(cctx, c)
		cancel()
		if errors.Is(err, errBadCall) {
			return &BadRecordingError{Session: r.s.Name, Seq: c.Seq, Err: err}
		}
		r.compare(ctx, c, resp, err)
	}
	for _, f := range pending {
		if f.call.Pending {
			f.cancel()
			<-f.done
			r.report.Notes = append(r.report.Notes, fmt.Sprintf("seq %d %s: pending when the recording ended; left pending, then cancelled", f.call.Seq, f.call.Method))
			continue
		}
		r.settle(ctx, f)
	}
	return nil
}

// overlaps: the recording shows c still running when a later call began,
// or ended by the caller (Canceled): such a call is issued asynchronously so
// it can be cancelled where the recording shows its end.
func overlaps(c *recording.Call, later []*recording.Call) bool {
	if c.Pending || c.Code == codes.Canceled.String() {
		return true
	}
	for _, l := range later {
		if l.StartNS < *c.EndNS {
			return true
		}
	}
	return false
}

// settle ends an asynchronous call where the recording shows its end: a
// call the node cancelled is cancelled, any other is awaited.
func (r *runner) settle(ctx context.Context, f *inflight) {
	if f.call.Code == codes.Canceled.String() {
		f.cancel()
		res := <-f.done
		r.compare(ctx, f.call, res.resp, res.err)
		return
	}
	t := time.NewTimer(r.cfg.CallTimeout)
	defer t.Stop()
	select {
	case res := <-f.done:
		f.cancel()
		r.compare(ctx, f.call, res.resp, res.err)
	case <-t.C:
		f.cancel()
		<-f.done
		r.diff(f.call, "code", f.call.Code, fmt.Sprintf("still pending after %s", r.cfg.CallTimeout))
	}
}

func (r *runner) issueAsync(ctx context.Context, c *recording.Call) (*inflight, error) {
	actx, cancel := context.WithCancel(ctx)
	f := &inflight{call: c, cancel: cancel, done: make(chan result, 1)}
	req, conn, err := r.prepare(c)
	if err != nil {
		cancel()
		return nil, &BadRecordingError{Session: r.s.Name, Seq: c.Seq, Err: err}
	}
	r.report.Replayed++
	r.shutdown = r.shutdown || c.Method == shutdownMethod
	go func() {
		resp, err := r.invoke(actx, conn, c, req)
		f.done <- result{resp, err}
	}()
	return f, nil
}

var errBadCall = errors.New("cannot replay this call")

// issue replays one call synchronously.
func (r *runner) issue(ctx context.Context, c *recording.Call) (any, error) {
	req, conn, err := r.prepare(c)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadCall, err)
	}
	r.report.Replayed++
	r.shutdown = r.shutdown || c.Method == shutdownMethod
	return r.invoke(ctx, conn, c, req)
}

// invoke issues a prepared request: HTTP.Handle through the node's HTTP
// client (conn is nil then), anything else as a plain gRPC call.
func (r *runner) invoke(ctx context.Context, conn *grpc.ClientConn, c *recording.Call, req proto.Message) (any, error) {
	if hr, ok := req.(*httppb.HTTPRequest); ok && c.Method == handleMethod {
		return r.handle(ctx, c, hr)
	}
	resp, err := recording.EmptyResponse(c.Method)
	if err != nil {
		return nil, err
	}
	if err := conn.Invoke(ctx, c.Method, req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// prepare builds the request (recorded, with stand-ins applied and, for
// Initialize, the node's own addresses) and picks the connection.
func (r *runner) prepare(c *recording.Call) (proto.Message, *grpc.ClientConn, error) {
	if c.Request == nil && c.RequestRaw != nil {
		return nil, nil, fmt.Errorf("%s: the request was recorded as raw bytes (unknown method)", c.Method)
	}
	req, err := recording.NewRequest(c.Method, c.Request)
	if err != nil {
		return nil, nil, err
	}
	if init, ok := req.(*vmpb.InitializeRequest); ok {
		ours := r.node.InitializeRequest(r.plugin.Protocol)
		init.DbServerAddr, init.ServerAddr, init.ChainDataDir, init.PublicKey = ours.DbServerAddr, ours.ServerAddr, ours.ChainDataDir, ours.PublicKey
	}
	switch {
	case c.Endpoint == recording.EndpointVM:
		return req, r.plugin.Conn, nil
	case c.Method == handleMethod:
		return req, nil, nil // the node's HTTP client dials
	}
	conn, err := r.conn(c.Endpoint)
	if err != nil {
		return nil, nil, err
	}
	return req, conn, nil
}

// conn dials a handler server the replayed plugin returned.
func (r *runner) conn(endpoint string) (*grpc.ClientConn, error) {
	if c, ok := r.conns[endpoint]; ok {
		return c, nil
	}
	addr, ok := r.addrs[endpoint]
	if !ok {
		return nil, fmt.Errorf("endpoint %s: the replayed plugin never returned such a handler", endpoint)
	}
	c, err := transport.Dial(r.plugin.Transport, addr)
	if err != nil {
		return nil, err
	}
	r.conns[endpoint] = c
	return c, nil
}

// learn notes the handler servers the replayed plugin returns.
func (r *runner) learn(resp any) {
	switch m := resp.(type) {
	case *vmpb.CreateHandlersResponse:
		for _, h := range m.GetHandlers() {
			r.addrs[recording.EndpointHandler+h.GetPrefix()] = h.GetServerAddr()
		}
	case *vmpb.NewHTTPHandlerResponse:
		if m.GetServerAddr() != "" {
			r.addrs[recording.EndpointHTTP] = m.GetServerAddr()
		}
	}
}

func (r *runner) diff(c *recording.Call, field, recorded, got string) {
	r.diffAs(c, c.Method, field, recorded, got)
}

// diffAs reports a difference found on a call the node made for the
// recorded call c (the ParseBlock that adopts a recorded block).
func (r *runner) diffAs(c *recording.Call, method, field, recorded, got string) {
	r.report.Differences = append(r.report.Differences, Difference{
		Session: r.s.Name, Seq: c.Seq, Method: method, Field: field, Recorded: recorded, Got: got,
	})
}

// bodyUncompared: answers that legitimately change from run to run.
var bodyUncompared = map[string]bool{"/vm.VM/Gather": true, "/vm.VM/Health": true}

// compare checks a replayed answer against the recorded one.
func (r *runner) compare(ctx context.Context, c *recording.Call, resp any, err error) {
	if resp != nil {
		r.learn(resp)
	}
	if c.Pending {
		return
	}
	got := status.Convert(err)
	if got.Code().String() != c.Code {
		r.diff(c, "code", c.Code+describe(c.Message), got.Code().String()+describe(got.Message()))
		return
	}
	if err != nil || bodyUncompared[c.Method] {
		return
	}
	if ans, ok := resp.(handleAnswer); ok {
		r.compareHandle(c, ans)
		return
	}
	msg, ok := resp.(proto.Message)
	if !ok {
		r.diff(c, "result", "a response", fmt.Sprintf("%T", resp))
		return
	}
	if c.Response == nil && c.ResponseRaw != nil {
		r.report.Notes = append(r.report.Notes, fmt.Sprintf("seq %d %s: recorded response is raw bytes; not compared", c.Seq, c.Method))
		return
	}
	gotJSON, merr := recording.MarshalJSON(msg)
	if merr != nil {
		r.diff(c, "result", "a response", "an answer that does not encode: "+merr.Error())
		return
	}
	if c.Method == buildBlockMethod {
		compared, later := r.adopt(ctx, c, msg)
		if compared {
			return
		}
		if later != nil {
			defer r.parseRecorded(ctx, c, later)
		}
	}
	want := c.Response
	if c.Method == handleSimpleMethod {
		want, gotJSON = headerSet(want), headerSet(gotJSON)
	}
	diffs, derr := diffJSON(want, gotJSON)
	if derr != nil {
		r.diff(c, "result", string(want), derr.Error())
		return
	}
	for _, d := range diffs {
		r.diff(c, d[0], displayField(c.Method, d[0], d[1]), displayField(c.Method, d[0], d[2]))
	}
}

func describe(msg string) string {
	if msg == "" {
		return ""
	}
	if len(msg) > 80 {
		msg = msg[:80] + "…"
	}
	return " (" + msg + ")"
}

func (r *runner) close() {
	for _, c := range r.conns {
		_ = c.Close()
	}
	for _, hc := range r.https {
		_ = hc.Close()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*r.cfg.ShutdownTimeout)
	defer cancel()
	// AvalancheGo sends Shutdown once: after a replayed Shutdown the node
	// only ends the process (a second Shutdown is not what a plugin must
	// survive; xsvm v1.14.2 panics on it).
	stop := r.plugin.Stop
	if r.shutdown {
		stop = r.plugin.Terminate
	}
	if err := stop(sctx); err != nil {
		r.report.Notes = append(r.report.Notes, "stopping the plugin: "+err.Error())
	}
	if st := r.plugin.ExitStatus(); st != "exit status 0" {
		note := "the plugin ended with " + st
		if tail := lastLines(r.plugin.StderrTail(), 5); tail != "" {
			note += "; its last output:\n    " + strings.ReplaceAll(tail, "\n", "\n    ")
		}
		r.report.Notes = append(r.report.Notes, note)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}
