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
	backend, guestAgent, guestCache string
	uris                            []string
	// prefix names the domains of this command (default vmtestbed-cli);
	// the sweeps at start and end remove every domain that starts with it.
	prefix string
}

func (b *backendFlags) bind(fl *pflag.FlagSet) {
	def := os.Getenv("VMTESTBED_BACKEND")
	if def == "" {
		def = backendFake
	}
	fl.StringVar(&b.backend, "backend", def, "where machines run: fake (simulated, in this process) or realhv (libvirt + QEMU; default from $VMTESTBED_BACKEND)")
	fl.StringSliceVar(&b.uris, "libvirt-uri", []string{realhv.DefaultURI}, "with --backend realhv, the libvirt to run guests on; repeat it (or give a comma list) to spread a run's guests over several hosts")
	fl.StringVar(&b.guestAgent, "guest-agent", "", "with --backend realhv, the static agent binary the guest runs as /init (default: vmagent next to this binary)")
	fl.StringVar(&b.guestCache, "guest-cache", "/var/cache/vmtestbed/guest", "with --backend realhv, where the guest image is built and kept")
}

func (b *backendFlags) validate() error {
	if b.backend != backendFake && b.backend != backendRealhv {
		return fmt.Errorf("--backend %q: want fake or realhv", b.backend)
	}
	if len(b.uris) == 0 {
		return errors.New("--libvirt-uri: at least one URI")
	}
	return nil
}

// realhvRun is what a --backend realhv run holds: the libvirt hosts (at
// least one; the first takes what goes on no node), the guest image, and a
// directory for channel sockets QEMU can create.
type realhvRun struct {
	hosts []*realhv.Host
	img   realhv.Image
	dir   string
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
	prefix := b.prefix
	if prefix == "" {
		prefix = "vmtestbed-cli"
	}
	uris := b.uris // validate refused an empty list
	var hosts []*realhv.Host
	closeAll := func() error {
		var errs []error
		for _, h := range hosts {
			_, serr := h.Sweep()
			errs = append(errs, serr, h.Close())
		}
		return errors.Join(errs...)
	}
	for _, uri := range uris {
		h, err := realhv.Connect(ctx, uri, realhv.Options{Prefix: prefix})
		if err != nil {
			_ = closeAll()
			return nil, nil, fmt.Errorf("--backend realhv: %w (ci/realhv-setup.sh installs and starts libvirt)", err)
		}
		hosts = append(hosts, h)
		if _, err := h.Sweep(); err != nil {
			_ = closeAll()
			return nil, nil, err
		}
	}
	img, err := realhv.BuildImage(ctx, b.guestCache, agent)
	if err != nil {
		_ = closeAll()
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "vmtestbed-realhv-")
	if err == nil {
		err = os.Chmod(dir, 0o777) // QEMU may run as another user
	}
	if err != nil {
		_ = closeAll()
		return nil, nil, err
	}
	done := func() {
		// A failed sweep at the end is a domain left behind: say so.
		if err := errors.Join(closeAll(), os.RemoveAll(dir)); err != nil {
			fmt.Fprintln(os.Stderr, "vmtestbed: cleaning up the realhv run:", err)
		}
	}
	return &realhvRun{hosts: hosts, img: img, dir: dir}, done, nil
}
