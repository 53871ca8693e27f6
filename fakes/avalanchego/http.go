package avalanchego

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"

	"github.com/ava-labs/avalanchego/vms/rpcchainvm/ghttp/greader"
	"github.com/ava-labs/avalanchego/vms/rpcchainvm/ghttp/gresponsewriter"
	"github.com/ava-labs/avalanchego/vms/rpcchainvm/grpcutils"
	"google.golang.org/grpc"

	httppb "github.com/ava-labs/avalanchego/proto/pb/http"
	responsewriterpb "github.com/ava-labs/avalanchego/proto/pb/http/responsewriter"
	readerpb "github.com/ava-labs/avalanchego/proto/pb/io/reader"
	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
)

// HTTPClient calls one HTTP handler server a plugin returned from
// CreateHandlers or NewHTTPHandler, the way AvalancheGo's HTTP server does:
// a CreateHandlers handler is mounted at /ext/bc/<chainID><prefix>, so the
// plugin sees that full path in every request's URL; the NewHTTPHandler
// server is reached by the Avalanche-Api-Route header naming the chain.
type HTTPClient struct {
	node   *Node
	addr   string
	base   string      // URL path every request starts with
	route  http.Header // headers every request carries
	conn   *grpc.ClientConn
	client httppb.HTTPClient
	// jsonrpcID numbers this client's JSON-RPC requests from 1, so the
	// same calls give the same bytes in every run.
	jsonrpcID atomic.Uint64

	closeOnce sync.Once
	closeErr  error
}

// HTTPRouteHeader is the header AvalancheGo routes requests by to a
// chain's NewHTTPHandler (api/server.HTTPHeaderRoute).
const HTTPRouteHeader = "Avalanche-Api-Route"

// HandlerHTTP returns a client for a handler from CreateHandlers: requests
// go to /ext/bc/<chainID><prefix><path>. Node.Close closes it if the
// caller did not.
func (n *Node) HandlerHTTP(p *Plugin, h *vmpb.Handler) (*HTTPClient, error) {
	if h == nil {
		return nil, errors.New("http client: a handler is required")
	}
	return n.httpClient(p, h.GetServerAddr(), "/ext/bc/"+n.chainID.String()+h.GetPrefix(), nil)
}

// RouteHTTP returns a client for the server from NewHTTPHandler: requests
// carry Avalanche-Api-Route: <chainID>, their path as given.
func (n *Node) RouteHTTP(p *Plugin, serverAddr string) (*HTTPClient, error) {
	return n.httpClient(p, serverAddr, "", http.Header{HTTPRouteHeader: {n.chainID.String()}})
}

// RawHTTP returns a client that sends paths and headers exactly as given:
// for replaying recorded requests, which already carry their route.
func (n *Node) RawHTTP(p *Plugin, serverAddr string) (*HTTPClient, error) {
	return n.httpClient(p, serverAddr, "", nil)
}

func (n *Node) httpClient(p *Plugin, serverAddr, base string, route http.Header) (*HTTPClient, error) {
	if p == nil || serverAddr == "" {
		return nil, errors.New("http client: a plugin and a handler server address are required")
	}
	conn, err := dialPlugin(p.Transport, serverAddr, n.cfg.Trace)
	if err != nil {
		return nil, fmt.Errorf("http client for %s: %w", serverAddr, err)
	}
	c := &HTTPClient{node: n, addr: serverAddr, base: base, route: route, conn: conn, client: httppb.NewHTTPClient(conn)}
	n.httpMu.Lock()
	n.httpClients[c] = struct{}{}
	n.httpMu.Unlock()
	return c, nil
}

// URL is the request URI the plugin sees for path: the handler's mount
// point followed by path ("/" when both are empty).
func (c *HTTPClient) URL(path string) string {
	u := c.base + path
	if u == "" {
		return "/"
	}
	return u
}

// header is h with the client's routing headers added.
func (c *HTTPClient) header(h http.Header) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	for k, v := range c.route {
		out[k] = v
	}
	return out
}

// responseHeader is what AvalancheGo's HTTP server has set on a response
// before a chain's handler sees it: the node's id and, from its CORS
// handler, Vary: Origin. Recorded (AvalancheGo v1.14.2): every
// HTTP.HandleSimple request carries them as its response_headers.
func (n *Node) responseHeader() http.Header {
	return http.Header{"Node-Id": {n.nodeID.String()}, "Vary": {"Origin"}}
}

// Addr is the handler server's address.
func (c *HTTPClient) Addr() string { return c.addr }

// Close closes the connection to the handler server.
func (c *HTTPClient) Close() error {
	c.closeOnce.Do(func() {
		c.node.httpMu.Lock()
		delete(c.node.httpClients, c)
		c.node.httpMu.Unlock()
		if err := c.conn.Close(); err != nil {
			c.closeErr = fmt.Errorf("close http client %s: %w", c.addr, err)
		}
	})
	return c.closeErr
}

// Simple sends one request for path (relative to the handler's mount
// point, see URL) through HTTP.HandleSimple. A gRPC error that carries an
// HTTP response (as avalanchego's server sends for handler errors) is
// returned as that response.
func (c *HTTPClient) Simple(ctx context.Context, method, path string, header http.Header, body []byte) (int, http.Header, []byte, error) {
	url := c.URL(path)
	req := &httppb.HandleSimpleHTTPRequest{
		Method:          method,
		Url:             url,
		RequestHeaders:  grpcutils.GetHTTPHeader(c.header(header)),
		Body:            body,
		ResponseHeaders: grpcutils.GetHTTPHeader(c.node.responseHeader()),
	}
	resp, err := c.client.HandleSimple(ctx, req)
	if err != nil {
		var ok bool
		if resp, ok = grpcutils.GetHTTPResponseFromError(err); !ok {
			return 0, nil, nil, fmt.Errorf("http %s %s via %s: %w", method, url, c.addr, err)
		}
	}
	h := http.Header{}
	grpcutils.SetHeaders(h, resp.GetHeaders())
	return int(resp.GetCode()), h, resp.GetBody(), nil
}

// Do sends a request through HTTP.Handle (its URL path is taken relative to
// the handler's mount point, and the routing headers are added), the path AvalancheGo takes for
// upgrade and HTTP/2 requests: a temporary server on the node's transport
// serves http.responsewriter.Writer and io.reader.Reader (avalanchego's
// gresponsewriter and greader servers) while the plugin handles it.
// Hijack is not supported by the recorded response and fails in the plugin.
func (c *HTTPClient) Do(ctx context.Context, r *http.Request) (*http.Response, error) {
	r = r.Clone(ctx)
	r.Header = c.header(r.Header)
	if r.URL != nil {
		u := *r.URL
		u.Path = c.URL(u.Path)
		r.URL = &u
		r.RequestURI = u.RequestURI()
	}
	rec := httptest.NewRecorder()
	for k, v := range c.node.responseHeader() {
		rec.Header()[k] = v
	}
	body := r.Body
	if body == nil {
		body = io.NopCloser(bytes.NewReader(nil))
	}
	srv := newServer(c.node.cfg.Trace)
	responsewriterpb.RegisterWriterServer(srv, gresponsewriter.NewServer(gresponsewriter.NewLockedWriter(rec)))
	readerpb.RegisterReaderServer(srv, greader.NewServer(body))
	addr, err := c.node.serve(srv, "http-writer")
	if err != nil {
		return nil, fmt.Errorf("http handle %s: %w", r.URL, err)
	}
	defer srv.Stop()

	reply, err := c.client.Handle(ctx, handleRequest(r, addr))
	if err != nil {
		return nil, fmt.Errorf("http handle %s %s via %s: %w", r.Method, r.URL, c.addr, err)
	}
	res := rec.Result()
	if len(reply.GetHeader()) > 0 {
		grpcutils.SetHeaders(res.Header, reply.GetHeader())
	}
	return res, nil
}

func handleRequest(r *http.Request, writerAddr string) *httppb.HTTPRequest {
	req := &httppb.HTTPRequest{
		ResponseWriter: &httppb.ResponseWriter{ServerAddr: writerAddr},
		Request: &httppb.Request{
			Method:           r.Method,
			Proto:            r.Proto,
			ProtoMajor:       int32(r.ProtoMajor),
			ProtoMinor:       int32(r.ProtoMinor),
			Header:           grpcutils.GetHTTPHeader(r.Header),
			ContentLength:    r.ContentLength,
			TransferEncoding: r.TransferEncoding,
			Host:             r.Host,
			RemoteAddr:       r.RemoteAddr,
			RequestUri:       r.RequestURI,
		},
	}
	if r.URL != nil {
		req.Request.Url = &httppb.URL{
			Scheme: r.URL.Scheme, Opaque: r.URL.Opaque, Host: r.URL.Host, Path: r.URL.Path,
			RawPath: r.URL.RawPath, ForceQuery: r.URL.ForceQuery, RawQuery: r.URL.RawQuery, Fragment: r.URL.Fragment,
		}
		if req.Request.RequestUri == "" {
			req.Request.RequestUri = r.URL.RequestURI()
		}
	}
	return req
}
