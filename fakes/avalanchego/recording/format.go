package recording

import (
	"encoding/json"
	"strings"
)

// Format is the value of the header's "format" field.
const Format = "vmtestbed-rpcchainvm-recording"

// Version is the format version this package reads and writes. Any change
// to the format, even an added field, bumps it: readers reject unknown
// fields and unknown versions.
const Version = 1

// FileSuffix ends every session file name.
const FileSuffix = ".jsonl"

// Direction says who called whom.
type Direction string

// The two directions of a call.
const (
	NodeToPlugin Direction = "node->plugin"
	PluginToNode Direction = "plugin->node"
)

// Valid reports whether d is one of the two directions.
func (d Direction) Valid() bool { return d == NodeToPlugin || d == PluginToNode }

// Line kinds after the header.
const (
	KindCall = "call"
	KindEnd  = "end"
)

// Well-known endpoint names: where a call went. Handler servers returned by
// CreateHandlers are "handler:" + their prefix; per-request HTTP writer
// servers are "http-writer:N", hijacked connections "hijack:N".
const (
	EndpointVM         = "vm"           // the plugin's VM server (announced in the runtime handshake)
	EndpointRPCDB      = "rpcdb"        // the node's database (InitializeRequest.db_server_addr)
	EndpointNode       = "node"         // the node's services (InitializeRequest.server_addr)
	EndpointHTTP       = "http"         // NewHTTPHandler's server
	EndpointHandler    = "handler:"     // prefix: CreateHandlers' servers, then the handler prefix
	EndpointHTTPWriter = "http-writer:" // prefix: HTTP.Handle's response writer, then a counter
	EndpointHijack     = "hijack:"      // prefix: Writer.Hijack's connection server, then a counter
)

// Header is the first line of a session.
type Header struct {
	Format    string `json:"format"`     // always Format
	Version   int    `json:"version"`    // always Version
	Plugin    string `json:"plugin"`     // base name of the recorded plugin binary
	Protocol  uint   `json:"protocol"`   // rpcchainvm protocol the plugin announced
	VMAddr    string `json:"vm_addr"`    // the plugin's VM server address ("addr:vm" once normalised)
	Start     string `json:"start"`      // wall-clock start, RFC 3339 UTC ("" once normalised)
	Pid       int    `json:"pid"`        // recorder process id (0 once normalised)
	PluginPid int    `json:"plugin_pid"` // plugin process id (0 once normalised)
}

// Call is one gRPC call. Offsets are nanoseconds since the session start.
type Call struct {
	Kind     string    `json:"kind"`     // KindCall
	Seq      int       `json:"seq"`      // 1, 2, ... in the order calls started
	ID       string    `json:"id"`       // unique in the session: endpoint + "#" + n-th call there
	Dir      Direction `json:"dir"`      // who called
	Endpoint string    `json:"endpoint"` // which server (Endpoint* names)
	Method   string    `json:"method"`   // full gRPC method, /package.Service/Method
	StartNS  int64     `json:"start_ns"`
	EndNS    *int64    `json:"end_ns,omitempty"`  // nil only when Pending
	Pending  bool      `json:"pending,omitempty"` // still running when the session ended
	Code     string    `json:"code,omitempty"`    // gRPC code name ("OK"); empty only when Pending
	Message  string    `json:"message,omitempty"` // gRPC status message

	// Unary messages as protojson (proto field names), or, when the
	// method's types are unknown or the bytes do not decode, base64 raw.
	Request     json.RawMessage   `json:"request,omitempty"`
	Response    json.RawMessage   `json:"response,omitempty"`
	RequestRaw  []byte            `json:"request_raw,omitempty"`
	ResponseRaw []byte            `json:"response_raw,omitempty"`
	Details     []json.RawMessage `json:"details,omitempty"` // status details, protojson of google.protobuf.Any

	// Streaming calls carry their messages here instead.
	Stream   bool            `json:"stream,omitempty"`
	Messages []StreamMessage `json:"messages,omitempty"`

	// Endpoints introduced by this call: name -> the address as sent (the
	// recorder hands the other side a proxy instead), e.g. {"rpcdb":
	// "127.0.0.1:40000"} for vm.VM/Initialize.
	Endpoints map[string]string `json:"endpoints,omitempty"`
}

// StreamMessage is one message of a streaming call.
type StreamMessage struct {
	From string          `json:"from"` // "client" or "server"
	AtNS int64           `json:"at_ns"`
	Body json.RawMessage `json:"body,omitempty"`
	Raw  []byte          `json:"raw,omitempty"`
}

// End is the last line: the recorder shut down cleanly.
type End struct {
	Kind  string `json:"kind"` // KindEnd
	EndNS int64  `json:"end_ns"`
	Exit  string `json:"exit"` // the plugin's exit status, e.g. "exit status 0"
}

// Service is the call's service, e.g. "vm.VM".
func (c *Call) Service() string {
	svc, _, _ := strings.Cut(strings.TrimPrefix(c.Method, "/"), "/")
	return svc
}

// MethodName is the call's method name, e.g. "Initialize".
func (c *Call) MethodName() string {
	_, m, _ := strings.Cut(strings.TrimPrefix(c.Method, "/"), "/")
	return m
}

// OK reports whether the call ended with code OK.
func (c *Call) OK() bool { return !c.Pending && c.Code == "OK" }

// Session is one decoded session file.
type Session struct {
	Name   string // file base name ("" when decoded from a stream)
	Header Header
	Calls  []Call // in seq order
	End    *End   // nil when the recorder did not finish
}

// Initialize is the session's node->plugin vm.VM/Initialize call, if any:
// its presence makes it a chain session (the pre-init process has none).
func (s *Session) Initialize() (*Call, bool) {
	for i := range s.Calls {
		c := &s.Calls[i]
		if c.Dir == NodeToPlugin && c.Method == "/vm.VM/Initialize" {
			return c, true
		}
	}
	return nil, false
}

// IsChain reports whether the session ran a chain (has an Initialize).
func (s *Session) IsChain() bool {
	_, ok := s.Initialize()
	return ok
}
