//go:build linux

package guestagent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmtestbed/vmtestbed/sim"
)

// InitOptions configure the agent as PID 1 of a tiny guest (RunInit).
type InitOptions struct {
	// PortName is the virtio-serial port to serve, found by name under
	// /sys/class/virtio-ports (default com.vmagent.sock).
	PortName string
	// ModulesOrder lists, one path per line, the kernel modules to load in
	// order (default /lib/modules/order).
	ModulesOrder string
	// Log gets what PID 1 does (default /dev/console, once mounted).
	Log io.Writer
	// Child is the command line that runs the serving agent in a child
	// process (PID 1 only reaps and restarts it). Default: this binary with
	// --init-child.
	Child []string
	// Shell runs on the serial console (ConsoleTTY), as a serial getty with
	// automatic login would, when the file exists. Default /bin/sh.
	Shell string
	// ConsoleTTY is the serial console's device. Default /dev/ttyS0.
	ConsoleTTY string
}

// RunInit is PID 1 of the project's tiny guest: it mounts devtmpfs, proc
// and sysfs, loads the virtio modules in order (finit_module), then runs the
// agent in a child process and, forever, reaps every process that ends
// (orphans included) and restarts the agent if it ends. It never returns
// while it is PID 1: as PID 1, exiting would panic the kernel.
func RunInit(o InitOptions) error {
	if o.ModulesOrder == "" {
		o.ModulesOrder = "/lib/modules/order"
	}
	for _, m := range []struct{ src, dir, fs string }{{"devtmpfs", "/dev", "devtmpfs"}, {"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}} {
		_ = os.MkdirAll(m.dir, 0o755)
		if err := unix.Mount(m.src, m.dir, m.fs, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s on %s: %w", m.fs, m.dir, err)
		}
	}
	log := o.Log
	if log == nil {
		if c, err := os.OpenFile("/dev/console", os.O_WRONLY, 0); err == nil {
			log = c
		} else {
			log = io.Discard
		}
	}
	fmt.Fprintln(log, "vmagent: init: mounted /dev /proc /sys")
	if err := loadModules(o.ModulesOrder, log); err != nil {
		fmt.Fprintln(log, "vmagent: init:", err)
	}
	child := o.Child
	if len(child) == 0 {
		self, err := os.Executable()
		if err != nil {
			self = "/init"
		}
		child = []string{self, "--init-child", "--port-name", portNameOr(o.PortName), "--root", "/tmp"}
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGCHLD, syscall.SIGTERM, syscall.SIGINT)
	shell := startShell(o, log)
	for {
		cmd := exec.Command(child[0], child[1:]...)
		cmd.Stdout, cmd.Stderr = log, log
		cmd.Env = []string{"PATH=/bin:/sbin", "HOME=/"}
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(log, "vmagent: init: start the agent:", err)
		} else {
			fmt.Fprintf(log, "vmagent: init: agent running as pid %d\n", cmd.Process.Pid)
		}
		// Reap everything until the agent itself is gone, then restart it.
		for agentUp := cmd.Process != nil; agentUp; {
			switch <-sigs {
			case syscall.SIGTERM, syscall.SIGINT:
				powerOff(log)
			}
			for {
				var ws unix.WaitStatus
				pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
				if cmd.Process != nil && pid == cmd.Process.Pid {
					fmt.Fprintf(log, "vmagent: init: agent exited (%v); restarting\n", exitText(ws))
					agentUp = false
				}
				if shell != nil && pid == shell.Process.Pid {
					_ = shell.Process.Release()
					shell = startShell(o, log) // a console that logs out gets a new shell
				}
			}
		}
		// exec.Cmd.Wait would find the child reaped already; release it.
		if cmd.Process != nil {
			_ = cmd.Process.Release()
		}
		_ = sim.RealClock{}.Sleep(context.Background(), time.Second) // between restarts of a dying agent
	}
}

// startShell runs the console shell as a session leader with the serial
// console as its controlling terminal; nil when there is none.
func startShell(o InitOptions, log io.Writer) *exec.Cmd {
	shell, tty := o.Shell, o.ConsoleTTY
	if shell == "" {
		shell = "/bin/sh"
	}
	if tty == "" {
		tty = "/dev/ttyS0"
	}
	if _, err := os.Stat(shell); err != nil {
		return nil
	}
	f, err := os.OpenFile(tty, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(log, "vmagent: init: console shell:", err)
		return nil
	}
	defer f.Close() // the shell has its own descriptors
	cmd := exec.Command(shell)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, f
	cmd.Env = []string{"PATH=/bin:/sbin", "HOME=/", "TERM=vt100", "PS1=# "}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(log, "vmagent: init: console shell:", err)
		return nil
	}
	return cmd
}

// RunInitChild is the agent under RunInit: it finds its port by name, waits
// for it to appear, and serves it forever; end of file (no host connected
// yet, or the host went away) means open it again.
func RunInitChild(ctx context.Context, portName string, o Options, log io.Writer) error {
	o.PowerOff = func() error { powerOff(log); return nil }
	a, err := New(o)
	if err != nil {
		return err
	}
	portName = portNameOr(portName)
	var path string
	for path == "" {
		if path, err = findPort(portName); err != nil {
			fmt.Fprintln(log, "vmagent:", err)
			if a.opts.Clock.Sleep(ctx, 100*time.Millisecond) != nil {
				return ctx.Err()
			}
		}
	}
	fmt.Fprintf(log, "vmagent: serving %s on %s\n", portName, path)
	for {
		err := a.ServePort(ctx, path)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			fmt.Fprintf(log, "vmagent: %s: %v\n", path, err)
		}
		// End of file: the host is not connected. Poll again soon.
		if a.opts.Clock.Sleep(ctx, 100*time.Millisecond) != nil {
			return ctx.Err()
		}
	}
}

// findPort returns /dev/vportNpM for the virtio port named name.
func findPort(name string) (string, error) {
	matches, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
	var seen []string
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		got := strings.TrimSpace(string(b))
		seen = append(seen, got)
		if got == name {
			return "/dev/" + filepath.Base(filepath.Dir(m)), nil
		}
	}
	return "", fmt.Errorf("no virtio port named %s yet (ports: %v)", name, seen)
}

// loadModules loads each module the order file lists, in order; one that is
// loaded already is fine.
func loadModules(orderFile string, log io.Writer) error {
	b, err := os.ReadFile(orderFile)
	if err != nil {
		return fmt.Errorf("module order: %w", err)
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		path := strings.TrimSpace(string(line))
		if path == "" || strings.HasPrefix(path, "#") {
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("module %s: %w", path, err)
		}
		err = unix.FinitModule(int(f.Fd()), "", 0)
		f.Close()
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("load module %s: %w", path, err)
		}
		fmt.Fprintf(log, "vmagent: init: loaded %s\n", filepath.Base(path))
	}
	return nil
}

// powerOff powers the guest off. It writes nothing first: the log is the
// serial console, and a console nobody on the host reads can block a write.
// It returns only when the kernel refused, which it says.
func powerOff(log io.Writer) {
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Fprintln(log, "vmagent: power off:", err)
	}
}

func exitText(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "signal " + ws.Signal().String()
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}

func portNameOr(name string) string {
	if name == "" {
		return DefaultPortName
	}
	return name
}
