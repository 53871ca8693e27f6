package refvm

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	httppb "github.com/ava-labs/avalanchego/proto/pb/http"
	responsewriterpb "github.com/ava-labs/avalanchego/proto/pb/http/responsewriter"
	readerpb "github.com/ava-labs/avalanchego/proto/pb/io/reader"

	"github.com/vmtestbed/vmtestbed/transport"
)

// maxBody bounds a request body read through HTTP.Handle.
const maxBody = 1 << 20

var _ httppb.HTTPServer = (*httpService)(nil)

// httpService serves the JSON-RPC API over http.HTTP.
type httpService struct {
	httppb.UnsafeHTTPServer
	vm   *vm
	root bool // the NewHTTPHandler server
}

func (h *httpService) HandleSimple(ctx context.Context, req *httppb.HandleSimpleHTTPRequest) (*httppb.HandleSimpleHTTPResponse, error) {
	code, hdr, body := h.vm.serveJSONRPC(ctx, req.Method, req.Body)
	for _, e := range req.ResponseHeaders {
		hdr[e.Key] = append(hdr[e.Key], e.Values...)
	}
	if h.root && h.vm.cfg.Variant == VariantHTTPNoStatus {
		code = 0 // the bug: the handler never wrote a status
	}
	return &httppb.HandleSimpleHTTPResponse{Code: int32(code), Headers: elements(hdr), Body: body}, nil
}

// Handle reads the body from the node's io.reader server and writes the
// answer through its http.responsewriter server at response_writer.server_addr.
func (h *httpService) Handle(ctx context.Context, req *httppb.HTTPRequest) (*httppb.HTTPResponse, error) {
	if req.ResponseWriter == nil || req.ResponseWriter.ServerAddr == "" || req.Request == nil {
		return nil, status.Error(codes.InvalidArgument, "refvm: HTTP.Handle: request and response_writer.server_addr are required")
	}
	conn, err := transport.Dial(h.vm.cfg.Transport, req.ResponseWriter.ServerAddr)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "refvm: HTTP.Handle: %v", err)
	}
	defer conn.Close()
	body, err := readBody(ctx, readerpb.NewReaderClient(conn))
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "refvm: HTTP.Handle: read body: %v", err)
	}
	code, hdr, out := h.vm.serveJSONRPC(ctx, req.Request.Method, body)
	for _, e := range req.ResponseWriter.Header {
		hdr[e.Key] = append(hdr[e.Key], e.Values...)
	}
	w := responsewriterpb.NewWriterClient(conn)
	rwh := make([]*responsewriterpb.Header, 0, len(hdr))
	for _, e := range elements(hdr) {
		rwh = append(rwh, &responsewriterpb.Header{Key: e.Key, Values: e.Values})
	}
	if _, err := w.WriteHeader(ctx, &responsewriterpb.WriteHeaderRequest{Headers: rwh, StatusCode: int32(code)}); err != nil {
		return nil, status.Errorf(codes.Unavailable, "refvm: HTTP.Handle: write header: %v", err)
	}
	if _, err := w.Write(ctx, &responsewriterpb.WriteRequest{Headers: rwh, Payload: out}); err != nil {
		return nil, status.Errorf(codes.Unavailable, "refvm: HTTP.Handle: write body: %v", err)
	}
	return &httppb.HTTPResponse{Header: elements(hdr)}, nil
}

func readBody(ctx context.Context, r readerpb.ReaderClient) ([]byte, error) {
	var body []byte
	for {
		resp, err := r.Read(ctx, &readerpb.ReadRequest{Length: 32 << 10})
		if err != nil {
			return nil, err
		}
		body = append(body, resp.Read...)
		if len(body) > maxBody {
			return nil, fmt.Errorf("body exceeds %d bytes", maxBody)
		}
		if resp.Error != nil {
			if resp.Error.ErrorCode == readerpb.ErrorCode_ERROR_CODE_EOF {
				return body, nil
			}
			return nil, fmt.Errorf("reader: %s", resp.Error.Message)
		}
		if len(resp.Read) == 0 {
			return nil, fmt.Errorf("reader returned no bytes and no EOF")
		}
	}
}

// elements converts headers in key order (stable traces).
func elements(h http.Header) []*httppb.Element {
	out := make([]*httppb.Element, 0, len(h))
	for _, k := range slices.Sorted(maps.Keys(h)) {
		out = append(out, &httppb.Element{Key: k, Values: h[k]})
	}
	return out
}
