package virtio

import (
	"bytes"
	"context"
	"fmt"
)

// maxReceive caps the buffer one Receive allocates, whatever max asks for.
const maxReceive = 1 << 20

// Receive returns buffered bytes if any, else the bytes of one read from the endpoint (up to max).
func (c *channel) Receive(ctx context.Context, max int) ([]byte, error) {
	if max < 1 {
		return nil, c.wrap("receive", fmt.Errorf("max must be at least 1, got %d", max))
	}
	c.readMu.Lock()
	defer c.readMu.Unlock()
	s, gen, stop, err := c.begin(ctx, false)
	if err != nil {
		return nil, c.wrap("receive", err)
	}
	defer stop()
	c.syncBuf(gen)
	if len(c.buf) > 0 {
		n := min(max, len(c.buf))
		out := bytes.Clone(c.buf[:n])
		c.buf = c.buf[n:]
		return out, nil
	}
	p := make([]byte, min(max, maxReceive)) // one read never returns more
	for {
		n, err := s.Read(p)
		if n > 0 {
			return p[:n], nil
		}
		if err != nil {
			return nil, c.fail(ctx, gen, "receive", err)
		}
	}
}

// ReceiveLine returns the next line without its "\n" or "\r\n".
func (c *channel) ReceiveLine(ctx context.Context) (string, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	s, gen, stop, err := c.begin(ctx, false)
	if err != nil {
		return "", c.wrap("receive line", err)
	}
	defer stop()
	c.syncBuf(gen)
	max := c.opts.maxLine
	for {
		if c.skipping {
			if i := bytes.IndexByte(c.buf, '\n'); i >= 0 {
				c.buf = c.buf[i+1:]
				c.skipping = false
			} else {
				c.buf = c.buf[:0]
			}
		}
		if !c.skipping {
			if i := bytes.IndexByte(c.buf, '\n'); i >= 0 {
				line := bytes.TrimSuffix(c.buf[:i], []byte{'\r'})
				c.buf = c.buf[i+1:]
				if len(line) > max {
					return "", c.wrap("receive line", &LineTooLongError{Max: max})
				}
				return string(line), nil
			}
			if len(c.buf) > max+1 { // +1 leaves room for a "\r" before the "\n"
				c.buf = c.buf[:0]
				c.skipping = true
				return "", c.wrap("receive line", &LineTooLongError{Max: max})
			}
		}
		if err := c.fill(s); err != nil {
			return "", c.fail(ctx, gen, "receive line", err)
		}
	}
}

// syncBuf drops bytes buffered from an earlier connection.
func (c *channel) syncBuf(gen uint64) {
	if c.bufGen != gen {
		c.buf = nil
		c.skipping = false
		c.bufGen = gen
	}
}

// fill appends the bytes of one read to the buffer.
func (c *channel) fill(s stream) error {
	if c.scratch == nil {
		c.scratch = make([]byte, c.opts.readChunk)
	}
	if len(c.buf) == 0 && cap(c.buf) > 4*c.opts.readChunk {
		c.buf = nil // let a drained large buffer go
	}
	for {
		n, err := s.Read(c.scratch)
		if n > 0 {
			c.buf = append(c.buf, c.scratch[:n]...)
			return nil
		}
		if err != nil {
			return err
		}
	}
}
