package guestagent

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// child runs TestChildSuite for target in a new process and returns its
// combined output and exit error.
func child(t *testing.T, target, resultPath string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestChildSuite$", "-test.v")
	cmd.Env = append(os.Environ(), envTarget+"="+target, envResult+"="+resultPath)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestTargetsPass(t *testing.T) {
	for _, target := range []string{"json/pty", "json/unix", "line/pty", "line/unix"} {
		t.Run(strings.ReplaceAll(target, "/", "-"), func(t *testing.T) {
			t.Parallel()
			out, err := child(t, target, "")
			if err != nil {
				t.Fatalf("suite against %s failed: %v\n%s", target, err, out)
			}
			if !strings.Contains(out, "0 Failed") || strings.Contains(out, "Ran 0 of") {
				t.Fatalf("suite against %s did not run cleanly:\n%s", target, out)
			}
		})
	}
}
