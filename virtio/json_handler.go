package virtio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// JSONHandler wraps a request as {"<RequestField>":"<message>"} + "\n" and decodes a reply line
// by taking ReplyField (or, when the reply lacks it, the first of AltReplyFields it has) from a
// JSON object. A string field gives its bytes exactly as sent (invalid UTF-8 is kept, not turned
// into U+FFFD), any other value its JSON. A reply with none of those fields but an "error" field
// is an *AgentError. With IDField set the handler is a Correlator: requests carry {"<IDField>":n}
// and a reply that echoes another id is a late reply to an earlier request and is skipped.
type JSONHandler struct {
	RequestField   string
	ReplyField     string
	AltReplyFields []string
	IDField        string
}

var (
	_ ProtocolHandler = (*JSONHandler)(nil)
	_ Correlator      = (*JSONHandler)(nil)
)

// NewJSONHandler returns the "json" handler: request field "data", reply field "data" or else
// "result" (what vmtestbed's agent and the seed's JSON agent answer), ids in field "id".
func NewJSONHandler() *JSONHandler {
	return &JSONHandler{RequestField: "data", ReplyField: "data", AltReplyFields: []string{"result"}, IDField: "id"}
}

// NewCustomJSONHandler returns a JSON handler with the given request and reply field names and
// ids in field "id" (an agent that does not echo ids is still answered: a reply without an id is
// taken as the reply).
func NewCustomJSONHandler(requestField, replyField string) *JSONHandler {
	return &JSONHandler{RequestField: requestField, ReplyField: replyField, IDField: "id"}
}

// MissingFieldError is a well-formed JSON reply without the reply field; Raw keeps the reply.
type MissingFieldError struct {
	Field string
	Raw   []byte
}

func (e *MissingFieldError) Error() string {
	return fmt.Sprintf("json reply has no %q field: %q", e.Field, clip(e.Raw))
}

// AgentError is a JSON reply that carries an "error" field instead of a reply field.
type AgentError struct {
	Message string
	Raw     []byte
}

func (e *AgentError) Error() string {
	return fmt.Sprintf("agent answered with an error: %q", e.Message)
}

// ErrNotJSONObject is the cause inside a *DecodeError for a reply that is not a JSON object.
var ErrNotJSONObject = errors.New("reply is not a JSON object")

func (h *JSONHandler) Name() string { return "json" }

func (h *JSONHandler) Encode(req []byte) ([]byte, error) {
	return h.encode(req, nil)
}

func (h *JSONHandler) EncodeWithID(req []byte, id uint64) ([]byte, error) {
	if h.IDField == "" {
		return h.Encode(req)
	}
	return h.encode(req, &id)
}

// encode writes the payload's bytes as a JSON string without replacing invalid UTF-8.
func (h *JSONHandler) encode(req []byte, id *uint64) ([]byte, error) {
	if h.RequestField == "" {
		return nil, errors.New("json handler: encode: empty request field name")
	}
	out := []byte{'{'}
	out = appendJSONString(out, []byte(h.RequestField))
	out = append(out, ':')
	out = appendJSONString(out, req)
	if id != nil {
		out = append(out, ',')
		out = appendJSONString(out, []byte(h.IDField))
		out = append(out, ':')
		out = strconv.AppendUint(out, *id, 10)
	}
	return append(out, '}', '\n'), nil
}

// appendJSONString quotes b as a JSON string: '"', '\\' and control bytes are escaped, every
// other byte (valid UTF-8 or not) is copied unchanged.
func appendJSONString(out, b []byte) []byte {
	const hexd = "0123456789abcdef"
	out = append(out, '"')
	for _, c := range b {
		switch {
		case c == '"' || c == '\\':
			out = append(out, '\\', c)
		case c == '\n':
			out = append(out, '\\', 'n')
		case c == '\r':
			out = append(out, '\\', 'r')
		case c == '\t':
			out = append(out, '\\', 't')
		case c < 0x20 || c == 0x7f:
			out = append(out, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&0xf])
		default:
			out = append(out, c)
		}
	}
	return append(out, '"')
}

func (h *JSONHandler) ReadReply(ctx context.Context, ch Channel) ([]byte, error) {
	return LineReply(ctx, ch)
}

func (h *JSONHandler) Decode(resp []byte) ([]byte, error) {
	obj, err := parseObject(resp)
	if err != nil {
		return nil, &DecodeError{Handler: "json", Raw: resp, Err: err}
	}
	v, ok := obj[h.ReplyField]
	for _, f := range h.AltReplyFields {
		if ok {
			break
		}
		v, ok = obj[f]
	}
	if !ok {
		if e, isErr := obj["error"]; isErr {
			msg, serr := unquoteJSON(e)
			if serr != nil {
				msg = e
			}
			return nil, &AgentError{Message: string(msg), Raw: resp}
		}
		return nil, &MissingFieldError{Field: h.ReplyField, Raw: resp}
	}
	if s, err := unquoteJSON(v); err == nil {
		return s, nil
	}
	return bytes.Clone(v), nil
}

// ReplyID returns the id a reply carries. An id that is not an unsigned integer is reported as
// 0, which the Client never sends, so such a reply is skipped as someone else's.
func (h *JSONHandler) ReplyID(resp []byte) (uint64, bool) {
	if h.IDField == "" {
		return 0, false
	}
	obj, err := parseObject(resp)
	if err != nil {
		return 0, false
	}
	v, ok := obj[h.IDField]
	if !ok || string(v) == "null" {
		return 0, false
	}
	var id uint64
	if json.Unmarshal(v, &id) != nil {
		return 0, true
	}
	return id, true
}

func parseObject(b []byte) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotJSONObject, err)
	}
	if obj == nil {
		return nil, ErrNotJSONObject
	}
	return obj, nil
}

// errNotString: unquoteJSON was given something other than a JSON string.
var errNotString = errors.New("not a JSON string")

// unquoteJSON decodes a JSON string token (as json.RawMessage holds it, already validated by
// the scanner) into its bytes. Unlike encoding/json it keeps bytes that are not valid UTF-8;
// escapes are decoded as JSON defines them (a lone surrogate becomes U+FFFD, as in
// encoding/json).
func unquoteJSON(raw []byte) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, errNotString
	}
	s := raw[1 : len(raw)-1]
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(s) {
			return nil, errNotString
		}
		switch s[i] {
		case '"', '\\', '/':
			out = append(out, s[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(s[i+1:])
			if !ok {
				return nil, errNotString
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if r2, ok2 := lowSurrogate(s[i+1:]); ok2 {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						out = utf8.AppendRune(out, d)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, errNotString
		}
	}
	return out, nil
}

func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(s[:4]), 16, 32)
	return rune(n), err == nil
}

func lowSurrogate(s []byte) (rune, bool) {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return 0, false
	}
	return hex4(s[2:])
}
