package guestagent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vmtestbed/vmtestbed/virtio/qga"
)

// qgaClient opens a channel (open synchronises it) and returns a QGA client on it.
func (s *suite) qgaClient(ctx SpecContext) *qga.Client {
	GinkgoHelper()
	c := s.open(ctx)
	return qga.New(c.ch, qga.WithTimeout(s.cfg.CallTimeout))
}

// must fails the spec with err's text (no gomega dump) when err is not nil.
func must(err error, what string, args ...any) {
	GinkgoHelper()
	if err != nil {
		fail(fmt.Sprintf(what, args...) + ": " + err.Error())
	}
}

// needEnabled skips the spec when the agent does not offer command.
func needEnabled(ctx context.Context, cl *qga.Client, command string) {
	GinkgoHelper()
	info, err := cl.Info(ctx)
	must(err, "guest-info")
	if !info.Enabled(command) {
		skip(fmt.Sprintf("agent does not offer %s (disabled or not supported)", command))
	}
}

func (s *suite) qgaSpecs() {
	s.it("[GA-QGA-001] guest-sync-delimited MUST resynchronise the channel after a torn request", func(ctx SpecContext) {
		c := s.open(ctx)
		cl := qga.New(c.ch, qga.WithTimeout(s.cfg.CallTimeout))
		must(c.ch.SendString(ctx, `{"execute":"guest-pi`), "send a torn request")
		must(cl.Sync(ctx), "guest-sync-delimited after a torn request")
		must(cl.Ping(ctx), "guest-ping after the sync")
	})

	s.it("[GA-QGA-002] guest-ping MUST return an empty object, every time", func(ctx SpecContext) {
		cl := s.qgaClient(ctx)
		for range s.cfg.Repeat {
			var out map[string]any
			must(cl.Call(ctx, "guest-ping", nil, &out), "guest-ping")
			Expect(out).To(BeEmpty(), "guest-ping return")
		}
	})

	s.it("[GA-QGA-003] guest-info MUST report a version and list the protocol's own commands, and what it lists as enabled MUST answer", func(ctx SpecContext) {
		cl := s.qgaClient(ctx)
		info, err := cl.Info(ctx)
		must(err, "guest-info")
		Expect(info.Version).To(MatchRegexp(`^\d+\.\d+`), "guest-info version %q is not a version number", info.Version)
		for _, cmd := range []string{"guest-ping", "guest-info", "guest-sync", "guest-sync-delimited"} {
			Expect(info.Enabled(cmd)).To(BeTrue(), "guest-info lists %d commands, %s not enabled among them", len(info.Commands), cmd)
		}
		must(cl.Call(ctx, "guest-ping", nil, nil), "guest-ping, listed as enabled")
		var id uint64 = 77
		must(cl.Call(ctx, "guest-sync", map[string]uint64{"id": id}, nil), "guest-sync, listed as enabled")
		if !info.Enabled("guest-get-osinfo") {
			var qe *qga.Error
			err := cl.Call(ctx, "guest-get-osinfo", nil, nil)
			Expect(errors.As(err, &qe)).To(BeTrue(), "guest-get-osinfo is not listed as enabled, but answered %v", err)
		}
	})

	s.it("[GA-QGA-004] guest-get-osinfo MUST describe the guest's kernel and machine", func(ctx SpecContext) {
		cl := s.qgaClient(ctx)
		needEnabled(ctx, cl, "guest-get-osinfo")
		os, err := cl.GetOSInfo(ctx)
		must(err, "guest-get-osinfo")
		Expect(os.KernelRelease).To(MatchRegexp(`^\d+\.\d+`), "kernel-release %q", os.KernelRelease)
		Expect(os.KernelVersion).NotTo(BeEmpty(), "kernel-version")
		Expect(os.Machine).To(MatchRegexp(`^[A-Za-z0-9_]+$`), "machine %q", os.Machine)
	})

	s.it("[GA-QGA-007] guest-sync MUST return the id it was given, unchanged", func(ctx SpecContext) {
		cl := s.qgaClient(ctx)
		for _, id := range []uint64{1, 424242, 1 << 50} {
			got, err := cl.GuestSync(ctx, id)
			must(err, "guest-sync %d", id)
			Expect(got).To(Equal(id), "guest-sync %d returned another id", id)
		}
	})

	s.it("[GA-QGA-008] guest-exec MUST run a program, and guest-exec-status MUST report its output and exit code", func(ctx SpecContext) {
		cl := s.qgaClient(ctx)
		needEnabled(ctx, cl, "guest-exec")
		needEnabled(ctx, cl, "guest-exec-status")
		ro := qga.RunOptions{Interval: 20 * time.Millisecond, MaxPolls: int(s.cfg.CallTimeout / (20 * time.Millisecond))}
		st, err := cl.Run(ctx, "/bin/echo", []string{"ga", "exec"}, ro)
		must(err, "guest-exec /bin/echo ga exec")
		Expect(string(st.Stdout)).To(Equal("ga exec\n"), "stdout of /bin/echo ga exec")
		Expect(st.ExitCode).To(Equal(0), "exit code of /bin/echo")
		st, err = cl.Run(ctx, "/bin/sh", []string{"-c", "echo oops >&2; exit 3"}, ro)
		must(err, "guest-exec /bin/sh -c 'exit 3'")
		Expect(st.ExitCode).To(Equal(3), "exit code of sh -c 'exit 3'")
		Expect(string(st.Stderr)).To(Equal("oops\n"), "stderr of sh -c 'echo oops >&2'")
	})

	s.it("[GA-QGA-005] guest-file-write then guest-file-read MUST round-trip bytes through a temp path", func(ctx SpecContext) {
		cl := s.qgaClient(ctx)
		for _, cmd := range []string{"guest-file-open", "guest-file-write", "guest-file-read", "guest-file-close"} {
			needEnabled(ctx, cl, cmd)
		}
		p := path.Join(s.cfg.GuestTempDir, fmt.Sprintf("vmtestbed-ga-%d.bin", rand.Uint32()))
		data := payload(5, 20<<10)
		h, err := cl.FileOpen(ctx, p, "w")
		must(err, "open %s for writing", p)
		DeferCleanup(func(ctx SpecContext) { removeGuestFile(ctx, cl, p) })
		n, err := cl.FileWrite(ctx, h, data)
		must(err, "write %s", p)
		Expect(n).To(Equal(len(data)), "bytes written")
		must(cl.FileClose(ctx, h), "close %s", p)
		h, err = cl.FileOpen(ctx, p, "r")
		must(err, "open %s for reading", p)
		DeferCleanup(func(ctx SpecContext) { _ = cl.FileClose(ctx, h) })
		var back []byte
		for {
			b, eof, err := cl.FileRead(ctx, h, 8<<10)
			must(err, "read %s at %d", p, len(back))
			back = append(back, b...)
			if eof || len(b) == 0 {
				break
			}
		}
		Expect(bytes.Equal(back, data)).To(BeTrue(), "read back %d bytes, wrote %d; they differ", len(back), len(data))
	})

	s.it("[GA-QGA-006] an unknown command MUST fail with error class CommandNotFound", func(ctx SpecContext) {
		cl := s.qgaClient(ctx)
		err := cl.Call(ctx, "guest-frobnicate", nil, nil)
		var qe *qga.Error
		Expect(errors.As(err, &qe)).To(BeTrue(), "guest-frobnicate answered %v, want an error reply", err)
		Expect(qe.Class).To(Equal("CommandNotFound"), "error class of an unknown command")
	})
}

// removeGuestFile deletes p with guest-exec when the agent offers it; a
// guest without guest-exec keeps the file in GuestTempDir.
func removeGuestFile(ctx context.Context, cl *qga.Client, p string) {
	info, err := cl.Info(ctx)
	if err != nil || !info.Enabled("guest-exec") {
		return
	}
	_, _ = cl.Run(ctx, "rm", []string{"-f", p}, qga.RunOptions{})
}
