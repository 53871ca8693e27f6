package guestagent

import (
	"context"
	"fmt"
	"strings"
)

// handleLine answers one line of the line protocol (the seed's shell agent).
func (a *Agent) handleLine(_ context.Context, _ *session, line []byte) []byte {
	out := a.answerLine(line)
	if a.opts.Fault == FaultEscapes && string(out) != "pong" {
		out = append([]byte(escapeSeq), out...)
	}
	return out
}

func (a *Agent) answerLine(line []byte) []byte {
	switch strings.TrimSpace(string(line)) {
	case "ping":
		return []byte(a.pong())
	case "status":
		return fmt.Appendf(nil, `{"status":"running","uptime":%d}`, a.uptimeSeconds())
	case "version":
		if a.opts.Fault == FaultNoVersion {
			return []byte(AgentName)
		}
		return fmt.Appendf(nil, "%s %s protocol %d", AgentName, Version, ProtocolVersion)
	}
	return []byte("unknown")
}

func (a *Agent) uptimeSeconds() int64 {
	if a.opts.Fault == FaultConstantStatus || a.opts.Fault == FaultConstantMetrics {
		return constantUptime
	}
	return int64(a.opts.Clock.Now().Sub(a.started).Seconds())
}
