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
	path := filepath.Join(shortTempDir(t), "agent.sock")
	a := &unixAgent{path: path, conns: make(chan net.Conn, 64)}
	a.listen(t, agent)
	t.Cleanup(a.stop)
	return a
}

func (a *unixAgent) listen(t testing.TB, agent lineAgent) {
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
				serveLines(c, agent)
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
	m, s, _, err := OpenPTYPair()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if agent != nil {
			serveLines(s, agent)
		}
	}()
	t.Cleanup(func() {
		_ = s.Close()
		<-done
	})
	return m, s
}
