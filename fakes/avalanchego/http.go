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
)

// HTTPClient calls one HTTP handler server a plugin returned from
// CreateHandlers or NewHTTPHandler, the way AvalancheGo's HTTP server does.
type HTTPClient struct {
	node   *Node
	addr   string
	conn   *grpc.ClientConn
	client httppb.HTTPClient
	// jsonrpcID numbers this client's JSON-RPC requests from 1, so the
	// same calls give the same bytes in every run.
	jsonrpcID atomic.Uint64

	closeOnce sync.Once
	closeErr  error
}

// HTTP returns a client for an HTTP handler server the plugin returned.
// Node.Close closes it if the caller did not.
func (n *Node) HTTP(p *Plugin, serverAddr string) (*HTTPClient, error) {
	if p == nil || serverAddr == "" {
		return nil, errors.New("http client: a plugin and a handler server address are required")
	}
	conn, err := dialPlugin(p.Transport, serverAddr, n.cfg.Trace)
	if err != nil {
		return nil, fmt.Errorf("http client for %s: %w", serverAddr, err)
	}
	c := &HTTPClient{node: n, addr: serverAddr, conn: conn, client: httppb.NewHTTPClient(conn)}
	n.httpMu.Lock()
	n.httpClients[c] = struct{}{}
	n.httpMu.Unlock()
	return c, nil
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

// Simple sends one request through HTTP.HandleSimple. A gRPC error that
// carries an HTTP response (as avalanchego's server sends for handler
// errors) is returned as that response.
func (c *HTTPClient) Simple(ctx context.Context, method, url string, header http.Header, body []byte) (int, http.Header, []byte, error) {
	req := &httppb.HandleSimpleHTTPRequest{
		Method:         method,
		Url:            url,
		RequestHeaders: grpcutils.GetHTTPHeader(header),
		Body:           body,
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

// Do sends a request through HTTP.Handle, the path AvalancheGo takes for
// upgrade and HTTP/2 requests: a temporary server on the node's transport
// serves http.responsewriter.Writer and io.reader.Reader (avalanchego's
// gresponsewriter and greader servers) while the plugin handles it.
// Hijack is not supported by the recorded response and fails in the plugin.
func (c *HTTPClient) Do(ctx context.Context, r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
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
