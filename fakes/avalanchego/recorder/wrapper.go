package recorder

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// WrapperName is the file name of the wrapper in a recording directory.
const WrapperName = "plugin"

// ProxyCommand is the hidden vmtestbed subcommand the wrapper runs.
const ProxyCommand = "record-proxy"

// WriteWrapper writes dir/plugin, a #!/bin/sh script that execs
// `self record-proxy --plugin PLUGIN --out DIR` with absolute paths (a node
// gives its plugins no PATH). Install it in AvalancheGo's plugin dir under
// the VM ID's name. It returns the script's path.
func WriteWrapper(dir, self, plugin string) (string, error) {
	abs := make([]string, 3)
	for i, p := range []string{dir, self, plugin} {
		a, err := filepath.Abs(p)
		if err != nil {
			return "", fmt.Errorf("write wrapper: %w", err)
		}
		abs[i] = a
	}
	dir, self, plugin = abs[0], abs[1], abs[2]
	if fi, err := os.Stat(plugin); err != nil {
		return "", fmt.Errorf("write wrapper: plugin: %w", err)
	} else if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("write wrapper: plugin %s is not an executable file", plugin)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("write wrapper: %w", err)
	}
	script := fmt.Sprintf("#!/bin/sh\n# Written by vmtestbed record: records every rpcchainvm call of %s into %s.\nexec %s %s --plugin %s --out %s\n",
		filepath.Base(plugin), dir, shellQuote(self), ProxyCommand, shellQuote(plugin), shellQuote(dir))
	path := filepath.Join(dir, WrapperName)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		return "", fmt.Errorf("write wrapper: %w", err)
	}
	// WriteFile keeps the mode of an existing file; make sure it runs.
	if err := os.Chmod(path, 0o755); err != nil {
		return "", fmt.Errorf("write wrapper: %w", err)
	}
	return path, nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
