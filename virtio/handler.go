package virtio

import (
	"context"
	"fmt"
	"time"
)

// ProtocolHandler encodes a request, frames and decodes its reply. Handlers are stateless and
// safe for concurrent use; one handler may serve many channels.
type ProtocolHandler interface {
	// Name is the handler's registry name, e.g. "json".
	Name() string
	// Encode turns a payload into the bytes sent on the channel.
	Encode(req []byte) ([]byte, error)
	// ReadReply reads one framed reply from ch.
	ReadReply(ctx context.Context, ch Channel) ([]byte, error)
	// Decode turns a framed reply into the payload returned to the caller.
	Decode(resp []byte) ([]byte, error)
}

// Correlator is implemented by handlers whose protocol carries request ids. The Client stamps
// every request with a fresh id and discards replies that carry another one (late replies to
// requests that timed out).
type Correlator interface {
	// EncodeWithID is Encode with id attached.
	EncodeWithID(req []byte, id uint64) ([]byte, error)
	// ReplyID returns the id a framed reply carries, ok=false when it carries none.
	ReplyID(resp []byte) (id uint64, ok bool)
}

// ReplyReader reads one framed reply; LineReply is the built-in line framing.
type ReplyReader func(ctx context.Context, ch Channel) ([]byte, error)

// LineReply frames a reply as one line (without its newline).
func LineReply(ctx context.Context, ch Channel) ([]byte, error) {
	s, err := ch.ReceiveLine(ctx)
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// DecodeError is returned when a reply cannot be decoded; Raw keeps the reply as received.
type DecodeError struct {
	Handler string
	Raw     []byte
	Err     error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("%s handler: decode reply %q: %v", e.Handler, clip(e.Raw), e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// clip shortens a reply for an error message.
func clip(b []byte) []byte {
	const n = 200
	if len(b) <= n {
		return b
	}
	return append(b[:n:n], "..."...)
}

// rawHandler sends bytes unchanged; a reply is everything that arrives until the channel has
// been quiet for gap (or max bytes).
type rawHandler struct {
	max int
	gap time.Duration
}

// DefaultRawReplyMax is how many bytes the raw handler reads for one reply.
const DefaultRawReplyMax = 64 << 10

// DefaultRawQuietGap is how long the raw handler waits for more bytes of a reply after the last
// piece arrived: an agent that writes one reply in several pieces writes them back to back.
const DefaultRawQuietGap = 10 * time.Millisecond

// NewRawHandler returns the "raw" handler: bytes unchanged, a reply is what arrives until the
// channel is quiet for DefaultRawQuietGap, at most 64 KiB.
func NewRawHandler() ProtocolHandler {
	return NewRawHandlerWith(DefaultRawReplyMax, DefaultRawQuietGap)
}

// NewRawHandlerWith returns a raw handler whose reply is at most max bytes and ends when no
// byte arrives for gap. Values below 1 keep the defaults.
func NewRawHandlerWith(max int, gap time.Duration) ProtocolHandler {
	if max < 1 {
		max = DefaultRawReplyMax
	}
	if gap <= 0 {
		gap = DefaultRawQuietGap
	}
	return rawHandler{max: max, gap: gap}
}

func (rawHandler) Name() string                       { return "raw" }
func (rawHandler) Encode(req []byte) ([]byte, error)  { return req, nil }
func (rawHandler) Decode(resp []byte) ([]byte, error) { return resp, nil }
func (h rawHandler) ReadReply(ctx context.Context, ch Channel) ([]byte, error) {
	return QuietRead(h.max, h.gap)(ctx, ch)
}

// QuietRead frames a reply as the bytes that arrive, the first within ctx and each next one
// within gap of the one before, up to max bytes. An error after the first bytes ends the reply
// (the next read sees it again); it never loses bytes already read.
func QuietRead(max int, gap time.Duration) ReplyReader {
	return func(ctx context.Context, ch Channel) ([]byte, error) {
		out, err := ch.Receive(ctx, max)
		if err != nil {
			return nil, err
		}
		for len(out) < max && ctx.Err() == nil {
			gctx, cancel := context.WithTimeout(ctx, gap)
			more, err := ch.Receive(gctx, max-len(out))
			cancel()
			if err != nil {
				break
			}
			out = append(out, more...)
		}
		return out, nil
	}
}

// CustomHandler is any encode/decode pair with a framing. A Decode error comes back as *DecodeError.
type CustomHandler struct {
	HandlerName string
	EncodeFunc  func(req []byte) ([]byte, error)
	DecodeFunc  func(resp []byte) ([]byte, error)
	// Reply frames a reply; nil means LineReply.
	Reply ReplyReader
}

var _ ProtocolHandler = (*CustomHandler)(nil)

func (h *CustomHandler) Name() string { return h.HandlerName }

func (h *CustomHandler) Encode(req []byte) ([]byte, error) {
	if h.EncodeFunc == nil {
		return req, nil
	}
	out, err := h.EncodeFunc(req)
	if err != nil {
		return nil, fmt.Errorf("%s handler: encode: %w", h.HandlerName, err)
	}
	return out, nil
}

func (h *CustomHandler) Decode(resp []byte) ([]byte, error) {
	if h.DecodeFunc == nil {
		return resp, nil
	}
	out, err := h.DecodeFunc(resp)
	if err != nil {
		return nil, &DecodeError{Handler: h.HandlerName, Raw: resp, Err: err}
	}
	return out, nil
}

func (h *CustomHandler) ReadReply(ctx context.Context, ch Channel) ([]byte, error) {
	if h.Reply == nil {
		return LineReply(ctx, ch)
	}
	return h.Reply(ctx, ch)
}
