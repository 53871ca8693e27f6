package guestagent

import (
	"fmt"
	"slices"
)

// Spec is one conformance spec: a stable ID, its RFC 2119 statement, the
// profiles (Config.Protocol) that run it, and the capability it needs when
// it is skipped without it ("" when it always runs).
type Spec struct {
	ID, Text   string
	Profiles   []string
	Capability string
}

// Title is how the spec appears in reports: "[ID] Text".
func (s Spec) Title() string { return fmt.Sprintf("[%s] %s", s.ID, s.Text) }

var (
	allProfiles = []string{ProtocolJSON, ProtocolLine, ProtocolQGA}
	jsonOnly    = []string{ProtocolJSON}
	lineOnly    = []string{ProtocolLine}
	qgaOnly     = []string{ProtocolQGA}
)

// specTable is every spec of the suite, by ID, word for word as the specs
// register it (TestSpecTable holds the two together).
var specTable = []Spec{
	{"GA-APP-001", "app control MUST start, report and stop an app, each state visible in status", jsonOnly, "hello lists an app"},
	{"GA-APP-002", "app control MUST refuse unknown apps, unknown actions and invalid transitions with an error", jsonOnly, "hello lists an app"},
	{"GA-CHAN-001", "concurrent channels MUST each get their own replies", allProfiles, "two channels at once (Config.MaxChannels of 2 or more)"},
	{"GA-CHAN-002", "the agent MUST answer again after the host side disconnects in the middle of a request and reconnects", allProfiles, ""},
	{"GA-CONFIG-001", "the suite configuration MUST be valid", allProfiles, ""},
	{"GA-ERR-001", "malformed JSON MUST be answered with an error, and the agent MUST keep answering", jsonOnly, ""},
	{"GA-ERR-002", "an unknown command MUST be answered, not ignored", jsonOnly, ""},
	{"GA-ERR-003", "an over-long request line MUST be answered with an error, and the agent MUST keep answering", jsonOnly, "hello advertises a max_line up to 4 MiB"},
	{"GA-EXEC-001", "exec of an allow-listed command MUST return its stdout and exit code 0", jsonOnly, "echo on the exec allow-list"},
	{"GA-EXEC-002", "exec MUST return a failing command's non-zero exit code", jsonOnly, "false on the exec allow-list"},
	{"GA-EXEC-003", "exec of a command outside the allow-list MUST be refused with an error and MUST NOT run", jsonOnly, ""},
	{"GA-EXEC-004", "the seed's form {\"data\":\"exec:<cmd>\"} MUST run allow-listed commands and refuse others", jsonOnly, "echo on the exec allow-list"},
	{"GA-FILE-001", "a file sent in chunks MUST arrive with the announced checksum, and file_read MUST return the same bytes", jsonOnly, "file transfer (hello: files=true, file_begin listed)"},
	{"GA-FILE-002", "file_end MUST reject a checksum mismatch and MUST NOT keep the file", jsonOnly, "file transfer (hello: files=true, file_begin listed)"},
	{"GA-FILE-003", "file paths MUST stay confined to the agent's root", jsonOnly, "file transfer (hello: files=true, file_begin listed)"},
	{"GA-FILE-004", "a 256 KiB file MUST pass through chunks intact", jsonOnly, "file transfer (hello: files=true, file_begin listed)"},
	{"GA-HELLO-001", "hello MUST answer with the agent name, a protocol version of at least 1 and its command list", jsonOnly, ""},
	{"GA-HELLO-002", "a reply MUST echo the request's id, whatever JSON value it is", jsonOnly, ""},
	{"GA-LINE-001", "the line \"ping\" MUST be answered with the line \"pong\", every time", lineOnly, ""},
	{"GA-LINE-002", "the line \"status\" MUST be answered with {\"status\":\"running\",\"uptime\":N}", lineOnly, ""},
	{"GA-LINE-003", "the line \"version\" MUST be answered with a line that carries a version number", lineOnly, ""},
	{"GA-LINE-004", "any other line MUST be answered with \"unknown\", and the agent MUST keep answering", lineOnly, ""},
	{"GA-METRICS-001", "get_metrics MUST return plausible load and memory numbers that are measured, not constant", jsonOnly, ""},
	{"GA-PING-001", "ping MUST answer {\"result\":\"pong\"}, every time", jsonOnly, ""},
	{"GA-PING-002", "the seed's form {\"data\":\"ping\"} MUST answer {\"result\":\"pong\"}", jsonOnly, ""},
	{"GA-QGA-001", "guest-sync-delimited MUST resynchronise the channel after a torn request", qgaOnly, ""},
	{"GA-QGA-002", "guest-ping MUST return an empty object, every time", qgaOnly, ""},
	{"GA-QGA-003", "guest-info MUST report a version and list the protocol's own commands, and what it lists as enabled MUST answer", qgaOnly, ""},
	{"GA-QGA-004", "guest-get-osinfo MUST describe the guest's kernel and machine", qgaOnly, "guest-get-osinfo enabled"},
	{"GA-QGA-005", "guest-file-write then guest-file-read MUST round-trip bytes through a temp path", qgaOnly, "guest-file-open, -write, -read and -close enabled"},
	{"GA-QGA-006", "an unknown command MUST fail with error class CommandNotFound", qgaOnly, ""},
	{"GA-QGA-007", "guest-sync MUST return the id it was given, unchanged", qgaOnly, ""},
	{"GA-QGA-008", "guest-exec MUST run a program, and guest-exec-status MUST report its output and exit code", qgaOnly, "guest-exec and guest-exec-status enabled"},
	{"GA-STATUS-001", "status MUST report \"running\" with an uptime in seconds that advances with time", jsonOnly, ""},
	{"GA-TIME-001", "pipelined requests MUST each be answered, in order, within the configured timeout", allProfiles, ""},
}

// Specs lists every spec of the suite, by ID.
func Specs() []Spec {
	out := slices.Clone(specTable)
	for i := range out {
		out[i].Profiles = slices.Clone(out[i].Profiles)
	}
	return out
}
