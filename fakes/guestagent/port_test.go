package guestagent

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/virtio"
)

func TestServePortHostCloses(t *testing.T) {
	a, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	master, slave, slavePath, err := virtio.OpenPTYPair()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.ServePort(context.Background(), slavePath) }()
	ch := virtio.NewPTYChannel("com.vmagent.sock", master)
	if err := ch.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := call(t, ch, `{"command":"ping"}`); got != `{"result":"pong"}` {
		t.Fatalf("ping: %s", got)
	}
	slave.Close() // the agent answered, so it holds its own descriptor on the slave
	ch.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ServePort after the host closed: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServePort still running 5s after the host closed the pty")
	}
}

func TestListenUnixConcurrentAndReconnect(t *testing.T) {
	a, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.ServeListener(ctx, ln) }()
	chans := make([]virtio.Channel, 3)
	for i := range chans {
		chans[i] = virtio.NewUnixChannel("com.vmagent.sock", sock)
		if err := chans[i].Connect(ctx); err != nil {
			t.Fatal(err)
		}
		defer chans[i].Close()
	}
	for _, ch := range chans {
		if got := call(t, ch, `{"action":"list"}`); got != `{"result":["nginx","postgres","redis"]}` {
			t.Fatalf("list: %s", got)
		}
	}
	if err := chans[0].Disconnect(); err != nil {
		t.Fatal(err)
	}
	if err := chans[0].Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if got := call(t, chans[0], `{"command":"ping"}`); got != `{"result":"pong"}` {
		t.Fatalf("ping after reconnect: %s", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ServeListener: %v", err)
	}
	if err := a.ListenUnix(context.Background(), filepath.Join(t.TempDir(), "no", "such", "dir", "s")); err == nil {
		t.Fatal("ListenUnix on a missing directory succeeded")
	}
}

func TestCLIOptions(t *testing.T) {
	// Where to serve is Run's to check: exactly one of --port or --listen.
	for _, c := range []CLI{{}, {Port: "/dev/x", Listen: "/tmp/y"}} {
		if err := c.Run(context.Background()); !errors.Is(err, ErrUsage) {
			t.Errorf("%+v: Run = %v, want a usage error", c, err)
		}
	}
	bad := []CLI{
		{Port: "/dev/x", Protocol: "xml"},
		{Port: "/dev/x", Protocol: "json", Fault: "melt"},
		{Port: "/dev/x", Protocol: "json", Allow: "sh,/bin/rm"},
	}
	for _, c := range bad {
		if _, err := c.Options(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	o, err := (&CLI{Port: "/dev/x", Protocol: "line", Allow: "echo, uname,", Fault: "drop"}).Options()
	if err != nil || o.Protocol != ProtocolLine || o.Fault != FaultDrop || len(o.Allow) != 2 {
		t.Fatalf("options: %+v %v", o, err)
	}
}
