package avalanchego_test

import (
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/vmtestbed/vmtestbed/internal/buildbin"
)

// goleveldb's mpoolDrain lingers up to one second after DB.Close by design
// (it drains its pool with a 1 s timeout), then exits by itself.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"))
}

// testPlugin builds testdata/plugins/testplugin once and links it under
// mode's name (the plugin picks its behaviour from its own name).
func testPlugin(t testing.TB, mode string) string {
	t.Helper()
	bin, err := buildbin.Build("./fakes/avalanchego/testdata/plugins/testplugin", "")
	if err != nil {
		t.Fatalf("build test plugin: %v", err)
	}
	link := filepath.Join(t.TempDir(), mode)
	if err := os.Symlink(bin, link); err != nil {
		t.Fatalf("link test plugin: %v", err)
	}
	return link
}
