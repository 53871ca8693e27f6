package avalanche

import (
	"context"
	"errors"
	"fmt"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
)

// errNoWorkload means the suite cannot make this VM build a block; specs
// that need blocks skip with this reason.
var errNoWorkload = errors.New("no workload: the VM does not speak the refvm API and Config.Workload is nil, so block-building specs cannot run")

// createHandlers calls CreateHandlers once per target and remembers the answer.
func (t *target) createHandlers(ctx context.Context) ([]*vmpb.Handler, error) {
	if t.handlers != nil {
		return t.handlers, nil
	}
	var resp *vmpb.CreateHandlersResponse
	err := t.doCall(ctx, "CreateHandlers", func(ctx context.Context) (err error) {
		resp, err = t.vm.CreateHandlers(ctx, &emptypb.Empty{})
		return err
	})
	if err != nil {
		return nil, err
	}
	t.handlers = resp.GetHandlers()
	if t.handlers == nil {
		t.handlers = []*vmpb.Handler{}
	}
	return t.handlers, nil
}

// newHTTPHandler calls NewHTTPHandler; "" means the VM has none.
func (t *target) newHTTPHandler(ctx context.Context) (string, error) {
	var resp *vmpb.NewHTTPHandlerResponse
	err := t.doCall(ctx, "NewHTTPHandler", func(ctx context.Context) (err error) {
		resp, err = t.vm.NewHTTPHandler(ctx, &emptypb.Empty{})
		return err
	})
	return resp.GetServerAddr(), err
}

// httpClient opens a client for a handler from CreateHandlers, or (h nil)
// for the NewHTTPHandler server at addr, routed as AvalancheGo routes them;
// the target closes it.
func (t *target) httpClient(h *vmpb.Handler, addr string) (*avalanchego.HTTPClient, error) {
	var c *avalanchego.HTTPClient
	var err error
	if h != nil {
		c, err = t.node.HandlerHTTP(t.plugin, h)
		addr = h.GetServerAddr()
	} else {
		c, err = t.node.RouteHTTP(t.plugin, addr)
	}
	if err != nil {
		return nil, fmt.Errorf("HTTP client for %s: %w", addr, err)
	}
	t.clients = append(t.clients, c)
	return c, nil
}

// workload picks the workload and the handler it talks to, once per target:
// Config.Workload with the first handler, else the handler answering the
// refvm API.
func (t *target) workload(ctx context.Context) (Workload, *avalanchego.HTTPClient, error) {
	if t.wl != nil {
		return t.wl, t.wlHTTP, nil
	}
	handlers, err := t.createHandlers(ctx)
	if err != nil {
		return nil, nil, err
	}
	type server struct {
		h    *vmpb.Handler
		addr string
	}
	servers := make([]server, 0, len(handlers)+1)
	for _, h := range handlers {
		servers = append(servers, server{h: h})
	}
	if len(servers) == 0 {
		addr, err := t.newHTTPHandler(ctx)
		if err != nil {
			return nil, nil, err
		}
		if addr != "" {
			servers = append(servers, server{addr: addr})
		}
	}
	for _, srv := range servers {
		c, err := t.httpClient(srv.h, srv.addr)
		if err != nil {
			return nil, nil, err
		}
		if t.cfg.Workload != nil {
			t.wl, t.wlHTTP = t.cfg.Workload, c
			return t.wl, c, nil
		}
		cctx, cancel := t.call(ctx)
		ok := isRefVM(cctx, c)
		cancel()
		if ok {
			t.wl, t.wlHTTP = RefVMWorkload(), c
			return t.wl, c, nil
		}
	}
	return nil, nil, errNoWorkload
}
