package replay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/ava-labs/avalanchego/vms/rpcchainvm/grpcutils"

	httppb "github.com/ava-labs/avalanchego/proto/pb/http"
	responsewriterpb "github.com/ava-labs/avalanchego/proto/pb/http/responsewriter"
	readerpb "github.com/ava-labs/avalanchego/proto/pb/io/reader"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recording"
)

const handleMethod = "/http.HTTP/Handle"

// handleAnswer is what an HTTP.Handle request produced: the status and
// body the plugin wrote through the node's response writer.
type handleAnswer struct {
	status int
	body   []byte
}

// recordedHandle reconstructs one recorded HTTP.Handle exchange from the
// plugin's calls to that request's writer endpoint: the body it read
// (io.reader.Reader/Read) and the status and body it wrote.
func (r *runner) recordedHandle(c *recording.Call) (body []byte, want handleAnswer, err error) {
	var writer string
	for name := range c.Endpoints {
		if strings.HasPrefix(name, recording.EndpointHTTPWriter) {
			writer = name
		}
	}
	want.status = http.StatusOK
	for i := range r.s.Calls {
		w := &r.s.Calls[i]
		if writer == "" || w.Endpoint != writer || w.Dir != recording.PluginToNode || !w.OK() {
			continue
		}
		switch w.Method {
		case "/io.reader.Reader/Read":
			m, err := recording.NewResponse(w.Method, w.Response)
			if err != nil {
				return nil, want, fmt.Errorf("seq %d: %w", w.Seq, err)
			}
			body = append(body, m.(*readerpb.ReadResponse).GetRead()...)
		case "/http.responsewriter.Writer/WriteHeader":
			m, err := recording.NewRequest(w.Method, w.Request)
			if err != nil {
				return nil, want, fmt.Errorf("seq %d: %w", w.Seq, err)
			}
			want.status = int(m.(*responsewriterpb.WriteHeaderRequest).GetStatusCode())
		case "/http.responsewriter.Writer/Write":
			m, err := recording.NewRequest(w.Method, w.Request)
			if err != nil {
				return nil, want, fmt.Errorf("seq %d: %w", w.Seq, err)
			}
			want.body = append(want.body, m.(*responsewriterpb.WriteRequest).GetPayload()...)
		}
	}
	return body, want, nil
}

// httpRequest rebuilds the node's HTTP request from a recorded Handle request.
func httpRequest(ctx context.Context, req *httppb.HTTPRequest, body []byte) (*http.Request, error) {
	in := req.GetRequest()
	if in == nil {
		return nil, fmt.Errorf("%s request without request", handleMethod)
	}
	target := in.GetRequestUri()
	if u := in.GetUrl(); u != nil {
		target = (&url.URL{
			Scheme: u.GetScheme(), Opaque: u.GetOpaque(), Host: u.GetHost(), Path: u.GetPath(), RawPath: u.GetRawPath(),
			ForceQuery: u.GetForceQuery(), RawQuery: u.GetRawQuery(), Fragment: u.GetFragment(),
		}).String()
	}
	hr, err := http.NewRequestWithContext(ctx, in.GetMethod(), target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: rebuild request: %w", handleMethod, err)
	}
	grpcutils.SetHeaders(hr.Header, in.GetHeader())
	hr.Host, hr.RemoteAddr, hr.RequestURI = in.GetHost(), in.GetRemoteAddr(), in.GetRequestUri()
	return hr, nil
}

// handle replays one HTTP.Handle through the fake node's HTTP client,
// which serves the writer and reader for the request.
func (r *runner) handle(ctx context.Context, c *recording.Call, req *httppb.HTTPRequest) (any, error) {
	body, _, err := r.recordedHandle(c)
	if err != nil {
		return nil, err
	}
	hr, err := httpRequest(ctx, req, body)
	if err != nil {
		return nil, err
	}
	hc, err := r.httpClient(c.Endpoint)
	if err != nil {
		return nil, err
	}
	res, err := hc.Do(ctx, hr)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: read response: %w", handleMethod, err)
	}
	return handleAnswer{status: res.StatusCode, body: out}, nil
}

// compareHandle checks a replayed Handle's status and body.
func (r *runner) compareHandle(c *recording.Call, got handleAnswer) {
	_, want, err := r.recordedHandle(c)
	if err != nil {
		r.diff(c, "result", "a recorded exchange", err.Error())
		return
	}
	if got.status != want.status {
		r.diff(c, "http.status", strconv.Itoa(want.status), strconv.Itoa(got.status))
	}
	if !bytes.Equal(got.body, want.body) {
		r.diff(c, "http.body", strconv.Quote(string(want.body)), strconv.Quote(string(got.body)))
	}
}

// httpClient is the fake node's client for a handler endpoint.
func (r *runner) httpClient(endpoint string) (*avalanchego.HTTPClient, error) {
	if hc, ok := r.https[endpoint]; ok {
		return hc, nil
	}
	addr, ok := r.addrs[endpoint]
	if !ok {
		return nil, fmt.Errorf("endpoint %s: the replayed plugin never returned such a handler", endpoint)
	}
	hc, err := r.node.RawHTTP(r.plugin, addr)
	if err != nil {
		return nil, err
	}
	r.https[endpoint] = hc
	return hc, nil
}
