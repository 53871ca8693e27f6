package virtio

// DefaultMaxLineLength bounds ReceiveLine unless WithMaxLineLength says otherwise.
const DefaultMaxLineLength = 1 << 20

// Option configures a channel.
type Option func(*options)

type options struct {
	maxLine   int
	readChunk int
}

func defaultOptions() options {
	return options{maxLine: DefaultMaxLineLength, readChunk: 32 << 10}
}

// WithMaxLineLength sets the longest line ReceiveLine accepts (without the newline).
// Values below 1 keep the default.
func WithMaxLineLength(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxLine = n
		}
	}
}

// WithReadChunk sets how many bytes one read from the endpoint asks for.
// Values below 1 keep the default (32 KiB).
func WithReadChunk(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.readChunk = n
		}
	}
}
