package qga

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

type execArgs struct {
	Path          string   `json:"path"`
	Args          []string `json:"arg,omitempty"`
	CaptureOutput bool     `json:"capture-output"`
}

// Exec starts path with args in the guest and returns its pid.
func (c *Client) Exec(ctx context.Context, path string, args []string, captureOutput bool) (int, error) {
	var out struct {
		PID int `json:"pid"`
	}
	if err := c.Call(ctx, "guest-exec", execArgs{Path: path, Args: args, CaptureOutput: captureOutput}, &out); err != nil {
		return 0, err
	}
	return out.PID, nil
}

// ExecStatus is the reply to guest-exec-status with output decoded from base64.
type ExecStatus struct {
	Exited       bool
	ExitCode     int
	Signal       int
	Stdout       []byte
	Stderr       []byte
	OutTruncated bool
	ErrTruncated bool
}

type execStatusReply struct {
	Exited       bool   `json:"exited"`
	ExitCode     int    `json:"exitcode"`
	Signal       int    `json:"signal"`
	OutData      string `json:"out-data"`
	ErrData      string `json:"err-data"`
	OutTruncated bool   `json:"out-truncated"`
	ErrTruncated bool   `json:"err-truncated"`
}

// ExecStatus reports on a process started by Exec.
func (c *Client) ExecStatus(ctx context.Context, pid int) (*ExecStatus, error) {
	var r execStatusReply
	if err := c.Call(ctx, "guest-exec-status", map[string]int{"pid": pid}, &r); err != nil {
		return nil, err
	}
	st := &ExecStatus{Exited: r.Exited, ExitCode: r.ExitCode, Signal: r.Signal, OutTruncated: r.OutTruncated, ErrTruncated: r.ErrTruncated}
	var err error
	if st.Stdout, err = base64.StdEncoding.DecodeString(r.OutData); err != nil {
		return nil, fmt.Errorf("qga guest-exec-status %d: out-data: %w", pid, err)
	}
	if st.Stderr, err = base64.StdEncoding.DecodeString(r.ErrData); err != nil {
		return nil, fmt.Errorf("qga guest-exec-status %d: err-data: %w", pid, err)
	}
	return st, nil
}

// ErrStillRunning: Run polled MaxPolls times and the process had not exited.
var ErrStillRunning = errors.New("still running")

// RunOptions bound Run's polling.
type RunOptions struct {
	Interval time.Duration // between ExecStatus polls; default 10 ms
	MaxPolls int           // default 500
}

// Run starts path with args, captures output and polls ExecStatus until the process exits,
// at most MaxPolls times (and within ctx).
func (c *Client) Run(ctx context.Context, path string, args []string, o RunOptions) (*ExecStatus, error) {
	if o.Interval <= 0 {
		o.Interval = 10 * time.Millisecond
	}
	if o.MaxPolls <= 0 {
		o.MaxPolls = 500
	}
	pid, err := c.Exec(ctx, path, args, true)
	if err != nil {
		return nil, err
	}
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for range o.MaxPolls {
		st, err := c.ExecStatus(ctx, pid)
		if err != nil {
			return nil, err
		}
		if st.Exited {
			return st, nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, fmt.Errorf("qga run %s (pid %d): %w", path, pid, ctx.Err())
		}
	}
	return nil, fmt.Errorf("qga run %s (pid %d): %w after %d polls", path, pid, ErrStillRunning, o.MaxPolls)
}
