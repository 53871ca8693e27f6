package xsvm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// DefaultVersion is the xsvm release the integration test pins: protocol 45,
// the newest release whose wire matches our default (46).
const DefaultVersion = "v1.14.2"

const xsvmPkg = "github.com/ava-labs/avalanchego/vms/example/xsvm/cmd/xsvm"

// Build compiles xsvm at version (an avalanchego release tag) into
// cacheDir/xsvm-<version>/xsvm, in a scratch module of its own so that none of
// its dependencies touch ours. A binary already there is reused.
func Build(ctx context.Context, cacheDir, version string) (string, error) {
	if version == "" {
		version = DefaultVersion
	}
	dir := filepath.Join(cacheDir, "xsvm-"+version)
	bin := filepath.Join(dir, "xsvm")
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build xsvm %s: %w", version, err)
	}
	mod := "module vmtestbed.local/xsvmbuild\n\ngo 1.25\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644); err != nil {
		return "", fmt.Errorf("build xsvm %s: %w", version, err)
	}
	tmp := bin + ".tmp"
	steps := [][]string{
		{"go", "get", xsvmPkg + "@" + version},
		{"go", "build", "-o", tmp, xsvmPkg},
	}
	for _, args := range steps {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("build xsvm %s: %s: %w\n%s", version, strings.Join(args, " "), err, tail(out, 20))
		}
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", fmt.Errorf("build xsvm %s: %w", version, err)
	}
	return bin, nil
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
