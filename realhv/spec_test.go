package realhv

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"

	"github.com/vmtestbed/vmtestbed/virtio"
)

func TestSpecXML(t *testing.T) {
	s := Spec{
		Name: "vmtestbed-abc-g1", MemoryMiB: 128, VCPUs: 2,
		Kernel: "/k/vmlinuz", Initrd: "/k/initrd", Cmdline: "console=ttyS0 quiet",
		Disks:    []Disk{{Path: "/d/a.img"}, {Path: "/d/b.qcow2", Format: "qcow2", ReadOnly: true}},
		NICs:     []NIC{{MAC: "52:54:00:00:00:01"}},
		Channels: []Channel{{Name: "com.vmagent.sock", Socket: "/s/agent.sock"}, {Name: "org.qemu.guest_agent.0", Socket: "/s/qga.sock"}},
	}
	doc, err := s.XML()
	if err != nil {
		t.Fatal(err)
	}
	var d libvirtxml.Domain
	if err := d.Unmarshal(doc); err != nil {
		t.Fatalf("the rendered XML does not parse: %v\n%s", err, doc)
	}
	if d.Type != "qemu" || d.Name != s.Name || d.Memory.Value != 128 || d.Memory.Unit != "MiB" || d.VCPU.Value != 2 {
		t.Errorf("type %q name %q memory %v vcpu %v", d.Type, d.Name, d.Memory, d.VCPU)
	}
	if d.OS.Kernel != s.Kernel || d.OS.Initrd != s.Initrd || d.OS.Cmdline != s.Cmdline || d.OS.Type.Type != "hvm" {
		t.Errorf("os %+v", d.OS)
	}
	if n := len(d.Devices.Disks); n != 2 || d.Devices.Disks[1].Target.Dev != "vdb" || d.Devices.Disks[1].Driver.Type != "qcow2" || d.Devices.Disks[1].ReadOnly == nil {
		t.Errorf("disks %+v", d.Devices.Disks)
	}
	if len(d.Devices.Serials) != 1 || d.Devices.Serials[0].Source.Pty == nil {
		t.Errorf("want one serial console on a pty: %+v", d.Devices.Serials)
	}
	for _, c := range s.Channels {
		src, err := virtio.FindChannel([]byte(doc), c.Name)
		if err != nil || src.Path != c.Socket || src.Mode != virtio.ModeBind {
			t.Errorf("virtio discovery of %s in the rendered XML: %+v, %v", c.Name, src, err)
		}
	}
	s.KVM = true
	if doc, _ := s.XML(); !strings.Contains(doc, `type="kvm"`) {
		t.Errorf("KVM spec renders no type kvm:\n%s", doc)
	}
}

func TestSpecValidate(t *testing.T) {
	ok := Spec{Name: "vmtestbed-x-1"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("minimal spec: %v", err)
	}
	for name, s := range map[string]Spec{
		"empty name":        {},
		"path in name":      {Name: "../../etc/passwd"},
		"NUL in name":       {Name: "a\x00b"},
		"long name":         {Name: strings.Repeat("a", 64)},
		"initrd, no kernel": {Name: "a", Initrd: "/x"},
		"channel twice":     {Name: "a", Channels: []Channel{{Name: "c", Socket: "/s"}, {Name: "c", Socket: "/t"}}},
		"channel no socket": {Name: "a", Channels: []Channel{{Name: "c"}}},
		"bad channel name":  {Name: "a", Channels: []Channel{{Name: "a b", Socket: "/s"}}},
		"disk format":       {Name: "a", Disks: []Disk{{Path: "/d", Format: "vmdk"}}},
	} {
		if _, err := s.XML(); err == nil {
			t.Errorf("%s: rendered without error", name)
		}
	}
}

type fakeInfo struct{ os.FileInfo }

func TestKVMDetection(t *testing.T) {
	files := func(present ...string) func(string) (os.FileInfo, error) {
		return func(p string) (os.FileInfo, error) {
			for _, f := range present {
				if f == p {
					return fakeInfo{}, nil
				}
			}
			return nil, fs.ErrNotExist
		}
	}
	cpu := func(flags string) func(string) ([]byte, error) {
		return func(string) ([]byte, error) { return []byte("processor : 0\nflags : fpu " + flags + " sse\n"), nil }
	}
	for _, tc := range []struct {
		name  string
		stat  func(string) (os.FileInfo, error)
		read  func(string) ([]byte, error)
		want  bool
		cause string
	}{
		{"vmx", files("/dev/kvm"), cpu("vmx"), true, ""},
		{"svm", files("/dev/kvm"), cpu("svm"), true, ""},
		{"no device", files(), cpu("vmx"), false, "no /dev/kvm"},
		{"nested PVM", files("/dev/kvm", "/sys/module/kvm_pvm"), cpu("vmx"), false, "kvm_pvm"},
		{"no flags", files("/dev/kvm"), cpu(""), false, "neither vmx nor svm"},
		{"unreadable", files("/dev/kvm"), func(string) ([]byte, error) { return nil, errors.New("EACCES") }, false, "cannot read"},
	} {
		ok, why := kvmFrom(tc.stat, tc.read)
		if ok != tc.want || !strings.Contains(why, tc.cause) {
			t.Errorf("%s: %v %q, want %v with %q", tc.name, ok, why, tc.want, tc.cause)
		}
	}
}
