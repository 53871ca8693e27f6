package guestagent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vmtestbed/vmtestbed/virtio/qga"
)

// qgaClient opens a channel and returns a synchronised QGA client on it.
func (s *suite) qgaClient(ctx SpecContext) *qga.Client {
	GinkgoHelper()
	c := open(ctx, s.cfg)
	cl := qga.New(c.ch, qga.WithTimeout(s.cfg.Timeout))
	if err := cl.Sync(ctx); err != nil {
		Fail(fmt.Sprintf("guest-sync-delimited did not resynchronise within %s: %v", s.cfg.Timeout, err))
	}
	return cl
}

// needEnabled skips the spec when the agent does not offer command.
func needEnabled(ctx context.Context, cl *qga.Client, command string) {
	GinkgoHelper()
	info, err := cl.Info(ctx)
	Expect(err).NotTo(HaveOccurred(), "guest-info")
	if !info.Enabled(command) {
		Skip(fmt.Sprintf("agent does not offer %s (disabled or not supported)", command))
	}
}

func (s *suite) qgaSpecs() {
	s.it("[GA-QGA-001] guest-sync-delimited MUST resynchronise the channel after a torn request", func(ctx SpecContext) {
		c := open(ctx, s.cfg)
		cl := qga.New(c.ch, qga.WithTimeout(s.cfg.Timeout))
		Expect(c.ch.SendString(ctx, `{"execute":"guest-pi`)).To(Succeed(), "send a torn request")
		Expect(cl.Sync(ctx)).To(Succeed(), "guest-sync-delimited after a torn request")
		Expect(cl.Ping(ctx)).To(Succeed(), "guest-ping after the sync")
	})

	s.it("[GA-QGA-002] guest-ping MUST return an empty object, every time", func(ctx SpecContext) {
		cl := s.qgaClient(ctx)
		for range s.cfg.Repeat {
			var out map[string]any
			Expect(cl.Call(ctx, "guest-ping", nil, &out)).To(Succeed())
			Expect(out).To(BeEmpty(), "guest-ping return")
		}
	})

	s.it("[GA-QGA-003] guest-info MUST report a version and list guest-ping as enabled", func(ctx SpecContext) {
		cl := s.qgaClient(ctx)
		info, err := cl.Info(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(info.Version).NotTo(BeEmpty(), "guest-info version")
		Expect(info.Enabled("guest-ping")).To(BeTrue(), "guest-info lists %d commands, guest-ping not enabled among them", len(info.Commands))
	})

	s.it("[GA-QGA-004] guest-get-osinfo MUST describe the guest's kernel and machine", func(ctx SpecContext) {
		cl := s.qgaClient(ctx)
		needEnabled(ctx, cl, "guest-get-osinfo")
		os, err := cl.GetOSInfo(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(os.KernelRelease).NotTo(BeEmpty(), "kernel-release")
		Expect(os.Machine).NotTo(BeEmpty(), "machine")
	})

	s.it("[GA-QGA-005] guest-file-write then guest-file-read MUST round-trip bytes through a temp path", func(ctx SpecContext) {
		cl := s.qgaClient(ctx)
		for _, cmd := range []string{"guest-file-open", "guest-file-write", "guest-file-read", "guest-file-close"} {
			needEnabled(ctx, cl, cmd)
		}
		p := path.Join(s.cfg.GuestTempDir, fmt.Sprintf("vmtestbed-ga-%d.bin", rand.Uint32()))
		data := payload(5, 20<<10)
		h, err := cl.FileOpen(ctx, p, "w")
		Expect(err).NotTo(HaveOccurred(), "open %s for writing", p)
		DeferCleanup(func(ctx SpecContext) { removeGuestFile(ctx, cl, p) })
		n, err := cl.FileWrite(ctx, h, data)
		Expect(err).NotTo(HaveOccurred(), "write %s", p)
		Expect(n).To(Equal(len(data)), "bytes written")
		Expect(cl.FileClose(ctx, h)).To(Succeed())
		h, err = cl.FileOpen(ctx, p, "r")
		Expect(err).NotTo(HaveOccurred(), "open %s for reading", p)
		DeferCleanup(func(ctx SpecContext) { _ = cl.FileClose(ctx, h) })
		var back []byte
		for {
			b, eof, err := cl.FileRead(ctx, h, 8<<10)
			Expect(err).NotTo(HaveOccurred(), "read %s at %d", p, len(back))
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
