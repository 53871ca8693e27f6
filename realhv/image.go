package realhv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/cavaliergopher/cpio"
)

// Image is a guest the project builds: a Debian cloud kernel booted
// directly, and an initramfs whose /init is our static agent.
type Image struct {
	Kernel, Initrd string
	KernelVersion  string
}

// Cmdline is the kernel command line for an Image: the console on the
// serial port, and power off (not reboot) on a panic.
const Cmdline = "console=ttyS0 panic=-1 reboot=t"

// guestModules are the modules the agent's port needs, in load order
// (VIRTIO* are modules in Debian's cloud kernel).
var guestModules = []string{
	"drivers/virtio/virtio_ring.ko",
	"drivers/virtio/virtio.ko",
	"drivers/virtio/virtio_pci_modern_dev.ko",
	"drivers/virtio/virtio_pci_legacy_dev.ko",
	"drivers/virtio/virtio_pci.ko",
	"drivers/char/virtio_console.ko",
}

// busyboxApplets are linked into /bin so the agent's exec allow-list
// resolves without a shell or a PATH search beyond /bin.
var busyboxApplets = []string{"echo", "uname", "hostname", "true", "false", "sh", "cat", "ls", "sleep"}

// BuildImage builds (or reuses, from cacheDir) the guest: it downloads the
// kernel package Debian's linux-image-cloud-amd64 depends on and
// busybox-static with apt-get download, unpacks them with dpkg -x, and
// writes an initramfs (newc cpio) holding agent as /init, the virtio
// modules, their load order and busybox. The initramfs is named by a hash of
// its inputs, so a new agent binary gives a new image. The kernel package
// chosen first is recorded in cacheDir, so a warm start runs no subprocess.
// Every cache entry is written under a name of its own and renamed into
// place, so processes building at once do not corrupt the cache.
func BuildImage(ctx context.Context, cacheDir, agent string) (Image, error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return Image{}, fmt.Errorf("guest image cache: %w", err)
	}
	kpkg, err := kernelPackage(ctx, cacheDir)
	if err != nil {
		return Image{}, err
	}
	kdir, err := unpacked(ctx, cacheDir, kpkg)
	if err != nil {
		return Image{}, err
	}
	bdir, err := unpacked(ctx, cacheDir, "busybox-static")
	if err != nil {
		return Image{}, err
	}
	vmlinuz, _ := filepath.Glob(filepath.Join(kdir, "boot", "vmlinuz-*"))
	if len(vmlinuz) != 1 {
		return Image{}, fmt.Errorf("guest image: want one vmlinuz in %s, found %v", kpkg, vmlinuz)
	}
	version := strings.TrimPrefix(filepath.Base(vmlinuz[0]), "vmlinuz-")
	moddir := filepath.Join(kdir, "lib", "modules", version, "kernel")
	agentSum, err := fileSum(agent)
	if err != nil {
		return Image{}, fmt.Errorf("guest image: agent: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%v\n%v\n", version, agentSum, bdir, guestModules, busyboxApplets)
	initrd := filepath.Join(cacheDir, "initrd-"+hex.EncodeToString(h.Sum(nil))[:16]+".cpio")
	img := Image{Kernel: vmlinuz[0], Initrd: initrd, KernelVersion: version}
	if _, err := os.Stat(initrd); err == nil {
		return img, nil
	}
	// Written to a file of its own and renamed into place, so processes
	// building the same image at once each rename a whole archive.
	f, err := os.CreateTemp(cacheDir, "initrd-*.tmp")
	if err != nil {
		return Image{}, fmt.Errorf("guest image: %w", err)
	}
	tmp := f.Name()
	if err := writeInitramfs(f, agent, moddir, filepath.Join(bdir, "bin", "busybox")); err != nil {
		os.Remove(tmp)
		return Image{}, err
	}
	if err := os.Chmod(tmp, 0o644); err != nil { // QEMU reads it as its own user
		os.Remove(tmp)
		return Image{}, fmt.Errorf("guest image: %w", err)
	}
	if err := os.Rename(tmp, initrd); err != nil {
		os.Remove(tmp)
		return Image{}, fmt.Errorf("guest image: %w", err)
	}
	return img, nil
}

// kernelPackageFile records, in the cache, which kernel package the first
// build used, so a warm start runs no apt-cache. Delete the cache directory
// to pick up a newer kernel.
const kernelPackageFile = "kernel-package"

// kernelPackage returns the kernel package the cache records, else asks apt
// which one the cloud metapackage wants and records it.
func kernelPackage(ctx context.Context, cacheDir string) (string, error) {
	rec := filepath.Join(cacheDir, kernelPackageFile)
	if b, err := os.ReadFile(rec); err == nil {
		if pkg := strings.TrimSpace(string(b)); pkg != "" {
			return pkg, nil
		}
	}
	pkg, err := aptKernelPackage(ctx)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(cacheDir, kernelPackageFile+"-*.tmp")
	if err != nil {
		return "", fmt.Errorf("guest image: %w", err)
	}
	_, werr := io.WriteString(f, pkg+"\n")
	if err := errors.Join(werr, f.Close()); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("guest image: %w", err)
	}
	if err := os.Rename(f.Name(), rec); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("guest image: %w", err)
	}
	return pkg, nil
}

// aptKernelPackage asks apt which kernel package the cloud metapackage wants.
func aptKernelPackage(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", "linux-image-cloud-amd64").Output()
	if err != nil {
		return "", fmt.Errorf("guest image: apt-cache depends linux-image-cloud-amd64: %w (run apt-get update?)", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
			return f[1], nil
		}
	}
	return "", errors.New("guest image: linux-image-cloud-amd64 depends on no linux-image package")
}

// unpacked downloads pkg with apt-get download and unpacks it with dpkg -x
// into cacheDir/pkg, once.
func unpacked(ctx context.Context, cacheDir, pkg string) (string, error) {
	dir := filepath.Join(cacheDir, pkg)
	if _, err := os.Stat(filepath.Join(dir, ".done")); err == nil {
		return dir, nil
	}
	dl, err := os.MkdirTemp(cacheDir, "download-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dl)
	_ = os.Chmod(dl, 0o777) // apt's sandbox user writes here
	get := exec.CommandContext(ctx, "apt-get", "download", "-q", pkg)
	get.Dir = dl
	if out, err := get.CombinedOutput(); err != nil {
		return "", fmt.Errorf("guest image: apt-get download %s: %w\n%s", pkg, err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dl, "*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("guest image: apt-get download %s gave %v", pkg, debs)
	}
	// Unpack into a directory of our own and rename it into place: a
	// process unpacking the same package at once never sees a half tree.
	tmp, err := os.MkdirTemp(cacheDir, pkg+".unpack-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // gone after the rename; else our losing copy
	// QEMU reads the kernel as its own user.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if out, err := exec.CommandContext(ctx, "dpkg", "-x", debs[0], tmp).CombinedOutput(); err != nil {
		return "", fmt.Errorf("guest image: dpkg -x %s: %w\n%s", filepath.Base(debs[0]), err, out)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".done"), nil, 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, ".done")); serr == nil {
			return dir, nil // another process won the rename: use theirs
		}
		// A tree without .done was left by an unpack that died (before
		// unpacks were renamed into place): replace it.
		if rerr := os.RemoveAll(dir); rerr != nil {
			return "", fmt.Errorf("guest image: %w", rerr)
		}
		if err := os.Rename(tmp, dir); err != nil {
			if _, serr := os.Stat(filepath.Join(dir, ".done")); serr == nil {
				return dir, nil
			}
			return "", fmt.Errorf("guest image: %w", err)
		}
	}
	return dir, nil
}

// writeInitramfs writes the newc cpio archive the kernel unpacks as its
// root file system, into f, and closes f.
func writeInitramfs(f *os.File, agent, moddir, busybox string) error {
	w := cpio.NewWriter(f)
	dir := func(name string) error {
		return w.WriteHeader(&cpio.Header{Name: name, Mode: cpio.TypeDir | 0o755})
	}
	file := func(name, src string, mode cpio.FileMode) error {
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := w.WriteHeader(&cpio.Header{Name: name, Mode: mode, Size: int64(len(b))}); err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	var errs []error
	for _, d := range []string{"bin", "dev", "proc", "sys", "tmp", "lib", "lib/modules"} {
		errs = append(errs, dir(d))
	}
	errs = append(errs, file("init", agent, 0o755))
	var order strings.Builder
	for _, m := range guestModules {
		name := "lib/modules/" + filepath.Base(m)
		errs = append(errs, file(name, filepath.Join(moddir, m), 0o644))
		order.WriteString("/" + name + "\n")
	}
	errs = append(errs, w.WriteHeader(&cpio.Header{Name: "lib/modules/order", Mode: 0o644, Size: int64(order.Len())}))
	_, werr := io.WriteString(w, order.String())
	errs = append(errs, werr)
	errs = append(errs, file("bin/busybox", busybox, 0o755))
	for _, a := range busyboxApplets {
		errs = append(errs, w.WriteHeader(&cpio.Header{Name: "bin/" + a, Mode: cpio.TypeSymlink | 0o777, Linkname: "busybox", Size: int64(len("busybox"))}))
		_, werr := io.WriteString(w, "busybox")
		errs = append(errs, werr)
	}
	errs = append(errs, w.Close(), f.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("guest image: write initramfs: %w", err)
	}
	return nil
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
