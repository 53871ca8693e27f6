package report_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/internal/killtest"
)

// TestSuitesFromAnotherModule builds a throwaway module (testdata/othermodule)
// that imports the three suites the way a plugin, server or agent author
// would, through public packages only, and runs one focused spec of each
// with `go test`. It fails if a suite's public API needs anything another
// module cannot build (an internal package, a test-only type).
func TestSuitesFromAnotherModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three test binaries")
	}
	_, file, _, _ := runtime.Caller(0)
	repo, err := filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/othermodule")); err != nil {
		t.Fatal(err)
	}
	gomod := "module example.com/myconformance\n\ngo 1.26\n\nrequire github.com/vmtestbed/vmtestbed v0.0.0\n\nreplace github.com/vmtestbed/vmtestbed => " + repo + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	// A hung build or test must not outlive this test's own -timeout.
	ctx, cancel := killtest.TestContext(t)
	defer cancel()
	cmd := exec.CommandContext(ctx, gobin, "test", "-count=1", "-v", "./...", "-args",
		"-ginkgo.focus", `\[(AVA-INI-00[12]|HV-CLU-00[12]|GA-HELLO-001)\]`)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	// Everything the module needs is in vmtestbed's own requirement graph,
	// already in the module cache: no network.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test in another module: %v\n%s", err, out)
	}
	for _, pkg := range []string{"avalanche", "hypervisor", "guestagent"} {
		if !strings.Contains(string(out), "ok  \texample.com/myconformance/"+pkg) {
			t.Errorf("package %s did not pass:\n%s", pkg, out)
		}
	}
	if ran := regexp.MustCompile(`Ran [1-9][0-9]* of [0-9]+ Specs`).FindAll(out, -1); len(ran) != 3 {
		t.Errorf("%d of the 3 suites ran a spec:\n%s", len(ran), out)
	}
}
