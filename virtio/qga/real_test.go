package qga

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestRealAgentOverUnixSocket(t *testing.T) {
	c, dir := realUnixAgent(t)
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Version == "" || !info.Enabled("guest-ping") || info.Enabled("guest-shutdown") {
		t.Fatalf("info: version %q, ping enabled %v, shutdown enabled %v", info.Version, info.Enabled("guest-ping"), info.Enabled("guest-shutdown"))
	}
	osi, err := c.GetOSInfo(ctx)
	if err != nil || osi.ID == "" || osi.KernelRelease == "" {
		t.Fatalf("osinfo %+v, %v", osi, err)
	}
	ifs, err := c.NetworkGetInterfaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(ifs, func(i Interface) bool { return i.Name == "lo" }) {
		t.Fatalf("no lo in %+v", ifs)
	}

	t.Run("files", func(t *testing.T) {
		path := filepath.Join(dir, "transfer.bin")
		payload := bytes.Repeat([]byte{0, 1, 2, 0xFF, '\n', 'x'}, 3000) // binary, 18000 bytes
		h, err := c.FileOpen(ctx, path, "w")
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(payload); off += 4096 {
			chunk := payload[off:min(off+4096, len(payload))]
			if n, err := c.FileWrite(ctx, h, chunk); err != nil || n != len(chunk) {
				t.Fatalf("write at %d: %d, %v", off, n, err)
			}
		}
		if err := c.FileClose(ctx, h); err != nil {
			t.Fatal(err)
		}
		if disk, _ := os.ReadFile(path); !bytes.Equal(disk, payload) {
			t.Fatalf("file on disk has %d bytes, want %d", len(disk), len(payload))
		}
		h, err = c.FileOpen(ctx, path, "r")
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		for {
			data, eof, err := c.FileRead(ctx, h, 5000)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, data...)
			if eof {
				break
			}
		}
		if err := c.FileClose(ctx, h); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("read back %d bytes, want %d", len(got), len(payload))
		}
		if _, err := c.FileOpen(ctx, filepath.Join(dir, "missing", "x"), "r"); err == nil {
			t.Fatal("opening a missing file succeeded")
		}
		var qe *Error
		if err := c.FileClose(ctx, 999999); !errors.As(err, &qe) {
			t.Fatalf("closing a bad handle: %v", err)
		}
	})

	t.Run("exec", func(t *testing.T) {
		st, err := c.Run(ctx, "/bin/echo", []string{"hello", "guest"}, RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !st.Exited || st.ExitCode != 0 || string(st.Stdout) != "hello guest\n" {
			t.Fatalf("echo: %+v", st)
		}
		st, err = c.Run(ctx, "/bin/sh", []string{"-c", "echo oops >&2; exit 3"}, RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if st.ExitCode != 3 || string(st.Stderr) != "oops\n" {
			t.Fatalf("sh: %+v", st)
		}
		if _, err := c.ExecStatus(ctx, 1); err == nil {
			t.Fatal("exec-status of a pid qemu-ga did not start succeeded")
		}
	})

	t.Run("disabled and unknown commands", func(t *testing.T) {
		for _, cmd := range []string{"guest-shutdown", "guest-set-time", "guest-fsfreeze-freeze"} {
			err := c.Call(ctx, cmd, nil, nil)
			var qe *Error
			if !errors.Is(err, ErrDisabled) || errors.Is(err, ErrCommandNotFound) || !errors.As(err, &qe) {
				t.Errorf("%s: err = %v", cmd, err)
			}
		}
		err := c.Call(ctx, "guest-no-such-command", nil, nil)
		if !errors.Is(err, ErrCommandNotFound) || errors.Is(err, ErrDisabled) {
			t.Errorf("unknown command: %v", err)
		}
		// The agent survives all that.
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRealAgentOverPTY(t *testing.T) {
	c := realPTYAgent(t)
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil || info.Version == "" {
		t.Fatalf("info %+v, %v", info, err)
	}
	st, err := c.Run(ctx, "/bin/echo", []string{"over", "pty"}, RunOptions{})
	if err != nil || string(st.Stdout) != "over pty\n" {
		t.Fatalf("run: %+v, %v", st, err)
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GuestSync(ctx, 4242); err != nil || got != 4242 {
		t.Fatalf("guest-sync = %d, %v", got, err)
	}
}
