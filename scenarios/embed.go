// Package scenarios holds the scenario files shipped with vmtestbed, embedded
// so `vmtestbed run NAME` works from any directory. Their golden traces are
// under testdata/ (scenarios_test.go).
package scenarios

import (
	"embed"
	"io/fs"
	"slices"
	"strings"
)

// FS holds every *.yaml scenario in this directory.
//
//go:embed *.yaml
var FS embed.FS

// Default is the scenario `make run` plays.
const Default = "validators-on-hypervisor"

// Names lists the embedded scenarios by name (file name without .yaml), sorted.
func Names() []string {
	entries, _ := fs.ReadDir(FS, ".")
	var out []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Read returns the embedded scenario called name (with or without .yaml).
func Read(name string) ([]byte, bool) {
	name = strings.TrimSuffix(name, ".yaml")
	if strings.ContainsAny(name, "/\\") {
		return nil, false
	}
	b, err := fs.ReadFile(FS, name+".yaml")
	return b, err == nil
}
