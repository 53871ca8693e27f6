package virtio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// JSONHandler wraps a request as {"<RequestField>":"<message>"} + "\n" and decodes a reply line
// by taking ReplyField from a JSON object. A string field gives its text, any other value its JSON.
// With IDField set the handler is a Correlator: requests carry {"<IDField>":n} and replies echo it.
type JSONHandler struct {
	RequestField string
	ReplyField   string
	IDField      string
}

var (
	_ ProtocolHandler = (*JSONHandler)(nil)
	_ Correlator      = (*JSONHandler)(nil)
)

// NewJSONHandler returns the "json" handler: request field "data", reply field "data".
func NewJSONHandler() *JSONHandler { return &JSONHandler{RequestField: "data", ReplyField: "data"} }

// NewCustomJSONHandler returns a JSON handler with the given request and reply field names.
func NewCustomJSONHandler(requestField, replyField string) *JSONHandler {
	return &JSONHandler{RequestField: requestField, ReplyField: replyField}
}

// MissingFieldError is a well-formed JSON reply without the reply field; Raw keeps the reply.
type MissingFieldError struct {
	Field string
	Raw   []byte
}

func (e *MissingFieldError) Error() string {
	return fmt.Sprintf("json reply has no %q field: %s", e.Field, clip(e.Raw))
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

func (h *JSONHandler) encode(req []byte, id *uint64) ([]byte, error) {
	m := map[string]any{h.RequestField: string(req)}
	if id != nil {
		m[h.IDField] = *id
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("json handler: encode: %w", err)
	}
	return append(out, '\n'), nil
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
	if !ok {
		return nil, &MissingFieldError{Field: h.ReplyField, Raw: resp}
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return []byte(s), nil
	}
	return []byte(v), nil
}

func (h *JSONHandler) ReplyID(resp []byte) (uint64, bool) {
	if h.IDField == "" {
		return 0, false
	}
	obj, err := parseObject(resp)
	if err != nil {
		return 0, false
	}
	var id uint64
	if v, ok := obj[h.IDField]; !ok || json.Unmarshal(v, &id) != nil {
		return 0, false
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
