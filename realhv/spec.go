package realhv

import (
	"errors"
	"fmt"
	"regexp"

	"libvirt.org/go/libvirtxml"
)

// Spec is what a domain is made of. Zero values get small defaults.
type Spec struct {
	Name      string // the full domain name (Host.Create sets it from the prefix)
	MemoryMiB uint   // default 256
	VCPUs     uint   // default 1
	// Kernel, Initrd and Cmdline boot the guest directly (no bootloader).
	// Empty Kernel: the domain boots its firmware only (useful for lifecycle
	// checks without a guest).
	Kernel, Initrd, Cmdline string
	// Disks are raw or qcow2 image files attached as virtio disks vda, vdb, ...
	Disks []Disk
	// NICs are user-mode (no host set-up) virtio network interfaces.
	NICs []NIC
	// Channels are virtio-serial ports, each with a unix socket on the host
	// that libvirt (QEMU) listens on.
	Channels []Channel
	// KVM selects type 'kvm'; else 'qemu' (TCG).
	KVM bool
}

// Disk is one disk image.
type Disk struct {
	Path     string
	Format   string // "raw" (default) or "qcow2"
	ReadOnly bool
}

// NIC is one network interface.
type NIC struct {
	MAC string // "" = libvirt picks one
}

// Channel is one virtio-serial port: the guest sees /dev/virtio-ports/Name.
type Channel struct {
	Name   string // e.g. "com.vmagent.sock", "org.qemu.guest_agent.0"
	Socket string // host path of the unix socket QEMU listens on
}

var (
	domainName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+-]{0,62}$`)
	channelName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
)

// Validate reports a Spec libvirt would refuse, or that would not be ours to
// clean up, before anything is created.
func (s Spec) Validate() error {
	var errs []error
	if !domainName.MatchString(s.Name) {
		errs = append(errs, fmt.Errorf("domain name %q: want 1-63 of [A-Za-z0-9_.+-], starting with a letter or digit", s.Name))
	}
	if s.Kernel == "" && (s.Initrd != "" || s.Cmdline != "") {
		errs = append(errs, errors.New("an initrd or kernel command line needs a kernel"))
	}
	seen := map[string]bool{}
	for _, c := range s.Channels {
		switch {
		case !channelName.MatchString(c.Name):
			errs = append(errs, fmt.Errorf("channel name %q: want 1-64 of [A-Za-z0-9_.-]", c.Name))
		case seen[c.Name]:
			errs = append(errs, fmt.Errorf("channel %q twice", c.Name))
		case c.Socket == "":
			errs = append(errs, fmt.Errorf("channel %q has no socket path", c.Name))
		}
		seen[c.Name] = true
	}
	for _, d := range s.Disks {
		if d.Format != "" && d.Format != "raw" && d.Format != "qcow2" {
			errs = append(errs, fmt.Errorf("disk %s: format %q, want raw or qcow2", d.Path, d.Format))
		}
	}
	if len(s.Disks) > 26 {
		errs = append(errs, fmt.Errorf("%d disks: at most 26 (vda..vdz)", len(s.Disks)))
	}
	return errors.Join(errs...)
}

// XML renders the domain XML libvirt defines the domain from.
func (s Spec) XML() (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	mem, cpus := s.MemoryMiB, s.VCPUs
	if mem == 0 {
		mem = 256
	}
	if cpus == 0 {
		cpus = 1
	}
	typ := "qemu"
	if s.KVM {
		typ = "kvm"
	}
	port0 := uint(0)
	d := &libvirtxml.Domain{
		Type:       typ,
		Name:       s.Name,
		Memory:     &libvirtxml.DomainMemory{Value: mem, Unit: "MiB"},
		VCPU:       &libvirtxml.DomainVCPU{Value: cpus},
		OnPoweroff: "destroy",
		OnReboot:   "destroy", // a guest that reboots has ended its run
		OnCrash:    "destroy",
		OS: &libvirtxml.DomainOS{
			Type:    &libvirtxml.DomainOSType{Arch: "x86_64", Machine: "pc", Type: "hvm"},
			Kernel:  s.Kernel,
			Initrd:  s.Initrd,
			Cmdline: s.Cmdline,
		},
		Features: &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}},
		Devices: &libvirtxml.DomainDeviceList{
			// The serial console is a pty on the host, as libvirt gives it.
			Serials: []libvirtxml.DomainSerial{{
				Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
				Target: &libvirtxml.DomainSerialTarget{Port: &port0},
			}},
			Consoles: []libvirtxml.DomainConsole{{
				Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
				Target: &libvirtxml.DomainConsoleTarget{Type: "serial", Port: &port0},
			}},
			MemBalloon: &libvirtxml.DomainMemBalloon{Model: "none"},
		},
	}
	for i, disk := range s.Disks {
		format := disk.Format
		if format == "" {
			format = "raw"
		}
		dd := libvirtxml.DomainDisk{
			Device: "disk",
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: format},
			Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: disk.Path}},
			Target: &libvirtxml.DomainDiskTarget{Dev: "vd" + string(rune('a'+i)), Bus: "virtio"},
		}
		if disk.ReadOnly {
			dd.ReadOnly = &libvirtxml.DomainDiskReadOnly{}
		}
		d.Devices.Disks = append(d.Devices.Disks, dd)
	}
	for _, nic := range s.NICs {
		ni := libvirtxml.DomainInterface{
			Source: &libvirtxml.DomainInterfaceSource{User: &libvirtxml.DomainInterfaceSourceUser{}},
			Model:  &libvirtxml.DomainInterfaceModel{Type: "virtio"},
		}
		if nic.MAC != "" {
			ni.MAC = &libvirtxml.DomainInterfaceMAC{Address: nic.MAC}
		}
		d.Devices.Interfaces = append(d.Devices.Interfaces, ni)
	}
	for _, c := range s.Channels {
		d.Devices.Channels = append(d.Devices.Channels, libvirtxml.DomainChannel{
			Source: &libvirtxml.DomainChardevSource{UNIX: &libvirtxml.DomainChardevSourceUNIX{Mode: "bind", Path: c.Socket}},
			Target: &libvirtxml.DomainChannelTarget{VirtIO: &libvirtxml.DomainChannelTargetVirtIO{Name: c.Name}},
		})
	}
	out, err := d.Marshal()
	if err != nil {
		return "", fmt.Errorf("render domain %s: %w", s.Name, err)
	}
	return out, nil
}
