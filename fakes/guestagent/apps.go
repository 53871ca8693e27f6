package guestagent

import (
	"slices"
	"sync"
	"time"
)

// appTable simulates the applications app control starts and stops.
type appTable struct {
	mu      sync.Mutex
	now     func() time.Time
	apps    map[string]*app
	nextPID int
}

type app struct {
	running bool
	pid     int
	since   time.Time
}

func newAppTable(names []string, now func() time.Time) *appTable {
	t := &appTable{now: now, apps: map[string]*app{}, nextPID: 1000}
	for _, n := range names {
		t.apps[n] = &app{}
	}
	return t
}

// control answers {"action":"start|stop|restart|status","app":"nginx"} and
// {"action":"list"}.
func (t *appTable) control(action, name string) reply {
	t.mu.Lock()
	defer t.mu.Unlock()
	if action == "list" {
		names := make([]string, 0, len(t.apps))
		for n := range t.apps {
			names = append(names, n)
		}
		slices.Sort(names)
		return reply{"result": names}
	}
	if name == "" {
		return errReply("app %s: missing app", clip([]byte(action)))
	}
	a, ok := t.apps[name]
	if !ok {
		return errReply("unknown app %q", clip([]byte(name)))
	}
	switch action {
	case "start":
		if a.running {
			return errReply("app %s is already running (pid %d)", name, a.pid)
		}
		t.start(a)
	case "stop":
		if !a.running {
			return errReply("app %s is not running", name)
		}
		a.running, a.pid = false, 0
	case "restart":
		t.start(a)
	case "status":
	default:
		return errReply("unknown app action %q (want start, stop, restart, status or list)", clip([]byte(action)))
	}
	return reply{"result": t.describe(name, a)}
}

func (t *appTable) start(a *app) {
	t.nextPID++
	a.running, a.pid, a.since = true, t.nextPID, t.now()
}

func (t *appTable) describe(name string, a *app) map[string]any {
	d := map[string]any{"app": name, "state": "stopped"}
	if a.running {
		d["state"] = "running"
		d["pid"] = a.pid
		d["since"] = a.since.UTC().Format(time.RFC3339)
	}
	return d
}
