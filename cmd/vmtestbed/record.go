package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recorder"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recording"
)

func init() {
	var plugin, out string
	record := &cobra.Command{
		Use:   "record --plugin PATH --out DIR",
		Short: "Wrap an Avalanche VM plugin so the node that runs it records every rpcchainvm call",
		Long: `Writes DIR/plugin, a wrapper script to install in AvalancheGo's plugin
directory in place of the plugin (named after the VM ID). Every process the
node starts from it runs the real plugin behind a recording proxy and writes
one session file DIR/session-<UTC start>-<pid>.jsonl (format: docs/RECORDING.md).
Replay a chain session with: vmtestbed replay DIR --plugin PATH.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRecord(cmd.OutOrStdout(), plugin, out)
		},
	}
	record.Flags().StringVar(&plugin, "plugin", "", "the plugin binary to record (required)")
	record.Flags().StringVar(&out, "out", "", "recording directory: the wrapper and the session files go here (required)")

	normalize := &cobra.Command{
		Use:   "normalize SRC_DIR DST_DIR",
		Short: "Rewrite run-specific values (addresses, chain data dir, pids, start time) so sessions can be committed and compared",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runNormalize(cmd.OutOrStdout(), args[0], args[1])
		},
	}
	record.AddCommand(normalize)

	var pplugin, pout string
	proxy := &cobra.Command{
		Use:    recorder.ProxyCommand + " --plugin PATH --out DIR",
		Short:  "Run a plugin behind a recording proxy (what the wrapper written by `record` runs)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := recorder.Run(cmd.Context(), recorder.Config{Plugin: pplugin, OutDir: pout})
			if err != nil {
				fmt.Fprintln(os.Stderr, "vmtestbed record-proxy:", err)
			}
			if res.ExitCode != 0 {
				return withCode(res.ExitCode, nil)
			}
			if err != nil {
				return withCode(exitFailed, nil)
			}
			return nil
		},
	}
	proxy.Flags().StringVar(&pplugin, "plugin", "", "the real plugin binary (absolute path)")
	proxy.Flags().StringVar(&pout, "out", "", "directory for the session file")
	rootCmd.AddCommand(record, proxy)
}

func runRecord(out io.Writer, plugin, dir string) error {
	if plugin == "" || dir == "" {
		return withCode(exitUsage, errors.New("record: give --plugin and --out"))
	}
	self, err := os.Executable()
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("record: find the vmtestbed binary: %w", err))
	}
	if strings.Contains(self, string(filepath.Separator)+"go-build") {
		return withCode(exitUsage, fmt.Errorf("record: this vmtestbed (%s) is a temporary `go run` build the wrapper cannot rely on; build it (make build) and run that", self))
	}
	path, err := recorder.WriteWrapper(dir, self, plugin)
	if err != nil {
		return withCode(exitUsage, err)
	}
	fmt.Fprintf(out, `Wrote %s.
Install it in AvalancheGo's plugin directory under your VM's ID, e.g.:
  cp %s ~/.avalanchego/plugins/<VM ID>
then start the node as usual. Each plugin process writes a session file into
%s. Afterwards:
  vmtestbed record normalize %s <dir to commit>
  vmtestbed replay %s --plugin %s
`, path, path, filepath.Dir(path), filepath.Dir(path), filepath.Dir(path), plugin)
	return nil
}

func runNormalize(out io.Writer, src, dst string) error {
	sessions, err := recording.ReadDir(src)
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("record normalize: %w", err))
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return withCode(exitUsage, fmt.Errorf("record normalize: %w", err))
	}
	for _, s := range sessions {
		path := filepath.Join(dst, s.Name)
		f, err := os.Create(path)
		if err != nil {
			return withCode(exitUsage, fmt.Errorf("record normalize: %w", err))
		}
		err = recording.Normalize(s).Encode(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return withCode(exitUsage, fmt.Errorf("record normalize %s: %w", path, err))
		}
		fmt.Fprintf(out, "%s: %d calls\n", path, len(s.Calls))
	}
	return nil
}
