package refvm

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	httppb "github.com/ava-labs/avalanchego/proto/pb/http"
	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
)

// RPCPrefix is the handler prefix CreateHandlers registers.
const RPCPrefix = "/rpc"

// rootHTTPName names the server of NewHTTPHandler.
const rootHTTPName = "refvm-http"

// httpServer is one gRPC server serving http.HTTP for the JSON-RPC API.
type httpServer struct {
	srv  *grpc.Server
	done chan struct{}
}

func (h *httpServer) stop() {
	h.srv.Stop()
	<-h.done
}

// startHTTP starts a new http.HTTP server on the VM's transport. Callers hold v.mu.
func (v *vm) startHTTP(name string) (string, error) {
	if _, err := v.ready(); err != nil {
		return "", err
	}
	lis, addr, err := v.cfg.Transport.Listen(name)
	if err != nil {
		return "", status.Errorf(codes.Unavailable, "refvm: listen for %s: %v", name, err)
	}
	h := &httpServer{srv: grpc.NewServer(serverOptions()...), done: make(chan struct{})}
	httppb.RegisterHTTPServer(h.srv, &httpService{vm: v, root: name == rootHTTPName})
	go func() {
		defer close(h.done)
		if err := h.srv.Serve(lis); err != nil {
			v.logf("refvm: %s server at %s: %v", name, addr, err)
		}
	}()
	v.httpServers = append(v.httpServers, h)
	return addr, nil
}

// CreateHandlers serves the JSON-RPC API under "/rpc" on a new server.
func (v *vm) CreateHandlers(context.Context, *emptypb.Empty) (*vmpb.CreateHandlersResponse, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	addr, err := v.startHTTP("refvm-rpc")
	if err != nil {
		return nil, err
	}
	return &vmpb.CreateHandlersResponse{Handlers: []*vmpb.Handler{{Prefix: RPCPrefix, ServerAddr: addr}}}, nil
}

// NewHTTPHandler serves the same API on another server.
func (v *vm) NewHTTPHandler(context.Context, *emptypb.Empty) (*vmpb.NewHTTPHandlerResponse, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	addr, err := v.startHTTP(rootHTTPName)
	if err != nil {
		return nil, err
	}
	return &vmpb.NewHTTPHandlerResponse{ServerAddr: addr}, nil
}
