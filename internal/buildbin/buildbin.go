// Package buildbin builds Go main packages for tests, once per process and
// per (package, ldflags) pair, into a directory that outlives the test run.
// Tests use it so `go test ./...` works without `make build` first.
package buildbin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

var (
	mu    sync.Mutex
	built = map[string]string{}
)

// ModuleRoot finds the directory holding this module's go.mod.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the vmtestbed module")
	}
	return filepath.Dir(mod), nil
}

// CacheDir is where built binaries live: $VMTESTBED_CACHE, else the user
// cache dir, else the system temp dir.
func CacheDir() string {
	if d := os.Getenv("VMTESTBED_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "vmtestbed")
	}
	return filepath.Join(os.TempDir(), "vmtestbed-cache")
}

// Build compiles the main package pkg (an import path or ./relative path from
// the module root) with the given -ldflags and returns the binary's path.
// Extra environment (e.g. CGO_ENABLED=0) is applied to the build.
func Build(pkg, ldflags string, env ...string) (string, error) {
	key := pkg + "\x00" + ldflags + "\x00" + strings.Join(env, "\x00")
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[key]; ok {
		return p, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(key + root))
	dir := filepath.Join(CacheDir(), "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(dir, filepath.Base(pkg)+"-"+hex.EncodeToString(sum[:6]))
	args := []string{"build", "-o", out}
	if ldflags != "" {
		args = append(args, "-ldflags", ldflags)
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	built[key] = out
	return out, nil
}
