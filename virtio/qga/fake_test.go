package qga

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/virtio"
)

// scripted is a stand-in agent for error paths the real qemu-ga never produces: reply gets each
// request line (0xFF bytes and all) and returns the bytes to write back.
func scripted(t *testing.T, reply func(line string) string) *Client {
	t.Helper()
	sock := filepath.Join(shortDir(t), "fake.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Go(func() {
				r := bufio.NewReader(conn)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := conn.Write([]byte(reply(line[:len(line)-1]))); err != nil {
						return
					}
				}
			})
		}
	})
	ch := virtio.NewUnixChannel("org.qemu.guest_agent.0", sock)
	t.Cleanup(func() {
		_ = ch.Close()
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	if err := ch.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	return New(ch, WithTimeout(time.Second))
}

// idOf returns the "id" of a request line.
func idOf(line string) uint64 {
	var r struct{ ID uint64 }
	_ = json.Unmarshal([]byte(line), &r)
	return r.ID
}

func TestGarbageReplyIsProtocolError(t *testing.T) {
	c := scripted(t, func(string) string { return "not json at all\n" })
	err := c.Ping(context.Background())
	var pe *ProtocolError
	if !errors.As(err, &pe) || string(pe.Raw) != "not json at all" {
		t.Fatalf("err = %v", err)
	}
}

func TestReplyWithoutReturnOrError(t *testing.T) {
	c := scripted(t, func(line string) string { return fmt.Sprintf("{\"id\":%d}\n", idOf(line)) })
	var pe *ProtocolError
	if err := c.Ping(context.Background()); !errors.As(err, &pe) {
		t.Fatalf("err = %v", err)
	}
}

func TestHangingAgentTimesOut(t *testing.T) {
	c := scripted(t, func(string) string { return "" })
	c.timeout = 50 * time.Millisecond
	if err := c.Ping(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if err := c.Sync(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("sync err = %v", err)
	}
}

func TestStaleRepliesAreSkipped(t *testing.T) {
	c := scripted(t, func(line string) string {
		id := idOf(line)
		return fmt.Sprintf("{\"return\":{\"version\":\"old\"},\"id\":%d}\n{\"return\":{\"version\":\"new\"},\"id\":%d}\n", id-1, id)
	})
	info, err := c.Info(context.Background())
	if err != nil || info.Version != "new" {
		t.Fatalf("info %+v, %v", info, err)
	}
}

func TestSyncDiscardsUntilDelimiterAndID(t *testing.T) {
	c := scripted(t, func(line string) string {
		var r struct {
			Arguments struct{ ID uint64 }
		}
		if len(line) == 0 || line[0] != 0xFF {
			return "{\"error\":{\"class\":\"GenericError\",\"desc\":\"no 0xFF sent\"}}\n"
		}
		_ = json.Unmarshal([]byte(line[1:]), &r)
		return "junk before the delimiter\n" +
			"\xff{\"return\": 1}\n" + // an answer to some older sync
			fmt.Sprintf("partial\xff{\"return\": %d}\n", r.Arguments.ID)
	})
	if err := c.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	bad := scripted(t, func(string) string { return "\xff{\"return\": \"x\"}\n" })
	var pe *ProtocolError
	if err := bad.Sync(context.Background()); !errors.As(err, &pe) {
		t.Fatalf("bad sync reply: %v", err)
	}
}

func TestErrorClassification(t *testing.T) {
	tests := []struct {
		class, desc        string
		disabled, notFound bool
	}{
		{"CommandNotFound", "Command guest-shutdown has been disabled", true, false},
		{"GenericError", "The command guest-shutdown has been disabled for this instance", true, false},
		{"CommandNotFound", "The command guest-x has not been found", false, true},
		{"GenericError", "Invalid parameter 'pid'", false, false},
	}
	for _, tt := range tests {
		c := scripted(t, func(line string) string {
			b, _ := json.Marshal(map[string]any{"error": map[string]string{"class": tt.class, "desc": tt.desc}, "id": idOf(line)})
			return string(b) + "\n"
		})
		err := c.Ping(context.Background())
		var qe *Error
		if !errors.As(err, &qe) || qe.Class != tt.class || qe.Desc != tt.desc || qe.Command != "guest-ping" {
			t.Fatalf("%s: err = %v", tt.desc, err)
		}
		if errors.Is(err, ErrDisabled) != tt.disabled || errors.Is(err, ErrCommandNotFound) != tt.notFound {
			t.Errorf("%s: disabled=%v notFound=%v", tt.desc, errors.Is(err, ErrDisabled), errors.Is(err, ErrCommandNotFound))
		}
	}
}

func TestExecStatusBadBase64(t *testing.T) {
	c := scripted(t, func(line string) string {
		return fmt.Sprintf("{\"return\":{\"exited\":true,\"out-data\":\"@@@\"},\"id\":%d}\n", idOf(line))
	})
	if _, err := c.ExecStatus(context.Background(), 5); err == nil {
		t.Fatal("bad base64 accepted")
	}
}

func TestRunGivesUpAfterMaxPolls(t *testing.T) {
	c := scripted(t, func(line string) string {
		var r struct{ Execute string }
		_ = json.Unmarshal([]byte(line), &r)
		if r.Execute == "guest-exec" {
			return fmt.Sprintf("{\"return\":{\"pid\":42},\"id\":%d}\n", idOf(line))
		}
		return fmt.Sprintf("{\"return\":{\"exited\":false},\"id\":%d}\n", idOf(line))
	})
	_, err := c.Run(context.Background(), "/bin/true", nil, RunOptions{Interval: time.Millisecond, MaxPolls: 3})
	if !errors.Is(err, ErrStillRunning) {
		t.Fatalf("err = %v", err)
	}
}

// TestSyncResendsUntilAnswered: an agent that loses the first sync (qemu-ga flushes a tty's
// input when it opens it) is still synchronised by one Sync.
func TestSyncResendsUntilAnswered(t *testing.T) {
	var n int
	c := scripted(t, func(line string) string {
		n++
		if n == 1 {
			return "" // lost
		}
		var r struct{ Arguments struct{ ID uint64 } }
		_ = json.Unmarshal([]byte(line[1:]), &r)
		return fmt.Sprintf("\xff{\"return\": %d}\n", r.Arguments.ID)
	})
	if err := c.Sync(context.Background()); err != nil {
		t.Fatalf("sync with the first request lost: %v", err)
	}
	if got, err := c.GuestSync(context.Background(), 7); err == nil {
		t.Fatalf("guest-sync against an agent that never echoes ids = %d, want a timeout", got)
	} else if !strings.Contains(err.Error(), "without id") {
		t.Logf("guest-sync error: %v", err)
	}
}

// TestSilentSyncSaysWhat: a sync that never gets an answer says how often it tried.
func TestSilentSyncSaysWhat(t *testing.T) {
	c := scripted(t, func(string) string { return "noise\n" })
	c.timeout = 300 * time.Millisecond
	err := c.Sync(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no answer to guest-sync-delimited within 300ms") || !strings.Contains(err.Error(), "attempts") {
		t.Fatalf("err = %v", err)
	}
}
