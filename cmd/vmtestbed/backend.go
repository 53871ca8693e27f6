package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/vmtestbed/vmtestbed/realhv"
)

// Backends of the hypervisor and guest-agent runs.
const (
	backendFake   = "fake"   // simulated machines in this process
	backendRealhv = "realhv" // libvirt domains booting the project's tiny guest
)

// backendFlags choose where machines run; --backend defaults to
// $VMTESTBED_BACKEND, else fake.
type backendFlags struct {
	backend, uri, guestAgent, guestCache string
}

func (b *backendFlags) bind(fl *pflag.FlagSet) {
	def := os.Getenv("VMTESTBED_BACKEND")
	if def == "" {
		def = backendFake
	}
	fl.StringVar(&b.backend, "backend", def, "where machines run: fake (simulated, in this process) or realhv (libvirt + QEMU; default from $VMTESTBED_BACKEND)")
	fl.StringVar(&b.uri, "libvirt-uri", realhv.DefaultURI, "with --backend realhv, the libvirt to run guests on")
	fl.StringVar(&b.guestAgent, "guest-agent", "", "with --backend realhv, the static agent binary the guest runs as /init (default: vmagent next to this binary)")
	fl.StringVar(&b.guestCache, "guest-cache", "/var/cache/vmtestbed/guest", "with --backend realhv, where the guest image is built and kept")
}

func (b *backendFlags) validate() error {
	if b.backend != backendFake && b.backend != backendRealhv {
		return fmt.Errorf("--backend %q: want fake or realhv", b.backend)
	}
	return nil
}

// realhvRun is what a --backend realhv run holds: the libvirt host, the
// guest image, and a directory for channel sockets QEMU can create.
type realhvRun struct {
	host *realhv.Host
	img  realhv.Image
	dir  string
}

// openRealhv connects to libvirt, sweeps what an interrupted run left,
// and builds (or reuses) the guest image.
func (b *backendFlags) openRealhv(ctx context.Context) (*realhvRun, func(), error) {
	agent := b.guestAgent
	if agent == "" {
		self, err := os.Executable()
		if err != nil {
			return nil, nil, err
		}
		agent = filepath.Join(filepath.Dir(self), "vmagent")
	}
	if _, err := os.Stat(agent); err != nil {
		return nil, nil, fmt.Errorf("--backend realhv needs the static guest agent (make build writes bin/vmagent; or --guest-agent PATH): %w", err)
	}
	h, err := realhv.Connect(ctx, b.uri, realhv.Options{Prefix: "vmtestbed-cli"})
	if err != nil {
		return nil, nil, fmt.Errorf("--backend realhv: %w (ci/realhv-setup.sh installs and starts libvirt)", err)
	}
	if _, err := h.Sweep(); err != nil {
		h.Close()
		return nil, nil, err
	}
	img, err := realhv.BuildImage(ctx, b.guestCache, agent)
	if err != nil {
		h.Close()
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "vmtestbed-realhv-")
	if err == nil {
		err = os.Chmod(dir, 0o777) // QEMU may run as another user
	}
	if err != nil {
		h.Close()
		return nil, nil, err
	}
	done := func() {
		_, serr := h.Sweep()
		_ = errors.Join(serr, h.Close(), os.RemoveAll(dir))
	}
	return &realhvRun{host: h, img: img, dir: dir}, done, nil
}
