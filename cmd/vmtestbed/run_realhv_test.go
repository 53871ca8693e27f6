package main

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmtestbed/vmtestbed/internal/realhvtest"
	"github.com/vmtestbed/vmtestbed/realhv"
	"github.com/vmtestbed/vmtestbed/sim"
)

// domainWatch lists the run's domains on several libvirt hosts while the
// run goes (in rounds, one host after the other): every name it saw per
// host, the rounds each name was first and last seen in, and the most at
// once over all.
type domainWatch struct {
	seen        map[string]map[string]bool // uri -> domain names
	first, last map[string]int             // domain name -> round
	most        int
	err         error
	hosts       []*realhv.Host // connected until the test's cleanup
}

func watchDomains(ctx context.Context, t *testing.T, wg *sync.WaitGroup, uris ...string) *domainWatch {
	t.Helper()
	w := &domainWatch{seen: map[string]map[string]bool{}, first: map[string]int{}, last: map[string]int{}}
	var hosts []*realhv.Host
	for _, uri := range uris {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		h, err := realhv.Connect(cctx, uri, realhv.Options{Prefix: "vmtestbed-run"})
		cancel()
		if err != nil {
			t.Fatalf("watch %s: %v", uri, err)
		}
		t.Cleanup(func() { _ = h.Close() })
		hosts = append(hosts, h)
		w.seen[uri] = map[string]bool{}
	}
	w.hosts = hosts
	wg.Go(func() {
		tick := time.NewTicker(150 * time.Millisecond)
		defer tick.Stop()
		for round := 0; ; round++ {
			now := 0
			for _, h := range hosts {
				names, err := h.Domains()
				if err != nil {
					w.err = err
					return
				}
				for _, n := range names {
					w.seen[h.URI()][n] = true
					if _, ok := w.first[n]; !ok {
						w.first[n] = round
					}
					w.last[n] = round
				}
				now += len(names)
			}
			w.most = max(w.most, now)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	return w
}

// TestRunValidatorsOnRealGuestsOverTwoHosts: `vmtestbed run
// validators-on-hypervisor --backend realhv` over two libvirt daemons. The
// three validators' instances boot as real QEMU guests spread over both
// hosts (hv1 and hv3 on the first, hv2 on the second); each guest's agent
// answers ping over its real virtio-serial socket before its validator
// starts; the host failure under n1 ends with the control plane failing
// its instance, which powers the guest off (the domain goes) before the
// orchestrator boots a new one; the validators converge; no domain is left
// on either host.
func TestRunValidatorsOnRealGuestsOverTwoHosts(t *testing.T) {
	agent := realhvOrSkip(t)
	uri2 := realhvtest.SecondURI(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	watch := watchDomains(ctx, t, &wg, realhv.DefaultURI, uri2)
	// Registered after the watcher's host cleanups, so it runs before them
	// even when runCLI fails the test.
	t.Cleanup(func() { cancel(); wg.Wait() })
	dir := filepath.Join(t.TempDir(), "report")
	res := runCLI(t, 3*time.Minute, "run", "validators-on-hypervisor", "--backend", "realhv", "--guest-agent", agent,
		"--libvirt-uri", realhv.DefaultURI, "--libvirt-uri", uri2, "--report", dir, "--timeout", "150s")
	cancel()
	wg.Wait()
	t.Logf("run took %s", res.duration.Round(time.Millisecond))
	if res.code != exitOK || !strings.Contains(res.out, "scenario validators-on-hypervisor passed") {
		t.Fatalf("vmtestbed run --backend realhv: exit %d\n%s", res.code, res.out)
	}
	if watch.err != nil {
		t.Fatalf("list domains: %v", watch.err)
	}
	booted := 0
	for uri, names := range watch.seen {
		t.Logf("%s: %d guests booted", uri, len(names))
		if len(names) == 0 {
			t.Errorf("no guest ran on %s: the hosts hv1..hv3 should map round-robin onto both libvirt URIs", uri)
		}
		booted += len(names)
	}
	t.Logf("%d guests booted, at most %d at once", booted, watch.most)
	if booted != 4 {
		t.Errorf("%d guests booted, want 4: three validators' and the rescheduled one", booted)
	}
	// The replacement is the guest seen last; by the round it appeared
	// (one round of slack: the hosts are listed one after the other), the
	// failed host's guest was gone and the other two still ran.
	names := slices.SortedFunc(maps.Keys(watch.first), func(a, b string) int { return watch.first[a] - watch.first[b] })
	if len(names) == 4 {
		replacement := watch.first[names[3]]
		var gone, ran []string
		for _, n := range names[:3] {
			if watch.last[n] <= replacement {
				gone = append(gone, n)
			} else {
				ran = append(ran, n)
			}
		}
		if len(gone) != 1 || len(ran) != 2 {
			t.Errorf("when the replacement %s booted (round %d), %v were gone and %v ran: want the failed host's one guest powered off, the other two running (rounds first %v, last %v)",
				names[3], replacement, gone, ran, watch.first, watch.last)
		}
	}
	for _, want := range []string{"backend realhv: instances are real guests", "hv1=" + realhv.DefaultURI, "hv2=" + uri2, "not deterministic"} {
		if !strings.Contains(res.out, want) {
			t.Errorf("the output lacks %q:\n%s", want, res.out)
		}
	}
	summary, err := os.ReadFile(filepath.Join(dir, "summary.txt"))
	if err != nil || !strings.Contains(string(summary), "NOT deterministic") {
		t.Errorf("summary.txt should say the run is not deterministic (%v):\n%s", err, summary)
	}
	f, err := os.Open(filepath.Join(dir, "trace.json"))
	if err != nil {
		t.Fatal(err)
	}
	events, err := sim.ReadEventsJSON(f)
	f.Close()
	if err != nil {
		t.Fatalf("trace.json: %v", err)
	}
	count := map[string]int{}
	for _, ev := range events {
		if ev.Kind == "hypervisor" {
			count[ev.Name]++
		}
	}
	if count["agent"] != 4 || count["instance-failed"] != 1 || count["StartInstance"] != 4 {
		t.Errorf("hypervisor events %v: want 4 agent answers, 1 instance-failed, 4 StartInstance", count)
	}
	// Nothing left on either host (the watcher, stopped, still holds them).
	for _, h := range watch.hosts {
		left, err := h.Domains()
		if err != nil || len(left) != 0 {
			t.Errorf("domains left on %s: %v (%v)", h.URI(), left, err)
		}
	}
}

// TestRunRealhvNeedsAHypervisorTopology: a network-only scenario has no
// instances to run as guests; --backend realhv says so before it touches
// libvirt.
func TestRunRealhvNeedsAHypervisorTopology(t *testing.T) {
	res := runCLI(t, 30*time.Second, "run", "three-nodes", "--backend", "realhv")
	if res.code != exitUsage || !strings.Contains(res.out, "no hypervisor topology") {
		t.Fatalf("exit %d, want %d:\n%s", res.code, exitUsage, res.out)
	}
}
