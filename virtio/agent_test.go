package virtio

import (
	"bufio"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// lineAgent answers each line with reply(line) + "\n"; a nil reply sends nothing.
type lineAgent func(line string) []byte

func echoLine(line string) []byte { return []byte(line + "\n") }

// serveLines runs agent on rw until it fails; it returns when rw is closed.
func serveLines(rw io.ReadWriter, agent lineAgent) {
	r := bufio.NewReaderSize(rw, 64<<10)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if out := agent(line[:len(line)-1]); out != nil {
			if _, err := rw.Write(out); err != nil {
				return
			}
		}
	}
}

// unixAgent listens on a temp socket and serves every connection with agent.
type unixAgent struct {
	path  string
	ln    net.Listener
	conns chan net.Conn // every accepted connection, for tests that cut them
	wg    sync.WaitGroup
	mu    sync.Mutex
	open  []net.Conn
}

func startUnixAgent(t testing.TB, agent lineAgent) *unixAgent {
	t.Helper()
	return startUnixServer(t, lines(agent))
}

// lines adapts a line agent to a connection server.
func lines(agent lineAgent) func(io.ReadWriter) {
	return func(rw io.ReadWriter) { serveLines(rw, agent) }
}

// startUnixServer is startUnixAgent with any per-connection server.
func startUnixServer(t testing.TB, serve func(io.ReadWriter)) *unixAgent {
	t.Helper()
	path := filepath.Join(shortTempDir(t), "agent.sock")
	a := &unixAgent{path: path, conns: make(chan net.Conn, 64)}
	a.serve(t, serve)
	t.Cleanup(a.stop)
	return a
}

// listen (re)starts the agent with a line agent.
func (a *unixAgent) listen(t testing.TB, agent lineAgent) { a.serve(t, lines(agent)) }

func (a *unixAgent) serve(t testing.TB, serve func(io.ReadWriter)) {
	t.Helper()
	ln, err := net.Listen("unix", a.path)
	if err != nil {
		t.Fatalf("listen %s: %v", a.path, err)
	}
	a.ln = ln
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			a.mu.Lock()
			a.open = append(a.open, c)
			a.mu.Unlock()
			select {
			case a.conns <- c:
			default:
			}
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				serve(c)
			}()
		}
	}()
}

// stop closes the listener and every connection and waits for the goroutines.
func (a *unixAgent) stop() {
	if a.ln != nil {
		_ = a.ln.Close()
	}
	a.mu.Lock()
	for _, c := range a.open {
		_ = c.Close()
	}
	a.open = nil
	a.mu.Unlock()
	a.wg.Wait()
	a.ln = nil
}

// shortTempDir returns a temp dir whose paths fit in a sockaddr_un.
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// ptyAgent serves agent on the slave side of a fresh pty pair and returns the master.
func ptyAgent(t testing.TB, agent lineAgent) (master *os.File, slave *os.File) {
	t.Helper()
	if agent == nil {
		return ptyServer(t, nil)
	}
	return ptyServer(t, lines(agent))
}

// ptyServer runs serve (if not nil) on the slave side of a fresh pty pair.
func ptyServer(t testing.TB, serve func(io.ReadWriter)) (master *os.File, slave *os.File) {
	t.Helper()
	m, s, _, err := OpenPTYPair()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if serve != nil {
			serve(s)
		}
	}()
	t.Cleanup(func() {
		_ = s.Close()
		<-done
	})
	return m, s
}
