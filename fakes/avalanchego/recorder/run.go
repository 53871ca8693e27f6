package recorder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ava-labs/avalanchego/vms/rpcchainvm/grpcutils"
	"github.com/ava-labs/avalanchego/vms/rpcchainvm/runtime"
	"google.golang.org/protobuf/proto"

	runtimepb "github.com/ava-labs/avalanchego/proto/pb/vm/runtime"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recording"
	"github.com/vmtestbed/vmtestbed/transport"
)

// Defaults of Config.
const (
	DefaultHandshakeTimeout = 5 * time.Second // AvalancheGo's
	DefaultKillTimeout      = 4 * time.Second // below AvalancheGo's 5 s SIGTERM -> SIGKILL wait
	drainTimeout            = time.Second
)

// EndpointRuntime names the node's runtime engine in recordings (the
// proxy's own Runtime/Initialize call to the node is recorded there).
const EndpointRuntime = "runtime"

// Config says what to record and where.
type Config struct {
	Plugin           string        // the real plugin binary; absolute when a node runs us (no PATH)
	OutDir           string        // session files go here (created if missing)
	EngineAddr       string        // the node's runtime engine; "" = $AVALANCHE_VM_RUNTIME_ENGINE_ADDR
	Stdout, Stderr   io.Writer     // the plugin's output; nil = this process's stdout/stderr
	HandshakeTimeout time.Duration // for the plugin's handshake with us; 0 = 5 s
	KillTimeout      time.Duration // from a forwarded SIGTERM to SIGKILL; 0 = 4 s
}

// Result is how a recorded plugin ended.
type Result struct {
	ExitCode int    // the plugin's exit code; 128+signal when a signal ended it
	Exit     string // e.g. "exit status 0", "signal: killed"
	Session  string // path of the session file ("" if none was written)
}

// Run records one plugin process as a node's plugin. It returns once the
// plugin has exited; cancelling ctx (the node's SIGTERM) forwards SIGTERM
// to the plugin and SIGKILLs it after KillTimeout. The error reports a
// launch that failed (the plugin's handshake, the node's answer) or a
// session that could not be written; Result holds the plugin's exit
// status either way.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg = withDefaults(cfg)
	if cfg.Plugin == "" {
		return Result{ExitCode: 1}, errors.New("recorder: no plugin binary given")
	}
	if cfg.EngineAddr == "" {
		return Result{ExitCode: 1}, fmt.Errorf("recorder: %s is not set: run this as a node's plugin", runtime.EngineAddressKey)
	}
	eng, err := avalanchego.StartRuntimeEngine(transport.TCP{}, avalanchego.AnyProtocol, cfg.Plugin)
	if err != nil {
		return Result{ExitCode: 1}, fmt.Errorf("recorder: %w", err)
	}
	pl, err := startPlugin(cfg, eng.Addr())
	if err != nil {
		eng.Stop()
		return Result{ExitCode: 1}, fmt.Errorf("recorder: start plugin %s: %w", cfg.Plugin, err)
	}
	hs, err := eng.Await(ctx, pl.exited, cfg.HandshakeTimeout)
	eng.Stop()
	if err != nil {
		res := pl.kill()
		return res, fmt.Errorf("recorder: plugin %s handshake: %w", cfg.Plugin, err)
	}

	w, path, err := recording.Create(cfg.OutDir, recording.Header{
		Plugin: filepath.Base(cfg.Plugin), Protocol: hs.Protocol, VMAddr: hs.Addr,
		Pid: os.Getpid(), PluginPid: pl.cmd.Process.Pid,
	})
	if err != nil {
		res := pl.kill()
		return res, fmt.Errorf("recorder: %w", err)
	}
	h := newHub(w)
	finish := func(res Result) (Result, error) {
		w.MarkEnd()
		h.drain(drainTimeout)
		err := w.Close(res.Exit)
		h.closeAll()
		res.Session = path
		if err != nil {
			return res, fmt.Errorf("recorder: %w", err)
		}
		return res, nil
	}
	vm, err := startProxy(h, recording.EndpointVM, recording.NodeToPlugin, hs.Addr)
	if err != nil {
		res, _ := finish(pl.kill())
		return res, fmt.Errorf("recorder: %w", err)
	}
	h.add(vm)
	if err := announce(ctx, cfg, w, hs.Protocol, vm.addr); err != nil {
		res, _ := finish(pl.kill())
		return res, fmt.Errorf("recorder: %w", err)
	}

	select {
	case <-pl.exited:
	case <-ctx.Done():
		pl.terminate(cfg.KillTimeout)
	}
	return finish(pl.result())
}

func withDefaults(cfg Config) Config {
	if cfg.EngineAddr == "" {
		cfg.EngineAddr = os.Getenv(runtime.EngineAddressKey)
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.KillTimeout <= 0 {
		cfg.KillTimeout = DefaultKillTimeout
	}
	if cfg.OutDir == "" {
		cfg.OutDir = "."
	}
	return cfg
}

// announce is the plugin's half of the node's handshake, made by us: our
// VM address, the plugin's protocol (the node checks the real plugin's).
func announce(ctx context.Context, cfg Config, w *recording.Writer, protocol uint, addr string) error {
	conn, err := grpcutils.Dial(cfg.EngineAddr)
	if err != nil {
		return fmt.Errorf("dial the node's runtime engine %s: %w", cfg.EngineAddr, err)
	}
	defer conn.Close()
	req := &runtimepb.InitializeRequest{ProtocolVersion: uint32(protocol), Addr: addr}
	call := w.Begin(recording.PluginToNode, EndpointRuntime, "/vm.runtime.Runtime/Initialize")
	if wire, err := proto.Marshal(req); err == nil {
		call.Request(wire)
	}
	hctx, cancel := context.WithTimeout(ctx, DefaultHandshakeTimeout)
	defer cancel()
	resp, err := runtimepb.NewRuntimeClient(conn).Initialize(hctx, req)
	if err == nil {
		if wire, merr := proto.Marshal(resp); merr == nil {
			call.Response(wire)
		}
	}
	call.Finish(err)
	if err != nil {
		return fmt.Errorf("the node refused the handshake (plugin protocol %d): %w", protocol, err)
	}
	return nil
}

// plugin is the real plugin's process.
type plugin struct {
	cmd    *exec.Cmd
	exited chan struct{}
	state  *os.ProcessState
	err    error
}

func startPlugin(cfg Config, engineAddr string) (*plugin, error) {
	cmd := exec.Command(cfg.Plugin)
	cmd.Env = append(withoutKey(os.Environ(), runtime.EngineAddressKey), runtime.EngineAddressKey+"="+engineAddr)
	cmd.Stdout, cmd.Stderr = cfg.Stdout, cfg.Stderr
	// SIGKILL, not AvalancheGo's SIGTERM: a plugin ignores SIGTERM until
	// Shutdown, and must not outlive a recorder the node killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &plugin{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		p.state = cmd.ProcessState
		close(p.exited)
	}()
	return p, nil
}

func withoutKey(env []string, key string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// terminate forwards SIGTERM, then SIGKILLs after grace; it waits for the end.
func (p *plugin) terminate(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// kill ends a plugin that will not be recorded and reports its end.
func (p *plugin) kill() Result {
	_ = p.cmd.Process.Kill()
	<-p.exited
	return p.result()
}

// result is the exit status of an exited plugin.
func (p *plugin) result() Result {
	<-p.exited
	st := p.state
	if st == nil {
		return Result{ExitCode: 1, Exit: fmt.Sprintf("wait failed: %v", p.err)}
	}
	code := st.ExitCode()
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	return Result{ExitCode: code, Exit: st.String()}
}
