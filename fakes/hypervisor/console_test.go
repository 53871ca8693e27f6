package hypervisor

import (
	"bytes"
	"context"
	"io"
	"testing"

	"google.golang.org/grpc/codes"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// readUntil receives from recv until the collected bytes contain want.
func readUntil(t *testing.T, recv func() ([]byte, error), want string) []byte {
	t.Helper()
	var got []byte
	for !bytes.Contains(got, []byte(want)) {
		b, err := recv()
		if err != nil {
			t.Fatalf("waiting for %q: %v; got %q", want, err, got)
		}
		got = append(got, b...)
	}
	return got
}

func runningInstance(t *testing.T, e *env, name string) string {
	t.Helper()
	in := e.create(t, vmReq(name))
	if _, err := e.compute.StartInstance(ctxT(t), &hv.StartInstanceRequest{InstanceId: in.Id}); err != nil {
		t.Fatal(err)
	}
	return in.Id
}

func TestComputeConsoleShowsBootLogToLateAttacher(t *testing.T) {
	e := newEnv(t, Options{}, nil)
	e.register(t, workerReq("w1"))
	id := runningInstance(t, e, "web")
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	stream, err := e.compute.AttachConsole(ctx, &hv.AttachConsoleRequest{InstanceId: id, Tty: true, Width: 100, Height: 30})
	if err != nil {
		t.Fatal(err)
	}
	recv := func() ([]byte, error) {
		d, err := stream.Recv()
		return d.GetData(), err
	}
	readUntil(t, recv, "root@web:~# ") // history: the boot log and prompt
	if _, err := e.compute.StopInstance(ctx, &hv.StopInstanceRequest{InstanceId: id}); err != nil {
		t.Fatal(err)
	}
	readUntil(t, recv, "reboot: Power down")
	if _, err := e.compute.DeleteInstance(ctx, &hv.DeleteInstanceRequest{InstanceId: id}); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := stream.Recv(); err != nil {
			if err != io.EOF {
				t.Fatalf("console stream after delete: %v, want a clean end", err)
			}
			break
		}
	}
	s2, err := e.compute.AttachConsole(ctx, &hv.AttachConsoleRequest{InstanceId: id})
	if err == nil {
		_, err = s2.Recv()
	}
	wantCode(t, err, codes.NotFound, "attach deleted")
}

func TestAgentConsoleShellAndResize(t *testing.T) {
	e := newEnv(t, Options{}, nil)
	e.register(t, workerReq("w1"))
	id := runningInstance(t, e, "shell")
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	stream, err := e.agent.AttachConsole(ctx)
	if err != nil {
		t.Fatal(err)
	}
	send := func(in *hv.AgentConsoleInput) {
		t.Helper()
		if err := stream.Send(in); err != nil {
			t.Fatal(err)
		}
	}
	data := func(s string) *hv.AgentConsoleInput {
		return &hv.AgentConsoleInput{Input: &hv.AgentConsoleInput_Data{Data: []byte(s)}}
	}
	recv := func() ([]byte, error) {
		d, err := stream.Recv()
		return d.GetData(), err
	}
	send(data(id))
	readUntil(t, recv, "root@shell:~# ")
	send(data("echo hello pty\r"))
	readUntil(t, recv, "hello pty\r\n")
	send(data("hostname\r"))
	readUntil(t, recv, "\r\nshell\r\n")
	send(&hv.AgentConsoleInput{Input: &hv.AgentConsoleInput_Resize{Resize: &hv.AgentConsoleResize{Width: 132, Height: 43}}})
	send(data("stty size\r"))
	readUntil(t, recv, "43 132")
	send(data("frobnicate\r"))
	readUntil(t, recv, "frobnicate: command not found")
	send(&hv.AgentConsoleInput{Input: &hv.AgentConsoleInput_Resize{Resize: &hv.AgentConsoleResize{Width: 0, Height: 10}}})
	for {
		if _, err := stream.Recv(); err != nil {
			wantCode(t, err, codes.InvalidArgument, "bad resize")
			break
		}
	}
}

func TestAgentConsoleFirstMessage(t *testing.T) {
	e := newEnv(t, Options{}, nil)
	tests := []struct {
		name  string
		first *hv.AgentConsoleInput
		code  codes.Code
	}{
		{"resize first", &hv.AgentConsoleInput{Input: &hv.AgentConsoleInput_Resize{Resize: &hv.AgentConsoleResize{Width: 80, Height: 24}}}, codes.InvalidArgument},
		{"empty id", &hv.AgentConsoleInput{Input: &hv.AgentConsoleInput_Data{}}, codes.InvalidArgument},
		{"unknown id", &hv.AgentConsoleInput{Input: &hv.AgentConsoleInput_Data{Data: []byte("nope")}}, codes.NotFound},
	}
	for _, tc := range tests {
		stream, err := e.agent.AttachConsole(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(tc.first); err != nil {
			t.Fatal(err)
		}
		_, err = stream.Recv()
		wantCode(t, err, tc.code, tc.name)
	}
}
