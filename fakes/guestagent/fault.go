package guestagent

import (
	"context"
	"io"
	"math/rand/v2"
	"time"
)

// Fault is a way an agent misbehaves on purpose.
type Fault string

// Fault modes.
const (
	FaultNone       Fault = ""
	FaultDelay      Fault = "delay"       // reply after Options.Delay
	FaultDrop       Fault = "drop"        // read requests, never reply
	FaultGarbage    Fault = "garbage"     // reply with random non-JSON bytes
	FaultPartial    Fault = "partial"     // write half of the first reply, then stay silent
	FaultHangup     Fault = "hangup"      // write half of the first reply, then close the channel
	FaultSlowReader Fault = "slow-reader" // read one byte per Options.Delay

	// Faults that keep the channel healthy but are wrong in meaning.
	FaultIgnoreAllowList Fault = "ignore-allowlist" // exec reports success for commands outside the allow-list (without running them)
	FaultBadChecksum     Fault = "bad-checksum"     // file_end keeps an upload whose sha256 does not match
	FaultConstantStatus  Fault = "constant-status"  // status always reports the same uptime
	FaultConstantMetrics Fault = "constant-metrics" // get_metrics returns fixed numbers
	FaultNoID            Fault = "no-id"            // replies do not echo the request's id
	FaultNoVersion       Fault = "no-version"       // hello reports protocol 0 and the line "version" carries no version number
	FaultEscapes         Fault = "escapes"          // exec output, hello's get_metrics and line replies other than pong start with terminal escape sequences
	FaultPingEveryOther  Fault = "ping-every-other" // every other ping (JSON, seed form or line) is answered "pang"
	FaultSeedPingWrong   Fault = "seed-ping-wrong"  // the seed's {"data":"ping"} is answered {"result":"PONG"}
	FaultExitZero        Fault = "exit-zero"        // exec reports exit code 0 for a failing command
	FaultReadCorrupt     Fault = "read-corrupt"     // file_read flips the low bit of the first byte it returns
	FaultPathEscape      Fault = "path-escape"      // file paths outside the root are accepted (cut to their base name inside it)
	FaultAppStatusStale  Fault = "app-status-stale" // app status always reports "stopped"
	FaultAppAcceptsAll   Fault = "app-accepts-all"  // app control answers unknown apps, unknown actions and invalid transitions with success
	FaultMalformedOK     Fault = "malformed-ok"     // a malformed request is answered {"result":"ok"}, not an error
	FaultUnknownOK       Fault = "unknown-ok"       // an unknown command (or seed form) is answered {"result":"ok"}
	FaultLongLineOK      Fault = "long-line-ok"     // an over-long request line is answered {"result":"ok"}, not an error
	FaultCrossTalk       Fault = "cross-talk"       // every reply goes to the channel connected last, whichever channel asked
)

// Faults lists every fault mode, FaultNone first.
func Faults() []Fault {
	return []Fault{FaultNone, FaultDelay, FaultDrop, FaultGarbage, FaultPartial, FaultHangup, FaultSlowReader,
		FaultIgnoreAllowList, FaultBadChecksum, FaultConstantStatus, FaultConstantMetrics, FaultNoID, FaultNoVersion, FaultEscapes,
		FaultPingEveryOther, FaultSeedPingWrong, FaultExitZero, FaultReadCorrupt, FaultPathEscape, FaultAppStatusStale,
		FaultAppAcceptsAll, FaultMalformedOK, FaultUnknownOK, FaultLongLineOK, FaultCrossTalk}
}

// escapeSeq is what FaultEscapes puts before exec output, a command name in hello and line replies: clear the screen, set the terminal
// title, ring the bell, and a right-to-left override.
const escapeSeq = "\x1b[2J\x1b]0;owned\x07\u202e"

func faultNames() []string {
	var s []string
	for _, f := range Faults()[1:] {
		s = append(s, string(f))
	}
	return s
}

// errHangup ends Serve after a FaultHangup reply.
var errHangup = io.ErrClosedPipe

// replier writes replies, applying the agent's fault mode.
type replier struct {
	w      io.Writer
	fault  Fault
	delay  time.Duration
	rng    *rand.Rand
	silent bool // set by FaultPartial after its half reply
}

// reply writes one reply line (without its newline) or misbehaves.
func (r *replier) reply(ctx context.Context, line []byte) error {
	switch r.fault {
	case FaultDrop:
		return nil
	case FaultDelay:
		if err := wait(ctx, r.delay); err != nil {
			return err
		}
	case FaultGarbage:
		return r.write(r.garbage(len(line) + 8))
	case FaultPartial:
		if r.silent {
			return nil
		}
		r.silent = true
		return r.write(line[:len(line)/2])
	case FaultHangup:
		if err := r.write(line[:len(line)/2]); err != nil {
			return err
		}
		return errHangup
	}
	return r.write(append(line, '\n'))
}

func (r *replier) write(b []byte) error {
	_, err := r.w.Write(b)
	return err
}

// garbage returns n random bytes that are not JSON, then a newline.
func (r *replier) garbage(n int) []byte {
	b := make([]byte, n+1)
	for i := range n {
		b[i] = byte(0x80 + r.rng.IntN(0x7f)) // never '\n', never valid UTF-8 start of JSON
	}
	b[n] = '\n'
	return b
}

// wait returns after d, or early with ctx's error.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// slowReader reads one byte per delay (FaultSlowReader).
type slowReader struct {
	ctx   context.Context
	r     io.Reader
	delay time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := wait(s.ctx, s.delay); err != nil {
		return 0, err
	}
	return s.r.Read(p[:1])
}

// newestWriter writes to the channel the agent was connected to last
// (FaultCrossTalk).
type newestWriter struct{ a *Agent }

func (n newestWriter) Write(p []byte) (int, error) {
	w := n.a.newest.Load()
	if w == nil {
		return 0, io.ErrClosedPipe
	}
	return (*w).Write(p)
}
