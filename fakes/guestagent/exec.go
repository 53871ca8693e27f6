package guestagent

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"slices"
)

// execCommand answers {"command":"exec","cmd":"echo","args":["hi"]}.
func (a *Agent) execCommand(ctx context.Context, _ *session, r *request) reply {
	if r.Cmd == "" {
		return errReply("exec: missing cmd")
	}
	return a.exec(ctx, r.Cmd, r.Args)
}

// exec runs an allow-listed command without a shell and returns its stdout
// and exit code. Anything not on the allow-list is refused before it runs.
func (a *Agent) exec(ctx context.Context, name string, args []string) reply {
	if !slices.Contains(a.opts.Allow, name) {
		if a.opts.Fault == FaultIgnoreAllowList {
			return reply{"result": "", "code": 0, "stderr": ""} // claims it ran; runs nothing
		}
		return errReply("exec of %q not allowed (allowed: %v)", clip([]byte(name)), a.opts.Allow)
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return errReply("exec of %q: %v", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, a.opts.ExecTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ctx.Err() == nil:
		code = ee.ExitCode()
	case err != nil:
		return errReply("exec of %q: %v", name, err)
	}
	if a.opts.Fault == FaultExitZero {
		code = 0
	}
	out := stdout.String()
	if a.opts.Fault == FaultEscapes {
		out = escapeSeq + out
	}
	return reply{"result": out, "code": code, "stderr": stderr.String()}
}
