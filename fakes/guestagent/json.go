package guestagent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// request is every field a JSON request may carry.
type request struct {
	ID      json.RawMessage `json:"id,omitempty"`
	Command *string         `json:"command"`
	Data    *string         `json:"data"` // the seed's compatibility form; base64 bytes for file_chunk
	Action  *string         `json:"action"`
	App     string          `json:"app"`
	Cmd     string          `json:"cmd"`
	Args    []string        `json:"args"`
	Path    string          `json:"path"`
	Size    *int64          `json:"size"`
	SHA256  string          `json:"sha256"`
	Seq     *int64          `json:"seq"`
	Offset  int64           `json:"offset"`
	Length  int             `json:"length"`
}

// reply is a JSON object; marshalReply adds the request id.
type reply = map[string]any

func errReply(format string, args ...any) reply {
	return reply{"error": fmt.Sprintf(format, args...)}
}

// commands maps command names to their handlers.
func (a *Agent) commands() map[string]func(context.Context, *session, *request) reply {
	cmds := map[string]func(context.Context, *session, *request) reply{
		"hello":       func(context.Context, *session, *request) reply { return a.hello() },
		"ping":        func(context.Context, *session, *request) reply { return reply{"result": a.pong()} },
		"status":      func(context.Context, *session, *request) reply { return a.status() },
		"get_metrics": func(context.Context, *session, *request) reply { return a.metrics() },
		"exec":        a.execCommand,
		"file_begin":  func(_ context.Context, s *session, r *request) reply { return s.fileBegin(r) },
		"file_chunk":  func(_ context.Context, s *session, r *request) reply { return s.fileChunk(r) },
		"file_end":    func(_ context.Context, s *session, r *request) reply { return s.fileEnd() },
		"file_abort":  func(_ context.Context, s *session, r *request) reply { return s.fileAbort() },
		"file_stat":   func(_ context.Context, s *session, r *request) reply { return s.fileStat(r) },
		"file_read":   func(_ context.Context, s *session, r *request) reply { return s.fileRead(r) },
		"file_delete": func(_ context.Context, s *session, r *request) reply { return s.fileDelete(r) },
	}
	if a.opts.PowerOff != nil {
		cmds["poweroff"] = func(_ context.Context, s *session, _ *request) reply {
			// Answer first: the host hears it before the channel goes away.
			s.afterReply = func() { _ = a.opts.PowerOff() }
			return reply{"result": "powering off"}
		}
	}
	return cmds
}

// handleJSON answers one JSON request line.
func (a *Agent) handleJSON(ctx context.Context, s *session, line []byte) []byte {
	trimmed := bytes.TrimSpace(line)
	malformed := errReply
	if a.opts.Fault == FaultMalformedOK {
		malformed = func(string, ...any) reply { return reply{"result": "ok"} }
	}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return marshalReply(nil, malformed("malformed request: want one JSON object per line, got %q", clip(trimmed)))
	}
	var r request
	if err := json.Unmarshal(trimmed, &r); err != nil {
		return marshalReply(nil, malformed("malformed request: %v", err))
	}
	id := r.ID
	if a.opts.Fault == FaultNoID {
		id = nil
	}
	return marshalReply(id, a.dispatch(ctx, s, &r))
}

func (a *Agent) dispatch(ctx context.Context, s *session, r *request) reply {
	switch {
	case r.Command != nil:
		h, ok := a.cmds[*r.Command]
		if !ok {
			if a.opts.Fault == FaultUnknownOK {
				return reply{"result": "ok"}
			}
			return errReply("unknown command %q", clip([]byte(*r.Command)))
		}
		if a.opts.Fault == FaultPathEscape && r.Path != "" && !filepath.IsLocal(filepath.Clean(filepath.FromSlash(r.Path))) {
			r.Path = filepath.Base(r.Path) // "confined" by cutting the path: the escape is accepted
		}
		return h(ctx, s, r)
	case r.Action != nil:
		return a.appControl(*r.Action, r.App)
	case r.Data != nil:
		return a.compat(ctx, *r.Data)
	}
	return errReply("request has none of command, action or data")
}

// compat answers the seed's {"data":"…"} forms.
func (a *Agent) compat(ctx context.Context, data string) reply {
	switch {
	case data == "ping" && a.opts.Fault == FaultSeedPingWrong:
		return reply{"result": "PONG"}
	case data == "ping":
		return reply{"result": a.pong()}
	case strings.HasPrefix(data, "exec:"):
		fields := strings.Fields(strings.TrimPrefix(data, "exec:"))
		if len(fields) == 0 {
			return errReply("exec: missing command")
		}
		return a.exec(ctx, fields[0], fields[1:])
	}
	if a.opts.Fault == FaultUnknownOK {
		return reply{"result": "ok"}
	}
	return reply{"result": "unknown command"}
}

// appControl answers app control, applying the app fault modes.
func (a *Agent) appControl(action, app string) reply {
	r := a.apps.control(action, app)
	switch a.opts.Fault {
	case FaultAppAcceptsAll:
		if _, failed := r["error"]; failed {
			return reply{"result": map[string]any{"app": app, "state": "running"}}
		}
	case FaultAppStatusStale:
		if res, ok := r["result"].(map[string]any); ok && action == "status" {
			res["state"] = "stopped"
			delete(res, "pid")
			delete(res, "since")
		}
	}
	return r
}

func (a *Agent) hello() reply {
	names := make([]string, 0, 16)
	for n := range a.cmds {
		names = append(names, n)
	}
	names = append(names, "app")
	slices.Sort(names)
	if a.opts.Fault == FaultEscapes {
		for i, n := range names {
			if n == "get_metrics" {
				names[i] = escapeSeq + n
			}
		}
	}
	protocol := ProtocolVersion
	if a.opts.Fault == FaultNoVersion {
		protocol = 0
	}
	return reply{"result": map[string]any{
		"agent":     AgentName,
		"version":   Version,
		"protocol":  protocol,
		"commands":  names,
		"max_line":  a.opts.MaxLine,
		"chunk_max": DefaultChunkMax,
		"allow":     a.opts.Allow,
		"apps":      a.opts.Apps,
		"files":     a.opts.Root != "",
	}}
}

func (a *Agent) status() reply {
	return reply{"status": "running", "uptime": a.uptimeSeconds()}
}

// constantUptime is the uptime FaultConstantStatus and FaultConstantMetrics report.
const constantUptime = 42

// marshalReply encodes r, adding id when the request carried one.
func marshalReply(id json.RawMessage, r reply) []byte {
	if len(id) > 0 {
		r["id"] = id
	}
	b, err := json.Marshal(r)
	if err != nil {
		b, _ = json.Marshal(errReply("encode reply: %v", err))
	}
	return b
}

// clip shortens b for an error message.
func clip(b []byte) string {
	const n = 64
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
