package realhv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/vmtestbed/vmtestbed/virtio"
)

// DefaultURI is the libvirt URI Connect uses when given "".
const DefaultURI = "qemu:///system"

// DefaultPrefix starts the name of every domain a Host creates.
const DefaultPrefix = "vmtestbed"

// Host is one libvirt connection and the domains it created.
type Host struct {
	lv     *libvirt.Libvirt
	uri    string
	prefix string
	run    string // this Host's run tag, part of every name
	kvm    bool
	why    string // why not KVM
	ev     stopEvents
}

// stopEvents is a Host's one subscription to libvirt's lifecycle events
// (libvirt takes one per connection: a second is refused as "already
// tracked"), shared by every wait for a domain to stop.
type stopEvents struct {
	mu      sync.Mutex
	cancel  context.CancelFunc // nil until the first wait subscribes
	ended   chan struct{}      // closed when the subscription has ended
	waiters map[string]map[chan struct{}]struct{}
}

// watchStop registers a wait for the named domain's Stopped event: stopped
// is closed on it, ended when the Host's event stream ends first. release
// drops the registration.
func (h *Host) watchStop(name string) (stopped, ended <-chan struct{}, release func(), err error) {
	e := &h.ev
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		events, err := h.lv.LifecycleEvents(ctx)
		if err != nil {
			cancel()
			return nil, nil, nil, fmt.Errorf("watch domains of %s: %w", h.uri, err)
		}
		e.cancel, e.ended, e.waiters = cancel, make(chan struct{}), map[string]map[chan struct{}]struct{}{}
		go e.dispatch(events)
	}
	c := make(chan struct{})
	if e.waiters[name] == nil {
		e.waiters[name] = map[chan struct{}]struct{}{}
	}
	e.waiters[name][c] = struct{}{}
	return c, e.ended, func() {
		e.mu.Lock()
		delete(e.waiters[name], c)
		if len(e.waiters[name]) == 0 {
			delete(e.waiters, name)
		}
		e.mu.Unlock()
	}, nil
}

// dispatch wakes the waiters of each domain that stops, until go-libvirt
// closes the stream (after cancel, or when the connection ends). Then the
// waits still registered end with an error, and the next one subscribes
// again.
func (e *stopEvents) dispatch(events <-chan libvirt.DomainEventLifecycleMsg) {
	for ev := range events {
		if libvirt.DomainEventType(ev.Event) != libvirt.DomainEventStopped {
			continue
		}
		e.mu.Lock()
		for c := range e.waiters[ev.Dom.Name] {
			close(c)
		}
		delete(e.waiters, ev.Dom.Name)
		e.mu.Unlock()
	}
	e.mu.Lock()
	e.cancel()
	e.cancel = nil
	close(e.ended)
	e.mu.Unlock()
}

// close ends the subscription and waits until its stream is closed.
func (e *stopEvents) close() {
	e.mu.Lock()
	cancel, ended := e.cancel, e.ended
	e.mu.Unlock()
	if cancel != nil {
		cancel()
		<-ended
	}
}

// Options tune Connect.
type Options struct {
	// Prefix starts every domain name (default DefaultPrefix); Sweep removes
	// every domain that starts with it.
	Prefix string
	// ForceTCG uses type 'qemu' even where KVM works.
	ForceTCG bool
}

// Connect dials libvirt at uri ("" = qemu:///system), bounded by ctx.
func Connect(ctx context.Context, uri string, o Options) (*Host, error) {
	if uri == "" {
		uri = DefaultURI
	}
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("libvirt URI %q: %w", uri, err)
	}
	type result struct {
		lv  *libvirt.Libvirt
		err error
	}
	done := make(chan result, 1)
	go func() {
		lv, err := libvirt.ConnectToURI(u)
		done <- result{lv, err}
	}()
	var lv *libvirt.Libvirt
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("connect to libvirt at %s: %w", uri, r.err)
		}
		lv = r.lv
	case <-ctx.Done():
		go func() { // the dial goroutine ends on its own; close what it opens
			if r := <-done; r.err == nil {
				_ = r.lv.Disconnect()
			}
		}()
		return nil, fmt.Errorf("connect to libvirt at %s: %w", uri, ctx.Err())
	}
	h := &Host{lv: lv, uri: uri, prefix: o.Prefix, run: randomTag()}
	if h.prefix == "" {
		h.prefix = DefaultPrefix
	}
	if o.ForceTCG {
		h.why = "TCG forced"
	} else {
		h.kvm, h.why = KVM()
	}
	return h, nil
}

// Close ends the connection (domains stay; see Sweep).
func (h *Host) Close() error {
	h.ev.close()
	return h.lv.Disconnect()
}

// URI is the libvirt URI the Host is connected to.
func (h *Host) URI() string { return h.uri }

// Accel says which accelerator new domains get: "kvm", or "tcg (why)".
func (h *Host) Accel() string {
	if h.kvm {
		return "kvm"
	}
	return "tcg (" + h.why + ")"
}

// Name returns the domain name for a short name: prefix-run-short.
func (h *Host) Name(short string) string { return h.prefix + "-" + h.run + "-" + short }

// Create defines and starts a domain for spec, named h.Name(short). What it
// defined is undefined again if the start fails.
func (h *Host) Create(ctx context.Context, short string, spec Spec) (*Domain, error) {
	spec.Name = h.Name(short)
	spec.KVM = h.kvm
	doc, err := spec.XML()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dom, err := h.lv.DomainDefineXML(doc)
	if err != nil {
		return nil, fmt.Errorf("define domain %s: %w", spec.Name, err)
	}
	if err := h.lv.DomainCreate(dom); err != nil {
		_ = h.lv.DomainUndefineFlags(dom, libvirt.DomainUndefineNvram)
		return nil, fmt.Errorf("start domain %s: %w", spec.Name, err)
	}
	return &Domain{h: h, dom: dom, Name: spec.Name}, nil
}

// Domains lists the domains (running or not) whose names start with the prefix.
func (h *Host) Domains() ([]string, error) {
	doms, _, err := h.lv.ConnectListAllDomains(1, libvirt.ConnectListDomainsActive|libvirt.ConnectListDomainsInactive)
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	var out []string
	for _, d := range doms {
		if strings.HasPrefix(d.Name, h.prefix+"-") {
			out = append(out, d.Name)
		}
	}
	return out, nil
}

// Sweep destroys and undefines every domain whose name starts with the
// prefix (left behind by an interrupted run, or by this one), and returns
// their names.
func (h *Host) Sweep() ([]string, error) {
	names, err := h.Domains()
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, n := range names {
		dom, err := h.lv.DomainLookupByName(n)
		if libvirt.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep %s: %w", n, err))
			continue
		}
		errs = append(errs, (&Domain{h: h, dom: dom, Name: n}).Remove())
	}
	return names, errors.Join(errs...)
}

// Domain is one libvirt domain a Host created.
type Domain struct {
	h    *Host
	dom  libvirt.Domain
	Name string
}

// State is a domain's libvirt state.
type State = libvirt.DomainState

// State returns the domain's state (libvirt.DomainRunning, DomainShutoff, ...).
func (d *Domain) State() (State, error) {
	st, _, err := d.h.lv.DomainGetState(d.dom, 0)
	if err != nil {
		return 0, fmt.Errorf("state of %s: %w", d.Name, err)
	}
	return State(st), nil
}

// Stats are what libvirt reports of a running domain.
type Stats struct {
	State     State
	MemoryKiB uint64
	VCPUs     uint16
	CPUTime   time.Duration
}

// Stats reads the domain's stats.
func (d *Domain) Stats() (Stats, error) {
	st, _, mem, vcpus, cpu, err := d.h.lv.DomainGetInfo(d.dom)
	if err != nil {
		return Stats{}, fmt.Errorf("stats of %s: %w", d.Name, err)
	}
	return Stats{State: State(st), MemoryKiB: mem, VCPUs: vcpus, CPUTime: time.Duration(cpu)}, nil
}

// XML returns the live domain XML (with the pty path and socket paths
// libvirt filled in).
func (d *Domain) XML() (string, error) {
	x, err := d.h.lv.DomainGetXMLDesc(d.dom, 0)
	if err != nil {
		return "", fmt.Errorf("XML of %s: %w", d.Name, err)
	}
	return x, nil
}

// ConsolePTY returns the host path of the serial console's pty.
func (d *Domain) ConsolePTY() (string, error) {
	x, err := d.XML()
	if err != nil {
		return "", err
	}
	var live libvirtxml.Domain
	if err := live.Unmarshal(x); err != nil {
		return "", fmt.Errorf("parse XML of %s: %w", d.Name, err)
	}
	if live.Devices != nil {
		for _, s := range live.Devices.Serials {
			if s.Source != nil && s.Source.Pty != nil && s.Source.Pty.Path != "" {
				return s.Source.Pty.Path, nil
			}
		}
	}
	return "", fmt.Errorf("domain %s has no serial pty (is it running?)", d.Name)
}

// Channel finds the named virtio-serial channel's host end in the live XML.
func (d *Domain) Channel(name string) (virtio.ChannelSource, error) {
	x, err := d.XML()
	if err != nil {
		return virtio.ChannelSource{}, err
	}
	return virtio.FindChannel([]byte(x), name)
}

// Shutdown asks the guest to power off (ACPI) and waits until the domain is
// off; when deadline passes first, it destroys the domain. It reports
// whether the guest went down by itself.
func (d *Domain) Shutdown(ctx context.Context, deadline time.Duration) (graceful bool, err error) {
	wctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	stopped, ended, release, err := d.h.watchStop(d.Name)
	if err != nil {
		return false, err
	}
	defer release()
	if st, err := d.State(); err == nil && st == libvirt.DomainShutoff {
		return true, nil
	}
	if err := d.PowerButton(); err != nil {
		return false, err
	}
	select {
	case <-stopped:
		return true, nil
	case <-ended:
		return false, d.Destroy()
	case <-wctx.Done():
		if st, err := d.State(); err == nil && st == libvirt.DomainShutoff {
			return true, nil
		}
		if ctx.Err() != nil {
			return false, errors.Join(ctx.Err(), d.Destroy())
		}
		return false, d.Destroy()
	}
}

// PowerButton presses the domain's ACPI power button: a request the guest
// may act on; a domain that is not running is no error.
func (d *Domain) PowerButton() error {
	if err := d.h.lv.DomainShutdownFlags(d.dom, libvirt.DomainShutdownAcpiPowerBtn); err != nil && !notRunning(err) {
		return fmt.Errorf("shut down %s: %w", d.Name, err)
	}
	return nil
}

// WaitStopped waits, bounded by ctx, until the domain is off.
func (d *Domain) WaitStopped(ctx context.Context) error {
	stopped, ended, release, err := d.h.watchStop(d.Name)
	if err != nil {
		return err
	}
	defer release()
	if st, err := d.State(); err == nil && st == libvirt.DomainShutoff {
		return nil
	}
	select {
	case <-stopped:
		return nil
	case <-ended:
		return fmt.Errorf("watch %s: the event stream of %s ended", d.Name, d.h.uri)
	case <-ctx.Done():
		return fmt.Errorf("%s still running: %w", d.Name, ctx.Err())
	}
}

// Destroy powers the domain off at once (no error if it is off already).
func (d *Domain) Destroy() error {
	if err := d.h.lv.DomainDestroyFlags(d.dom, libvirt.DomainDestroyDefault); err != nil && !notRunning(err) {
		return fmt.Errorf("destroy %s: %w", d.Name, err)
	}
	return nil
}

// Remove destroys and undefines the domain (no error if already gone).
func (d *Domain) Remove() error {
	if err := d.Destroy(); err != nil { // a domain already gone is none
		return err
	}
	err := d.h.lv.DomainUndefineFlags(d.dom, libvirt.DomainUndefineNvram)
	if err != nil && strings.Contains(err.Error(), "unsupported flags") {
		err = d.h.lv.DomainUndefine(d.dom) // libvirt's test driver knows no NVRAM
	}
	if err != nil && !libvirt.IsNotFound(err) {
		return fmt.Errorf("undefine %s: %w", d.Name, err)
	}
	return nil
}

// notRunning reports libvirt's "domain is not running" (VIR_ERR_OPERATION_INVALID).
func notRunning(err error) bool {
	var e libvirt.Error
	return errors.As(err, &e) && (e.Code == uint32(libvirt.ErrOperationInvalid) || e.Code == uint32(libvirt.ErrNoDomain))
}

func randomTag() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
