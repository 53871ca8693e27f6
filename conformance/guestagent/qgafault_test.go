package guestagent

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"sync"

	"github.com/vmtestbed/vmtestbed/virtio"
)

// QGA faults: Debian's qemu-ga behind a channel that rewrites some of its
// replies, so each QGA spec is shown to fail against an agent that answers,
// wrongly in meaning. The channel learns which command a reply answers from
// the id the QGA client sends with every request (qemu-ga echoes it).

// qgaFault edits the decoded reply to command (nil to leave it).
type qgaFault struct {
	what string
	want []string
	edit func(command string, reply map[string]any)
	// keepTorn: 0xFF does not discard a torn request: the channel keeps
	// the torn bytes in front of every later request on the connection.
	keepTorn bool
}

var qgaFaults = map[string]qgaFault{
	"ping-not-empty": {
		what: "guest-ping returns {\"pong\":true}, not an empty object",
		want: []string{"GA-QGA-002"},
		edit: func(cmd string, r map[string]any) {
			if cmd == "guest-ping" && r["return"] != nil {
				r["return"] = map[string]any{"pong": true}
			}
		},
	},
	"info-no-version": {
		what: "guest-info reports an empty version",
		want: []string{"GA-QGA-003"},
		edit: func(cmd string, r map[string]any) {
			if ret, ok := r["return"].(map[string]any); ok && cmd == "guest-info" {
				ret["version"] = ""
			}
		},
	},
	"osinfo-no-kernel": {
		what: "guest-get-osinfo reports no kernel release",
		want: []string{"GA-QGA-004"},
		edit: func(cmd string, r map[string]any) {
			if ret, ok := r["return"].(map[string]any); ok && cmd == "guest-get-osinfo" {
				delete(ret, "kernel-release")
			}
		},
	},
	"file-read-corrupt": {
		what: "guest-file-read flips the low bit of the first byte it returns",
		want: []string{"GA-QGA-005"},
		edit: func(cmd string, r map[string]any) {
			ret, ok := r["return"].(map[string]any)
			if !ok || cmd != "guest-file-read" {
				return
			}
			b, err := base64.StdEncoding.DecodeString(asString(ret["buf-b64"]))
			if err == nil && len(b) > 0 {
				b[0] ^= 1
				ret["buf-b64"] = base64.StdEncoding.EncodeToString(b)
			}
		},
	},
	"unknown-generic-error": {
		what: "an unknown command fails with class GenericError, not CommandNotFound",
		want: []string{"GA-QGA-006"},
		edit: func(_ string, r map[string]any) {
			if e, ok := r["error"].(map[string]any); ok && e["class"] == "CommandNotFound" {
				e["class"] = "GenericError"
			}
		},
	},
	"sync-wrong-id": {
		what: "guest-sync returns the id it was given plus one",
		want: []string{"GA-QGA-007"},
		edit: func(cmd string, r map[string]any) {
			if id, ok := r["return"].(json.Number); ok && cmd == "guest-sync" {
				if n, err := id.Int64(); err == nil {
					r["return"] = n + 1
				}
			}
		},
	},
	"exec-exit-zero": {
		what: "guest-exec-status reports exit code 0 for a failing program",
		want: []string{"GA-QGA-008"},
		edit: func(cmd string, r map[string]any) {
			if ret, ok := r["return"].(map[string]any); ok && cmd == "guest-exec-status" && ret["exitcode"] != nil {
				ret["exitcode"] = 0
			}
		},
	},
	"torn-request-kept": {
		what:     "0xFF does not discard a torn request: every later request on the connection is read as its continuation",
		want:     []string{"GA-QGA-001"},
		keepTorn: true,
	},
}

func asString(v any) string { s, _ := v.(string); return s }

// qgaRewriter is a channel to qemu-ga that applies a qgaFault.
type qgaRewriter struct {
	virtio.Channel
	f qgaFault

	mu       sync.Mutex
	commands map[string]string // request id (as JSON) -> command
	torn     []byte            // a request sent without its newline (keepTorn)
}

// rewriting wraps dial's channels in f.
func rewriting(dial func(context.Context) (virtio.Channel, error), f qgaFault) func(context.Context) (virtio.Channel, error) {
	return func(ctx context.Context) (virtio.Channel, error) {
		ch, err := dial(ctx)
		if err != nil {
			return nil, err
		}
		return &qgaRewriter{Channel: ch, f: f, commands: map[string]string{}}, nil
	}
}

func (q *qgaRewriter) Send(ctx context.Context, b []byte) error {
	q.mu.Lock()
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		raw := line
		if i := bytes.LastIndexByte(raw, 0xFF); i >= 0 {
			raw = raw[i+1:]
		}
		var req struct {
			Execute string          `json:"execute"`
			ID      json.RawMessage `json:"id"`
		}
		if json.Unmarshal(bytes.TrimSpace(raw), &req) == nil && len(req.ID) > 0 {
			q.commands[string(req.ID)] = req.Execute
		}
	}
	if q.f.keepTorn {
		b = bytes.ReplaceAll(b, []byte{0xFF}, nil)
		if len(b) > 0 && b[len(b)-1] != '\n' && q.torn == nil {
			q.torn = bytes.Clone(b)
		} else if q.torn != nil {
			b = append(bytes.Clone(q.torn), b...)
		}
	}
	q.mu.Unlock()
	return q.Channel.Send(ctx, b)
}

func (q *qgaRewriter) SendString(ctx context.Context, s string) error {
	return q.Send(ctx, []byte(s))
}

func (q *qgaRewriter) ReceiveLine(ctx context.Context) (string, error) {
	line, err := q.Channel.ReceiveLine(ctx)
	if err != nil || q.f.edit == nil {
		return line, err
	}
	prefix, raw := "", line
	if i := bytes.LastIndexByte([]byte(line), 0xFF); i >= 0 {
		prefix, raw = line[:i+1], line[i+1:]
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.UseNumber()
	var r map[string]any
	if dec.Decode(&r) != nil {
		return line, nil
	}
	cmd := ""
	if id, ok := r["id"]; ok {
		b, _ := json.Marshal(id)
		q.mu.Lock()
		cmd = q.commands[string(b)]
		q.mu.Unlock()
	}
	q.f.edit(cmd, r)
	out, err := json.Marshal(r)
	if err != nil {
		return line, nil
	}
	return prefix + string(out), nil
}
