package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	agent "github.com/vmtestbed/vmtestbed/fakes/guestagent"
	fakehv "github.com/vmtestbed/vmtestbed/fakes/hypervisor"
	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
	"github.com/vmtestbed/vmtestbed/sim"
	"github.com/vmtestbed/vmtestbed/virtio"
)

// ClusterConfig is a full stack: a hypervisor cluster (the hypervisor.v1
// fake, its host nodes heartbeating on the world's clock) whose instances
// are machines with consoles and guest agents, and the multi-node Avalanche
// network of Network, each validator living in one instance.
type ClusterConfig struct {
	// Network configures the validators (Network.Nodes of them) and the
	// world's seed. StartDown is implied: a validator starts when its
	// instance runs and its guest agent answers.
	Network NetworkConfig
	// Hosts is the number of hypervisor host nodes (default 3).
	Hosts int
	// HeartbeatInterval, LeaseTTL and NodeGracePeriod are the hosts' lease
	// timing on the world's clock (defaults 5s, 15s, 15s).
	HeartbeatInterval, LeaseTTL, NodeGracePeriod time.Duration
	// Machines runs the instances (default the fake's simulated machines).
	Machines fakehv.Machines
	// AgentWait, when positive, is how long (wall time) the cluster waits
	// for a new instance's guest agent to answer, retrying, while the world
	// is paused: real guests (realhv) take seconds to boot. Zero asks once,
	// as simulated machines answer at once; the run stays deterministic.
	AgentWait time.Duration
}

// HostName is the hostname of the i-th (from 0) hypervisor host a Cluster
// registers: hv1, hv2, ... (the key of realhv.Machines.Hosts).
func HostName(i int) string { return fmt.Sprintf("hv%d", i+1) }

// Cluster is a running full stack. Drive it from one goroutine, like
// Network: call its methods, then Run* to let time pass.
type Cluster struct {
	*Network
	HV *fakehv.Served

	cfg     ClusterConfig
	cluster hv.ClusterServiceClient
	compute hv.ComputeServiceClient
	hosts   []*simHost
	vals    []*validator
	watch   *watcher
}

// watcher is the simulated client that watches the control plane's
// streams (WatchNodes, as a dashboard or a scheduler would). It runs on
// its own goroutine, outside the world's deterministic order, so what it
// sees is kept apart from the trace.
type watcher struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	seen   []string // "NODE_EVENT_TYPE hostname status"
	wake   chan struct{}
}

// simHost is a hypervisor host node whose agent heartbeats on the world's
// clock while it is alive.
type simHost struct {
	name  string
	id    string // its node id, new at every registration
	alive bool
	beat  *sim.Item
}

// validator binds a network node to the instance it lives in.
type validator struct {
	node     *SimNode
	instance string // current instance id
	host     string // the host it runs on
	running  bool   // the instance runs and its agent answered
}

// Cluster trace names, beside the network's.
const (
	KindHypervisor = "hypervisor" // an event of the hypervisor cluster
)

// NewCluster builds the world, the hypervisor fake on its clock, registers
// the hosts and creates and starts one instance per validator; each
// validator starts once its instance's guest agent answers.
func NewCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	if cfg.Hosts <= 0 {
		cfg.Hosts = 3
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 5 * time.Second
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 15 * time.Second
	}
	if cfg.NodeGracePeriod <= 0 {
		cfg.NodeGracePeriod = 15 * time.Second
	}
	cfg.Network.StartDown = true
	n, err := NewNetwork(ctx, cfg.Network)
	if err != nil {
		return nil, err
	}
	served, err := fakehv.Serve(fakehv.Options{
		Seed: n.Seed(), Clock: n.World.Clock(), Machines: cfg.Machines,
		HeartbeatInterval: cfg.HeartbeatInterval, LeaseTTL: cfg.LeaseTTL, NodeGracePeriod: cfg.NodeGracePeriod,
	}, fakehv.ServeOptions{})
	if err != nil {
		_ = n.Close()
		return nil, fmt.Errorf("cluster: hypervisor: %w", err)
	}
	c := &Cluster{Network: n, HV: served, cfg: cfg,
		cluster: hv.NewClusterServiceClient(served.Conn()), compute: hv.NewComputeServiceClient(served.Conn())}
	c.note("", "cluster", fmt.Sprintf("%d hosts, %d validators", cfg.Hosts, len(n.nodes)))
	for i := range cfg.Hosts {
		h := &simHost{name: HostName(i)}
		c.hosts = append(c.hosts, h)
		if err := c.register(h); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	for _, s := range n.nodes {
		v := &validator{node: s}
		c.vals = append(c.vals, v)
		if err := c.place(v); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	if err := c.startWatcher(); err != nil {
		_ = c.Close()
		return nil, err
	}
	c.World.After(cfg.HeartbeatInterval, c.orchestrate)
	if err := n.RunUntil(func() bool { return n.allNormal() }, time.Minute); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("cluster: start-up: %w", err)
	}
	return c, nil
}

func (c *Cluster) note(node, name, detail string) {
	c.World.Trace().Add(sim.Event{Node: node, Kind: sim.KindNote, Name: name, Detail: detail})
}

// rpc bounds one call to the control plane; starting an instance on real
// machines boots a guest, so it gets the agent wait on top.
func (c *Cluster) rpc() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.ctx, 10*time.Second+c.cfg.AgentWait)
}

// register registers h with the control plane and starts its heartbeats.
func (c *Cluster) register(h *simHost) error {
	ctx, cancel := c.rpc()
	defer cancel()
	resp, err := c.cluster.RegisterNode(ctx, &hv.RegisterNodeRequest{
		Hostname: h.name, Ip: "127.0.0.1", Port: 7000, Role: hv.NodeRole_NODE_ROLE_WORKER, Region: "sim", Zone: "sim-a",
		Capacity:               &hv.Resources{CpuCores: 8, MemoryBytes: 32 << 30, DiskBytes: 1 << 40},
		SupportedInstanceTypes: []string{"INSTANCE_TYPE_VM"},
	})
	if err != nil {
		return fmt.Errorf("cluster: register %s: %w", h.name, err)
	}
	h.id, h.alive = resp.GetNodeId(), true
	c.World.Trace().Add(sim.Event{Node: h.name, Kind: KindHypervisor, Name: "RegisterNode", Detail: "node " + h.id})
	c.heartbeat(h)
	return nil
}

// heartbeat sends h's heartbeat and schedules the next while h is alive.
func (c *Cluster) heartbeat(h *simHost) {
	h.beat = c.World.After(c.cfg.HeartbeatInterval, func() {
		if !h.alive {
			return
		}
		ctx, cancel := c.rpc()
		resp, err := c.cluster.Heartbeat(ctx, &hv.HeartbeatRequest{NodeId: h.id})
		cancel()
		if err != nil {
			c.note(h.name, "heartbeat refused", err.Error())
			return
		}
		// The host agent takes the commands the control plane queued for it.
		for _, cmd := range resp.GetCommands() {
			c.World.Trace().Add(sim.Event{Node: h.name, Kind: KindHypervisor, Name: "command", Detail: cmd.GetType()})
		}
		c.heartbeat(h)
	})
}

// place creates and starts v's instance (the scheduler picks the host),
// waits for its guest agent and starts the validator in it.
func (c *Cluster) place(v *validator) error {
	ctx, cancel := c.rpc()
	defer cancel()
	in, err := c.compute.CreateInstance(ctx, &hv.CreateInstanceRequest{
		Name: "validator-" + v.node.Name, Type: hv.InstanceType_INSTANCE_TYPE_VM,
		Spec: &hv.InstanceSpec{Image: "ubuntu:22.04", CpuCores: 2, MemoryBytes: 4 << 30},
	})
	if err != nil {
		return fmt.Errorf("cluster: instance for %s: %w", v.node.Name, err)
	}
	if _, err := c.compute.StartInstance(ctx, &hv.StartInstanceRequest{InstanceId: in.GetId()}); err != nil {
		return fmt.Errorf("cluster: start instance of %s: %w", v.node.Name, err)
	}
	v.instance, v.host = in.GetId(), c.hostName(in.GetNodeId())
	c.World.Trace().Add(sim.Event{Node: v.host, Kind: KindHypervisor, Name: "StartInstance", To: v.node.Name,
		Detail: "instance " + in.GetName() + " runs on " + v.host})
	if err := c.agentReady(v); err != nil {
		return err
	}
	v.running = true
	return c.StartNode(v.node.Name)
}

// agentReady pings the instance's guest agent over its virtio-serial
// channel, as an orchestrator does before it starts a workload. With
// AgentWait it retries until the guest has booted, at most that long.
func (c *Cluster) agentReady(v *validator) error {
	m, err := c.HV.Fake().Machine(v.instance)
	if err != nil {
		return fmt.Errorf("cluster: machine of %s: %w", v.node.Name, err)
	}
	ch, err := m.Channel(fakehv.AgentChannel)
	if err != nil {
		return fmt.Errorf("cluster: agent channel of %s: %w", v.node.Name, err)
	}
	defer ch.Close()
	if c.cfg.AgentWait > 0 {
		err = c.awaitAgent(ch)
	} else {
		err = c.pingAgent(ch)
	}
	if err != nil {
		return fmt.Errorf("cluster: agent of %s: %w", v.node.Name, err)
	}
	c.World.Trace().Add(sim.Event{Node: v.node.Name, Kind: KindHypervisor, Name: "agent", From: v.host, Detail: "guest agent answered ping over " + fakehv.AgentChannel})
	return nil
}

// pingAgent asks once: a simulated machine's agent answers at once.
func (c *Cluster) pingAgent(ch virtio.Channel) error {
	cl := virtio.NewClient(ch, virtio.NewJSONHandler(), 5*time.Second, virtio.NoReconnect)
	ctx, cancel := c.rpc()
	defer cancel()
	if err := cl.Connect(ctx); err != nil {
		return err
	}
	out, err := cl.Request(ctx, []byte("ping"))
	if err != nil || string(out) != "pong" {
		return fmt.Errorf("answered %q, %v", out, err)
	}
	return nil
}

// awaitAgent pings a booting guest's agent until it answers, for at most
// AgentWait of wall time; the world does not move meanwhile.
func (c *Cluster) awaitAgent(ch virtio.Channel) error {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.AgentWait)
	defer cancel()
	return virtio.AwaitPong(ctx, ch)
}

func (c *Cluster) hostName(nodeID string) string {
	for _, h := range c.hosts {
		if h.id == nodeID {
			return h.name
		}
	}
	return nodeID
}

// Command queues a command (drain, evict, ...) for a host; its agent takes
// it with its next heartbeat (trace: hypervisor "command" on the host).
func (c *Cluster) Command(host, typ string) error {
	h := c.host(host)
	if h == nil || !h.alive {
		return fmt.Errorf("cluster: no live host %q", host)
	}
	if _, err := c.HV.Fake().EnqueueNodeCommand(h.id, typ, nil); err != nil {
		return fmt.Errorf("cluster: command %s for %s: %w", typ, host, err)
	}
	return nil
}

// AgentFault makes the guest agent in node's instance misbehave (a
// fakes/guestagent fault mode, e.g. "hangup") until the instance reboots.
func (c *Cluster) AgentFault(node, fault string) error {
	v, err := c.validator(node)
	if err != nil {
		return err
	}
	m, err := c.HV.Fake().Machine(v.instance)
	if err != nil {
		return err
	}
	f, ok := m.(fakehv.AgentFaulter)
	if !ok {
		return fmt.Errorf("cluster: the machine of %s cannot fake agent faults", node)
	}
	c.World.Trace().Add(sim.Event{Node: node, Kind: sim.KindFault, Name: "agent-" + fault, To: node})
	return f.SetAgentFault(agent.Fault(fault))
}

// Exec runs a command in node's instance through its guest agent, as an
// orchestrator does, bounded by a timeout. When the agent fails (it hung
// up, or never answers), the orchestrator restarts the instance: the
// validator goes down with it, the guest reboots with a fresh agent, and the
// validator starts again once the agent answers. It returns the command's
// output, or the agent's failure after the recovery.
func (c *Cluster) Exec(node, cmd string, args ...string) (string, error) {
	v, err := c.validator(node)
	if err != nil {
		return "", err
	}
	out, err := c.exec(v, cmd, args)
	if err == nil {
		c.World.Trace().Add(sim.Event{Node: node, Kind: KindHypervisor, Name: "exec", From: v.host, Detail: cmd + ": " + out})
		return out, nil
	}
	// The error's words depend on how far the agent got (a torn reply, end of
	// file, an I/O error): the trace names only the failed command, so it
	// stays the same for the same seed.
	c.World.Trace().Add(sim.Event{Node: node, Kind: KindHypervisor, Name: "agent-error", From: v.host, Detail: "exec " + cmd + " failed; restarting the instance"})
	if rerr := c.restart(v); rerr != nil {
		return "", errors.Join(err, rerr)
	}
	return "", err
}

func (c *Cluster) exec(v *validator, cmd string, args []string) (string, error) {
	m, err := c.HV.Fake().Machine(v.instance)
	if err != nil {
		return "", err
	}
	ch, err := m.Channel(fakehv.AgentChannel)
	if err != nil {
		return "", err
	}
	defer ch.Close()
	cl := virtio.NewClient(ch, virtio.NewRawHandler(), 2*time.Second, virtio.NoReconnect)
	ctx, cancel := c.rpc()
	defer cancel()
	if err := cl.Connect(ctx); err != nil {
		return "", err
	}
	req, _ := json.Marshal(map[string]any{"command": "exec", "cmd": cmd, "args": args})
	raw, err := cl.Request(ctx, append(req, '\n'))
	if err != nil {
		return "", fmt.Errorf("exec %s: %w", cmd, err)
	}
	var reply struct {
		Result *string `json:"result"`
		Error  string  `json:"error"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(raw), &reply); err != nil || reply.Result == nil {
		return "", fmt.Errorf("exec %s: the agent answered %q", cmd, bytes.TrimSpace(raw))
	}
	return strings.TrimSpace(*reply.Result), nil
}

// restart power-cycles v's instance through the control plane: the
// validator stops, the guest reboots, its agent answers, the validator
// starts again on its database.
func (c *Cluster) restart(v *validator) error {
	if v.running {
		v.running = false
		if err := c.StopNode(v.node.Name); err != nil {
			return err
		}
	}
	ctx, cancel := c.rpc()
	defer cancel()
	if _, err := c.compute.RestartInstance(ctx, &hv.RestartInstanceRequest{InstanceId: v.instance, Force: true}); err != nil {
		return fmt.Errorf("cluster: restart instance of %s: %w", v.node.Name, err)
	}
	c.World.Trace().Add(sim.Event{Node: v.host, Kind: KindHypervisor, Name: "RestartInstance", To: v.node.Name})
	if err := c.agentReady(v); err != nil {
		return err
	}
	v.running = true
	return c.StartNode(v.node.Name)
}

func (c *Cluster) validator(node string) (*validator, error) {
	s, err := c.mustNode(node)
	if err != nil {
		return nil, err
	}
	for _, v := range c.vals {
		if v.node == s {
			return v, nil
		}
	}
	return nil, fmt.Errorf("cluster: no validator %s", node)
}

// FailHost kills a host: it stops heartbeating and every instance on it
// loses power at once (their validators stop); the control plane finds out
// when the lease lapses, and the orchestrator reschedules the instances it
// then marks FAILED.
func (c *Cluster) FailHost(name string) error {
	h := c.host(name)
	if h == nil || !h.alive {
		return fmt.Errorf("cluster: no live host %q", name)
	}
	h.alive = false
	h.beat.Stop()
	c.World.Trace().Add(sim.Event{Node: name, Kind: sim.KindFault, Name: "host-failure", To: name})
	var errs []error
	for _, v := range c.vals {
		if v.host == name && v.running {
			v.running = false
			errs = append(errs, c.StopNode(v.node.Name))
			// The host is dead: its machines lose power now, though the
			// control plane still thinks them RUNNING until the lease lapses.
			if m, err := c.HV.Fake().Machine(v.instance); err == nil {
				errs = append(errs, m.PowerOff())
			}
		}
	}
	return errors.Join(errs...)
}

// RecoverHost brings a failed host back: it registers again (a new node
// id, as after a reinstall) and heartbeats.
func (c *Cluster) RecoverHost(name string) error {
	h := c.host(name)
	if h == nil || h.alive {
		return fmt.Errorf("cluster: no failed host %q", name)
	}
	return c.register(h)
}

func (c *Cluster) host(name string) *simHost {
	for _, h := range c.hosts {
		if h.name == name {
			return h
		}
	}
	return nil
}

// orchestrate is the simulated orchestrator: every heartbeat interval it
// lists the instances and reschedules each validator whose instance the
// control plane marked FAILED (its host was lost): delete it, create and
// start a new one elsewhere, wait for its agent, start the validator on
// its database (it bootstraps from its peers).
func (c *Cluster) orchestrate() {
	defer c.World.After(c.cfg.HeartbeatInterval, c.orchestrate)
	ctx, cancel := c.rpc()
	defer cancel()
	for _, v := range c.vals {
		in, err := c.compute.GetInstance(ctx, &hv.GetInstanceRequest{InstanceId: v.instance})
		if err != nil || in.GetState() != hv.InstanceState_INSTANCE_STATE_FAILED {
			continue
		}
		c.World.Trace().Add(sim.Event{Node: v.host, Kind: KindHypervisor, Name: "instance-failed", To: v.node.Name, Detail: in.GetStateReason()})
		if _, err := c.compute.DeleteInstance(ctx, &hv.DeleteInstanceRequest{InstanceId: v.instance, Force: true}); err != nil {
			c.World.Stop(fmt.Errorf("cluster: delete failed instance of %s: %w", v.node.Name, err))
			return
		}
		if err := c.place(v); err != nil {
			c.World.Stop(err)
			return
		}
	}
}

// Placement returns, per validator, the host its instance runs on ("" while
// it is not running).
func (c *Cluster) Placement() map[string]string {
	out := map[string]string{}
	for _, v := range c.vals {
		if v.running {
			out[v.node.Name] = v.host
		} else {
			out[v.node.Name] = ""
		}
	}
	return out
}

// startWatcher opens the WatchNodes stream the simulated client follows.
func (c *Cluster) startWatcher() error {
	ctx, cancel := context.WithCancel(c.ctx)
	stream, err := c.cluster.WatchNodes(ctx, &hv.WatchNodesRequest{})
	if err != nil {
		cancel()
		return fmt.Errorf("cluster: watch nodes: %w", err)
	}
	w := &watcher{cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	go func() {
		defer close(w.done)
		for {
			ev, err := stream.Recv()
			if err != nil {
				return
			}
			w.mu.Lock()
			w.seen = append(w.seen, fmt.Sprintf("%s %s %s", ev.GetType(), ev.GetNode().GetHostname(), ev.GetNode().GetStatus()))
			w.mu.Unlock()
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}()
	c.watch = w
	return nil
}

// Watched returns what the simulated client has seen on the WatchNodes
// stream so far, one "TYPE hostname status" line per event.
func (c *Cluster) Watched() []string {
	c.watch.mu.Lock()
	defer c.watch.mu.Unlock()
	return slices.Clone(c.watch.seen)
}

// AwaitWatched waits, bounded by ctx, until the watcher has seen an event
// line containing want.
func (c *Cluster) AwaitWatched(ctx context.Context, want string) error {
	for {
		for _, line := range c.Watched() {
			if strings.Contains(line, want) {
				return nil
			}
		}
		select {
		case <-c.watch.wake:
		case <-ctx.Done():
			return fmt.Errorf("the node watcher saw no %q (saw %v): %w", want, c.Watched(), ctx.Err())
		}
	}
}

// Close stops the validators, the watcher and the hypervisor.
func (c *Cluster) Close() error {
	err := c.Network.Close()
	if c.watch != nil {
		c.watch.cancel()
		<-c.watch.done
	}
	c.HV.Stop()
	return err
}
