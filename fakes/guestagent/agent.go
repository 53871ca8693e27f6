package guestagent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"time"
)

// Agent answers requests on guest ends of channels. One Agent may serve
// several channels at once; they share its app table, file root and clock,
// as the channels of one guest would.
type Agent struct {
	opts    Options
	pings   atomic.Uint64             // pings answered, for FaultPingEveryOther
	newest  atomic.Pointer[io.Writer] // the channel connected last, for FaultCrossTalk
	started time.Time
	apps    *appTable
	handle  func(ctx context.Context, s *session, line []byte) []byte
	cmds    map[string]func(context.Context, *session, *request) reply // the JSON commands, made once
}

// New checks opts and returns an Agent.
func New(opts Options) (*Agent, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("new guest agent: %w", err)
	}
	if o.Root != "" {
		if info, err := os.Stat(o.Root); err != nil || !info.IsDir() {
			return nil, fmt.Errorf("new guest agent: root %q is not a directory", o.Root)
		}
	}
	a := &Agent{opts: o, started: o.Clock.Now(), apps: newAppTable(o.Apps, o.Clock.Now)}
	a.handle = a.handleJSON
	a.cmds = a.commands()
	if o.Protocol == ProtocolLine {
		a.handle = a.handleLine
	}
	return a, nil
}

// Serve answers requests on rwc, one reply per request line, until rwc reaches
// end of file, fails, or ctx ends. Serve closes rwc before it returns. It
// returns nil on end of file or when the fault mode hangs up, ctx's error when
// ctx ended, and the read or write error otherwise.
func (a *Agent) Serve(ctx context.Context, rwc io.ReadWriteCloser) error {
	ctx, cancel := context.WithCancel(ctx)
	closed := make(chan struct{})
	go func() {
		<-ctx.Done()
		rwc.Close()
		close(closed)
	}()
	defer func() { cancel(); <-closed }()

	var src io.Reader = rwc
	if a.opts.Fault == FaultSlowReader {
		src = &slowReader{ctx: ctx, r: rwc, delay: a.opts.Delay}
	}
	lr := newLineReader(src, a.opts.MaxLine)
	var w io.Writer = rwc
	if a.opts.Fault == FaultCrossTalk {
		own := io.Writer(rwc)
		a.newest.Store(&own)
		w = newestWriter{a}
	}
	rep := &replier{w: w, fault: a.opts.Fault, delay: a.opts.Delay, rng: rand.New(rand.NewPCG(a.opts.Seed, 0x9a6e))}
	s := a.newSession()
	defer s.close()
	for {
		line, tooLong, err := lr.next()
		if err != nil {
			return a.endErr(ctx, err)
		}
		var out []byte
		if tooLong {
			out = a.tooLong()
		} else {
			out = a.handle(ctx, s, line)
		}
		if err := rep.reply(ctx, out); err != nil {
			if errors.Is(err, errHangup) {
				return nil
			}
			return a.endErr(ctx, fmt.Errorf("write reply: %w", err))
		}
		if f := s.afterReply; f != nil {
			s.afterReply = nil
			f()
		}
	}
}

func (a *Agent) endErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, io.EOF) {
		return nil
	}
	return fmt.Errorf("serve guest agent: %w", err)
}

func (a *Agent) tooLong() []byte {
	if a.opts.Fault == FaultLongLineOK {
		if a.opts.Protocol == ProtocolLine {
			return []byte("ok")
		}
		return marshalReply(nil, reply{"result": "ok"})
	}
	msg := fmt.Sprintf("request line longer than %d bytes", a.opts.MaxLine)
	if a.opts.Protocol == ProtocolLine {
		return []byte("error: " + msg)
	}
	return marshalReply(nil, map[string]any{"error": msg})
}

// lineReader yields request lines up to max bytes; a longer line is skipped
// up to its newline and reported as too long.
type lineReader struct {
	r   *bufio.Reader
	max int
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, max+2), max: max}
}

func (l *lineReader) next() (line []byte, tooLong bool, err error) {
	b, err := l.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = l.r.ReadSlice('\n')
		}
		if err != nil {
			return nil, true, err
		}
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	b = bytes.TrimSuffix(b[:len(b)-1], []byte("\r"))
	if len(b) > l.max {
		return nil, true, nil
	}
	return bytes.Clone(b), false, nil
}

// pong is the answer to a ping: "pang" every other time under
// FaultPingEveryOther.
func (a *Agent) pong() string {
	if a.opts.Fault == FaultPingEveryOther && a.pings.Add(1)%2 == 0 {
		return "pang"
	}
	return "pong"
}
