package avalanchego_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/fakes/refvm"
	"github.com/vmtestbed/vmtestbed/transport"
)

func TestLaunchInProcessServeReturnsEarly(t *testing.T) {
	bn := transport.NewBufnet()
	start := time.Now()
	serve := func(ctx context.Context, _ string) error {
		fmt.Fprintln(avalanchego.PluginOutput(ctx), "plugin: bad config")
		return errors.New("bad config")
	}
	_, err := avalanchego.LaunchInProcess(context.Background(), bn, serve, avalanchego.LaunchConfig{HandshakeTimeout: 10 * time.Second})
	if !errors.Is(err, avalanchego.ErrExitedBeforeHandshake) || !strings.Contains(err.Error(), "plugin: bad config") || !strings.Contains(err.Error(), "returned error: bad config") {
		t.Fatalf("got %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("did not fail fast")
	}
}

func TestLaunchInProcessWrongProtocol(t *testing.T) {
	bn := transport.NewBufnet()
	serve := func(ctx context.Context, addr string) error {
		return refvm.Serve(ctx, addr, refvm.Config{Variant: refvm.VariantWrongProtocol, Transport: bn, Stderr: avalanchego.PluginOutput(ctx)})
	}
	_, err := avalanchego.LaunchInProcess(context.Background(), bn, serve, avalanchego.LaunchConfig{GracefulTimeout: 2 * time.Second})
	var le *avalanchego.LaunchError
	if !errors.As(err, &le) || le.Phase != avalanchego.PhaseProtocol || !strings.Contains(err.Error(), "protocol 41") {
		t.Fatalf("got %v", err)
	}
}

func TestHTTPHandleAndSimple(t *testing.T) {
	bn := transport.NewBufnet()
	c := startChain(t, bn, launchInProcess(t, bn, refvm.Config{}))
	hc, err := c.node.RouteHTTP(c.seq.Plugin, c.start.HTTPHandlerAddr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body := `{"jsonrpc":"2.0","id":1,"method":"refvm.lastAccepted","params":{}}`
	code, _, resp, err := hc.Simple(ctx, http.MethodPost, "/", http.Header{"Content-Type": {"application/json"}}, []byte(body))
	if err != nil || code != http.StatusOK || !strings.Contains(string(resp), `"height"`) {
		t.Fatalf("simple: %d %s %v", code, resp, err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://node"+refvm.RPCPrefix, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := hc.Do(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("handle status %d", res.StatusCode)
	}
	// A JSON-RPC error comes back as *JSONRPCError.
	var jerr *avalanchego.JSONRPCError
	if err := hc.JSONRPC(ctx, refvm.RPCPrefix, "refvm.nope", nil, nil); !errors.As(err, &jerr) {
		t.Fatalf("unknown method: %v", err)
	}
}
