package recording

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
)

// ChainDataPlaceholder replaces the chain data dir in normalised sessions.
const ChainDataPlaceholder = "$CHAIN_DATA"

// AddrPrefix starts every symbolic address of a normalised session.
const AddrPrefix = "addr:"

// loopback matches the addresses a run picks at random: loopback IPv4,
// [::1] and localhost, each with a port.
var loopback = regexp.MustCompile(`(?:127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|localhost):\d{1,5}`)

// Normalize returns a copy of s with the values that change from run to
// run rewritten, so sessions can be committed and compared:
//   - header: start "", pid and plugin_pid 0, vm_addr "addr:vm";
//   - every address an endpoint was introduced with (Call.Endpoints, in seq
//     order) becomes "addr:" + the endpoint's name ("addr:rpcdb",
//     "addr:node", "addr:handler:/rpc", "addr:http-writer:1", ...), wherever
//     it appears in messages, status messages and details;
//   - any other loopback address (127.x.x.x:port, [::1]:port,
//     localhost:port) becomes "addr:1", "addr:2", ... in order of first
//     appearance;
//   - the chain data dir of the Initialize request, and any path under it,
//     becomes "$CHAIN_DATA".
//
// Offsets (start_ns, end_ns, at_ns) stay as recorded: they are relative to
// the session start already. Normalize is idempotent and deterministic:
// Encode of the result is the same bytes for the same input.
func Normalize(s *Session) *Session {
	n := &normalizer{names: map[string]string{}}
	out := &Session{Name: s.Name, Header: s.Header}
	out.Header.Start, out.Header.Pid, out.Header.PluginPid = "", 0, 0
	if s.Header.VMAddr != "" {
		n.name(s.Header.VMAddr, AddrPrefix+EndpointVM)
		out.Header.VMAddr = AddrPrefix + EndpointVM
	}
	for _, c := range s.Calls {
		for _, name := range slices.Sorted(maps.Keys(c.Endpoints)) {
			n.name(c.Endpoints[name], AddrPrefix+name)
		}
	}
	if init, ok := s.Initialize(); ok {
		var req struct {
			Dir string `json:"chain_data_dir"`
		}
		if json.Unmarshal(init.Request, &req) == nil && req.Dir != "" {
			enc, _ := json.Marshal(req.Dir)
			n.dataDir = enc[1 : len(enc)-1] // as it appears inside a JSON string
		}
	}
	if s.End != nil {
		e := *s.End
		out.End = &e
	}
	out.Calls = make([]Call, len(s.Calls))
	for i, c := range s.Calls {
		c.Message = string(n.text([]byte(c.Message)))
		c.Request = n.json(c.Request)
		c.Response = n.json(c.Response)
		if c.Details != nil {
			details := make([]json.RawMessage, len(c.Details))
			for j, d := range c.Details {
				details[j] = n.json(d)
			}
			c.Details = details
		}
		if c.Messages != nil {
			msgs := make([]StreamMessage, len(c.Messages))
			for j, m := range c.Messages {
				m.Body = n.json(m.Body)
				msgs[j] = m
			}
			c.Messages = msgs
		}
		if c.Endpoints != nil {
			eps := make(map[string]string, len(c.Endpoints))
			for name := range c.Endpoints {
				eps[name] = AddrPrefix + name
			}
			c.Endpoints = eps
		}
		out.Calls[i] = c
	}
	return out
}

type normalizer struct {
	names   map[string]string // address -> symbolic name
	unnamed int
	dataDir []byte
}

func (n *normalizer) name(addr, symbol string) {
	if _, ok := n.names[addr]; !ok {
		n.names[addr] = symbol
	}
}

func (n *normalizer) json(b json.RawMessage) json.RawMessage {
	if b == nil {
		return nil
	}
	return n.text(b)
}

// text rewrites the data dir and loopback addresses in b (JSON text or a
// plain string; neither replacement needs JSON escaping).
func (n *normalizer) text(b []byte) []byte {
	if len(n.dataDir) > 0 {
		b = bytes.ReplaceAll(b, n.dataDir, []byte(ChainDataPlaceholder))
	}
	return loopback.ReplaceAllFunc(b, func(addr []byte) []byte {
		sym, ok := n.names[string(addr)]
		if !ok {
			n.unnamed++
			sym = fmt.Sprintf("%s%d", AddrPrefix, n.unnamed)
			n.names[string(addr)] = sym
		}
		return []byte(sym)
	})
}
