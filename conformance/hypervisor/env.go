package hypervisor

import (
	"fmt"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// env is what one spec works with: recorded clients, its resources and a
// name source. Register builds a fresh one before each spec.
type env struct {
	st     *state
	cfg    *Config
	rec    *recorder
	res    resources
	prefix string

	cluster hv.ClusterServiceClient
	compute hv.ComputeServiceClient
	agent   hv.AgentServiceClient
	network hv.NetworkServiceClient
	storage hv.StorageServiceClient
}

func newEnv(st *state) *env {
	e := &env{st: st, cfg: st.cfg, prefix: st.prefix}
	e.rec = newRecorder(st.control, st.probe)
	agentRec := e.rec
	if st.agentConn != st.control {
		// A second recorder on the agent endpoint shares the spec's call list.
		agentRec = e.rec.on(st.agentConn)
	}
	e.cluster = hv.NewClusterServiceClient(e.rec)
	e.compute = hv.NewComputeServiceClient(e.rec)
	e.agent = hv.NewAgentServiceClient(agentRec)
	e.network = hv.NewNetworkServiceClient(e.rec)
	e.storage = hv.NewStorageServiceClient(e.rec)
	return e
}

// next returns a number unique within this Register call.
func (e *env) next() int64 { return e.st.seq.Add(1) }

// name returns a unique object name such as "conform-1a2b3c4d-inst-7".
func (e *env) name(kind string) string { return fmt.Sprintf("%s-%s-%d", e.prefix, kind, e.next()) }

// need skips the spec, with the probe's reason, unless every method is
// implemented: for a precondition the spec cannot do without (such as the
// delete that cleans up what it creates) before anything is created.
func (e *env) need(methods ...string) {
	for _, m := range methods {
		e.rec.need(m)
	}
}
