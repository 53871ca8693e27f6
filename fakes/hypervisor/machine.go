package hypervisor

import (
	"errors"
	"io"
	"time"

	agent "github.com/vmtestbed/vmtestbed/fakes/guestagent"
	"github.com/vmtestbed/vmtestbed/virtio"
)

// Machine is what an instance runs on: a simulated machine (SimMachines,
// the default) or a libvirt domain (realhv.Machines). The instance lifecycle
// drives it only through this interface and never knows which it is.
type Machine interface {
	// PowerOn boots the guest.
	PowerOn() error
	// RequestShutdown asks the guest to power off (the ACPI power button).
	// off reports a guest that went off at once; otherwise a guest that obeys
	// later calls the MachineEnv.Off it was made with, and one that does
	// not is forced off by the caller's deadline.
	RequestShutdown() (off bool, err error)
	// PowerOff cuts the power and returns when the machine is off.
	PowerOff() error
	// Console is the host end of the serial console: Read returns what the
	// guest prints, Write types. It lives as long as the machine; Read
	// fails once the machine is closed.
	Console() io.ReadWriter
	// Resize sets the console size the guest sees.
	Resize(cols, rows int) error
	// Channel returns the host end of the named virtio-serial channel, as
	// its domain XML describes it.
	Channel(name string) (virtio.Channel, error)
	// DomainXML is the machine's description in libvirt's domain XML.
	DomainXML() string
	// Close powers off and releases everything the machine holds.
	Close() error
}

// Rebooter is a Machine that restarts its guest gracefully by itself, as a
// hypervisor's reboot does: it asks the guest to shut down, gives it at most
// timeout to go off, cuts the power if it has not, and boots it again, all
// without calling MachineEnv.Off. graceful reports that the guest went off
// by itself. A graceful RestartInstance uses it; on a Machine without it, a
// graceful restart is RequestShutdown, PowerOff unless the guest went off at
// once, and PowerOn.
type Rebooter interface {
	Reboot(timeout time.Duration) (graceful bool, err error)
}

// MachineSpec is what an instance asks its machine for.
type MachineSpec struct {
	InstanceID string
	Hostname   string
	// Node is the hostname of the host node the scheduler placed the
	// instance on ("" for an unplaced AgentService instance): a backend with
	// several hosts runs the machine there.
	Node        string
	CPUCores    int32
	MemoryBytes int64
	// Channels are the virtio-serial channels the guest gets (the guest
	// agent's among them).
	Channels []string
}

// MachineEnv is what the fake gives a machine.
type MachineEnv struct {
	// Off is called when the guest powers itself off (graceful) after a
	// RequestShutdown, or dies (not graceful). Never call it from inside a
	// Machine method.
	Off func(graceful bool)
	// Clock is the fake's clock.
	Clock Clock
	// TakePTY and ReleasePTY keep the fake's pty budget (Limits.MaxPTYs).
	TakePTY    func() bool
	ReleasePTY func()
}

// Machines makes machines: one backend for every instance of a Server.
type Machines interface {
	NewMachine(spec MachineSpec, env MachineEnv) (Machine, error)
}

// AgentChannel is the virtio-serial channel every machine gets for the
// guest agent.
const AgentChannel = agent.DefaultPortName

// errNoPTY is returned when Limits.MaxPTYs ptys are open.
var errNoPTY = errors.New("pty budget exhausted")
