package hypervisor

import (
	"fmt"
	"sync/atomic"

	"google.golang.org/grpc"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// env is what one spec works with: recorded clients, its resources and a
// name source. Register builds a fresh one before each spec.
type env struct {
	rec    *recorder
	conn   *grpc.ClientConn // owned (nil when Config.Conn is used)
	res    resources
	prefix string
	seq    *atomic.Int64

	cluster hv.ClusterServiceClient
	compute hv.ComputeServiceClient
	agent   hv.AgentServiceClient
	network hv.NetworkServiceClient
	storage hv.StorageServiceClient
}

func newEnv(cfg *Config, prefix string, seq *atomic.Int64) (*env, error) {
	e := &env{prefix: prefix, seq: seq}
	base := cfg.Conn
	if base == nil {
		cc, err := dial(cfg)
		if err != nil {
			return nil, err
		}
		e.conn, base = cc, cc
	}
	e.rec = &recorder{cc: base}
	e.cluster = hv.NewClusterServiceClient(e.rec)
	e.compute = hv.NewComputeServiceClient(e.rec)
	e.agent = hv.NewAgentServiceClient(e.rec)
	e.network = hv.NewNetworkServiceClient(e.rec)
	e.storage = hv.NewStorageServiceClient(e.rec)
	return e, nil
}

func (e *env) close() error {
	if e.conn == nil {
		return nil
	}
	if err := e.conn.Close(); err != nil {
		return fmt.Errorf("close connection: %w", err)
	}
	return nil
}

// next returns a number unique within this Register call.
func (e *env) next() int64 { return e.seq.Add(1) }

// name returns a unique object name such as "conform-1a2b3c4d-1-inst-7".
func (e *env) name(kind string) string { return fmt.Sprintf("%s-%s-%d", e.prefix, kind, e.next()) }
