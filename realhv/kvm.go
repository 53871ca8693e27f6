package realhv

import (
	"bytes"
	"os"
)

// KVM reports whether hardware virtualization works here, and why not: the
// device exists, the CPU has vmx or svm, and the kvm_pvm module (nested PVM,
// which cannot boot a stock guest) is not what provides it. Domains are
// type 'kvm' only when it does; else 'qemu' (TCG).
func KVM() (ok bool, why string) {
	return kvmFrom(os.Stat, os.ReadFile)
}

func kvmFrom(stat func(string) (os.FileInfo, error), read func(string) ([]byte, error)) (bool, string) {
	if _, err := stat("/dev/kvm"); err != nil {
		return false, "no /dev/kvm"
	}
	if _, err := stat("/sys/module/kvm_pvm"); err == nil {
		return false, "/dev/kvm is nested PVM (kvm_pvm), which cannot boot a stock guest"
	}
	cpuinfo, err := read("/proc/cpuinfo")
	if err != nil {
		return false, "cannot read /proc/cpuinfo: " + err.Error()
	}
	for _, line := range bytes.Split(cpuinfo, []byte("\n")) {
		if !bytes.HasPrefix(line, []byte("flags")) {
			continue
		}
		for _, f := range bytes.Fields(line) {
			if string(f) == "vmx" || string(f) == "svm" {
				return true, ""
			}
		}
		return false, "the CPU flags have neither vmx nor svm"
	}
	return false, "no CPU flags in /proc/cpuinfo"
}
