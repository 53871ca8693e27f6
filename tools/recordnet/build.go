package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The packages this module pins (go.mod: `tool` directives), built from the
// Go module proxy, never from a checkout.
const (
	avalancheGoVersion = "v1.14.2"
	nodePackage        = "github.com/ava-labs/avalanchego/main"
	xsvmPackage        = "github.com/ava-labs/avalanchego/vms/example/xsvm/cmd/xsvm"
	modulePath         = "github.com/vmtestbed/vmtestbed/tools/recordnet"
)

// binaries are the real node and plugin, built once into the cache dir.
type binaries struct {
	AvalancheGo string
	XSVM        string
	// BuildTime is how long this run spent building (0 when both were cached).
	BuildTime time.Duration
}

// buildBinaries builds AvalancheGo and xsvm into cacheDir/avalanchego-<version>/
// unless both are already there. The build runs inside this module so the
// versions are the ones go.sum pins.
func buildBinaries(ctx context.Context, cacheDir string, logw io.Writer) (*binaries, error) {
	dir := filepath.Join(cacheDir, "avalanchego-"+avalancheGoVersion)
	b := &binaries{
		AvalancheGo: filepath.Join(dir, "avalanchego"),
		XSVM:        filepath.Join(dir, "xsvm"),
	}
	if isExecutable(b.AvalancheGo) && isExecutable(b.XSVM) {
		fmt.Fprintf(logw, "recordnet: reusing %s and %s\n", b.AvalancheGo, b.XSVM)
		return b, nil
	}
	moduleDir, err := findModuleDir()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cache dir: %w", err)
	}
	start := time.Now()
	for _, t := range []struct{ pkg, out string }{
		{nodePackage, b.AvalancheGo},
		{xsvmPackage, b.XSVM},
	} {
		if isExecutable(t.out) {
			continue
		}
		fmt.Fprintf(logw, "recordnet: go build %s@%s (cold: several minutes on 2 cores)\n", t.pkg, avalancheGoVersion)
		tmp := t.out + ".tmp"
		cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, t.pkg)
		cmd.Dir = moduleDir
		cmd.Stdout, cmd.Stderr = logw, logw
		if err := cmd.Run(); err != nil {
			_ = os.Remove(tmp)
			return nil, fmt.Errorf("build %s in %s: %w", t.pkg, moduleDir, err)
		}
		if err := os.Rename(tmp, t.out); err != nil {
			return nil, fmt.Errorf("install %s: %w", t.out, err)
		}
	}
	b.BuildTime = time.Since(start)
	fmt.Fprintf(logw, "recordnet: built in %s\n", b.BuildTime.Round(time.Second))
	return b, nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// findModuleDir finds this module's directory from the working directory
// upwards (the tool is meant to be run with `go run .` in tools/recordnet).
func findModuleDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if name, err := moduleName(filepath.Join(dir, "go.mod")); err == nil && name == modulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("building the binaries needs this tool's module: run it from tools/recordnet (go run .)")
		}
		// tools/recordnet below a checkout root.
		if name, err := moduleName(filepath.Join(dir, "tools", "recordnet", "go.mod")); err == nil && name == modulePath {
			return filepath.Join(dir, "tools", "recordnet"), nil
		}
		dir = parent
	}
}

func moduleName(goMod string) (string, error) {
	f, err := os.Open(goMod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module "); ok {
			return strings.TrimSpace(rest), nil
		}
	}
	return "", fmt.Errorf("%s: no module line", goMod)
}
