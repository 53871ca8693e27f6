package hypervisor

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// guest is the fake operating system on the slave side of a console. While
// powered it echoes typed characters (as a readline shell would), handles
// backspace, and runs a line of input on Enter. Commands: echo, hostname,
// uname [-a], uptime, whoami, stty size, help. Everything it writes uses
// "\r\n" because the pty is raw. Callers hold console.guestMu.
type guest struct {
	hostname   string
	instanceID string
	clock      Clock
	out        *os.File

	powered bool
	booted  time.Time
	line    []byte
}

func (g *guest) prompt() string { return "root@" + g.hostname + ":~# " }

func (g *guest) print(s string) {
	// A failed write means the pty is closing; the guest has nobody to talk to.
	_, _ = io.WriteString(g.out, s)
}

func (g *guest) boot() {
	g.powered = true
	g.booted = g.clock.Now()
	g.line = g.line[:0]
	g.print("\r\n[    0.000000] Linux version 6.1.0-vmtestbed (fake guest)\r\n" +
		"[    0.004000] Command line: console=ttyS0\r\n" +
		"[    0.120000] virtio_blk virtio1: [vda] attached\r\n" +
		"[    0.350000] Run /sbin/init as init process\r\n" +
		"[    0.600000] instance " + g.instanceID + " ready\r\n\r\n" +
		g.hostname + " login: root (automatic login)\r\n" + g.prompt())
}

func (g *guest) halt(graceful bool) {
	if !g.powered {
		return
	}
	g.powered = false
	if graceful {
		g.print("\r\n[  OK  ] Stopped target Multi-User System.\r\n[  OK  ] Reached target Power-Off.\r\nreboot: Power down\r\n")
		return
	}
	g.print("\r\n[vmtestbed] instance powered off (forced)\r\n")
}

// input handles typed bytes. A powered-off guest ignores them.
func (g *guest) input(p []byte) {
	if !g.powered {
		return
	}
	for _, b := range p {
		switch b {
		case '\r', '\n':
			cmd := string(g.line)
			g.line = g.line[:0]
			g.print("\r\n")
			if out := g.run(strings.TrimSpace(cmd)); out != "" {
				g.print(out + "\r\n")
			}
			g.print(g.prompt())
		case 0x7f, '\b':
			if len(g.line) > 0 {
				g.line = g.line[:len(g.line)-1]
				g.print("\b \b")
			}
		default:
			if len(g.line) < 4096 {
				g.line = append(g.line, b)
				g.print(string([]byte{b}))
			}
		}
	}
}

func (g *guest) run(cmd string) string {
	fields := strings.Fields(cmd)
	if len(fields) == 0 {
		return ""
	}
	switch fields[0] {
	case "echo":
		return strings.Join(fields[1:], " ")
	case "hostname":
		return g.hostname
	case "whoami":
		return "root"
	case "uname":
		if len(fields) > 1 && fields[1] == "-a" {
			return "Linux " + g.hostname + " 6.1.0-vmtestbed #1 SMP x86_64 GNU/Linux"
		}
		return "Linux"
	case "uptime":
		up := g.clock.Now().Sub(g.booted).Truncate(time.Second)
		return fmt.Sprintf("up %s, 1 user, load average: 0.00, 0.00, 0.00", up)
	case "stty":
		if len(fields) > 1 && fields[1] == "size" {
			cols, rows, err := getSize(g.out)
			if err != nil {
				return "stty: " + err.Error()
			}
			return fmt.Sprintf("%d %d", rows, cols)
		}
		return "stty: only 'stty size' is supported"
	case "help":
		return "commands: echo hostname whoami uname uptime stty help"
	}
	return "sh: " + fields[0] + ": command not found"
}
