package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recording"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/replay"
)

type replayFlags struct {
	plugin          string
	handshake, call time.Duration
	shutdown        time.Duration
	verbose         bool
	sameWire        bool
}

func init() {
	var f replayFlags
	cmd := &cobra.Command{
		Use:   "replay DIR|SESSION.jsonl --plugin PATH",
		Short: "Drive a plugin through a recorded chain session and compare its answers",
		Long: `Replays every chain session (one with vm.VM/Initialize) of a recording
directory, or one session file, against the plugin in the fake node: the
node announces the recorded identity, every node->plugin call is issued in
recorded order (a WaitForEvent left pending stays pending), and each answer
is compared with the recorded one. A block built at another time than
recorded, and differing only in that, is replaced by the recorded one (a
note, not a difference). Pre-init sessions are skipped.
Exit status: 0 no differences, 1 differences (a table is printed), 2 usage
error, a bad recording, or a plugin that could not be started.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReplay(cmd.Context(), cmd.OutOrStdout(), args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.plugin, "plugin", "", "the plugin binary to replay against (required)")
	fl.DurationVar(&f.handshake, "handshake-timeout", 5*time.Second, "how long the plugin has for the runtime handshake")
	fl.DurationVar(&f.call, "call-timeout", 10*time.Second, "bound of every call and of every wait for a call the recording shows ending")
	fl.DurationVar(&f.shutdown, "shutdown-timeout", 5*time.Second, "grace period between SIGTERM and SIGKILL")
	fl.BoolVar(&f.verbose, "verbose", false, "stream the plugin's output")
	fl.BoolVar(&f.sameWire, "same-wire", false, "also accept a plugin whose rpcchainvm protocol differs from the recording's but whose wire is identical (e.g. 46 for a v1.14.2 recording, protocol 45)")
	rootCmd.AddCommand(cmd)
}

// chainSessions loads the sessions to replay from a directory or a file.
func chainSessions(path string) ([]*recording.Session, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	var all []*recording.Session
	if fi.IsDir() {
		if all, err = recording.ReadDir(path); err != nil {
			return nil, err
		}
	} else {
		s, err := recording.Open(path)
		if err != nil {
			return nil, err
		}
		all = []*recording.Session{s}
	}
	var chains []*recording.Session
	for _, s := range all {
		if s.IsChain() {
			chains = append(chains, s)
		}
	}
	if len(chains) == 0 {
		return nil, fmt.Errorf("%s: %d session(s), none a chain session (no vm.VM/Initialize): nothing to replay", path, len(all))
	}
	return chains, nil
}

func runReplay(ctx context.Context, out io.Writer, path string, f replayFlags) error {
	if f.plugin == "" {
		return withCode(exitUsage, errors.New("replay: give --plugin"))
	}
	if ctx == nil {
		ctx = context.Background()
	}
	sessions, err := chainSessions(path)
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("replay: %w", err))
	}
	log := io.Discard
	if f.verbose {
		log = os.Stderr
	}
	var diffs []replay.Difference
	for _, s := range sessions {
		rep, err := replay.Run(ctx, replay.Config{
			Plugin: f.plugin, Session: s, SameWire: f.sameWire, HandshakeTimeout: f.handshake, CallTimeout: f.call,
			ShutdownTimeout: f.shutdown, Log: log, Notices: out,
		})
		if err != nil {
			var le *avalanchego.LaunchError
			if errors.As(err, &le) && le.Phase == avalanchego.PhaseProtocol {
				// The launcher's hint names conform's --avalanchego/--protocol; here the recording fixes the protocol.
				err = fmt.Errorf("%w\nreplay: the recording was made with rpcchainvm protocol %d, which replay emulates; --same-wire accepts a plugin whose protocol has the same wire, otherwise record the session again with this plugin", err, s.Header.Protocol)
			}
			return withCode(exitUsage, fmt.Errorf("replay %s: %w", s.Name, err))
		}
		fmt.Fprintf(out, "%s: %d calls replayed against %s, %d difference(s)\n", s.Name, rep.Replayed, f.plugin, len(rep.Differences))
		for _, n := range rep.Notes {
			fmt.Fprintf(out, "  note: %s\n", n)
		}
		diffs = append(diffs, rep.Differences...)
	}
	if len(diffs) == 0 {
		fmt.Fprintln(out, "no differences")
		return nil
	}
	printDifferences(out, diffs, len(sessions) > 1)
	return withCode(exitFailed, fmt.Errorf("replay: %d difference(s) from the recording", len(diffs)))
}

func printDifferences(out io.Writer, diffs []replay.Difference, withSession bool) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	head := "SEQ\tMETHOD\tFIELD\tRECORDED\tGOT"
	if withSession {
		head = "SESSION\t" + head
	}
	fmt.Fprintln(tw, head)
	for _, d := range diffs {
		row := fmt.Sprintf("%d\t%s\t%s\t%s\t%s", d.Seq, strings.TrimPrefix(d.Method, "/"), d.Field, cell(d.Recorded), cell(d.Got))
		if withSession {
			row = d.Session + "\t" + row
		}
		fmt.Fprintln(tw, row)
	}
	_ = tw.Flush()
}

// cell keeps a table cell on one line and readable.
func cell(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}
