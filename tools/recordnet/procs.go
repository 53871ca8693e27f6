package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// reaper remembers every node process tmpnet started (read from each node's
// process.json) so that whatever happens, no node or plugin outlives the run.
// tmpnet starts nodes with Setsid, so a node is the leader of its own session
// and the plugins it launches (and a recorder wrapper's child) inherit that
// session id: the sweep kills every process in a remembered session.
type reaper struct {
	mu       sync.Mutex
	sessions map[int]bool
}

func newReaper() *reaper { return &reaper{sessions: map[int]bool{}} }

// watch reads the process.json of each data dir now.
func (r *reaper) watch(dataDirs ...string) {
	for _, dir := range dataDirs {
		b, err := os.ReadFile(filepath.Join(dir, "process.json"))
		if err != nil {
			continue
		}
		var pc struct {
			PID int `json:"pid"`
		}
		if json.Unmarshal(b, &pc) == nil && pc.PID > 0 {
			r.mu.Lock()
			r.sessions[pc.PID] = true
			r.mu.Unlock()
		}
	}
}

// reapExited collects the exit status of node processes that ended. tmpnet
// starts nodes with cmd.Start and never waits for them, so in this process an
// exited node stays a zombie, which still answers signal 0 and would make
// tmpnet's WaitForStopped wait for its whole timeout.
func (r *reaper) reapExited() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for pid := range r.sessions {
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	}
}

// run watches the data dirs and reaps exited nodes until stop is closed.
func (r *reaper) run(stop <-chan struct{}, dataDirs func() []string) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		r.watch(dataDirs()...)
		r.reapExited()
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// live lists the processes still running in the remembered sessions.
func (r *reaper) live() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if sid, ok := sessionID(pid); ok && r.sessions[sid] {
			pids = append(pids, pid)
		}
	}
	return pids
}

// sweep SIGKILLs what is left (after a graceful stop had its chance) and
// waits briefly for it to go; it returns the pids it had to kill.
func (r *reaper) sweep() []int {
	pids := r.live()
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(r.live()) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	return pids
}

// sessionID reads field 6 of /proc/PID/stat (after the parenthesised comm).
func sessionID(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:]) // state ppid pgrp session ...
	if len(f) < 4 {
		return 0, false
	}
	if f[0] == "Z" {
		return 0, false // a zombie is already dead
	}
	sid, err := strconv.Atoi(f[3])
	return sid, err == nil
}

// listeners returns the TCP listening addresses of the processes in the
// remembered sessions (from /proc/net/tcp{,6} and each process's fds), so a
// run can check that nothing listens beyond the loopback address.
func (r *reaper) listeners() ([]string, error) {
	inodes := map[string]bool{}
	for _, pid := range r.live() {
		fdDir := "/proc/" + strconv.Itoa(pid) + "/fd"
		fds, _ := os.ReadDir(fdDir)
		for _, fd := range fds {
			target, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil {
				continue
			}
			if ino, ok := strings.CutPrefix(target, "socket:["); ok {
				inodes[strings.TrimSuffix(ino, "]")] = true
			}
		}
	}
	var addrs []string
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] {
				continue
			}
			addrs = append(addrs, decodeProcNetAddr(f[1]))
		}
	}
	return addrs, nil
}

// decodeProcNetAddr turns /proc/net/tcp's "0100007F:1F90" into "127.0.0.1:8080"
// (IPv6 addresses are shown as their 32 hex digits, with the port).
func decodeProcNetAddr(s string) string {
	host, port, ok := strings.Cut(s, ":")
	if !ok {
		return s
	}
	p, _ := strconv.ParseUint(port, 16, 16)
	if len(host) == 8 {
		v, err := strconv.ParseUint(host, 16, 32)
		if err == nil {
			return fmt.Sprintf("%d.%d.%d.%d:%d", byte(v), byte(v>>8), byte(v>>16), byte(v>>24), p)
		}
	}
	return fmt.Sprintf("[%s]:%d", host, p)
}

// isLoopback says whether a decoded listening address is 127.0.0.0/8 or ::1.
func isLoopback(addr string) bool {
	return strings.HasPrefix(addr, "127.") || strings.HasPrefix(addr, "[00000000000000000000000001000000]:")
}
