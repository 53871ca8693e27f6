package refvm

import (
	"context"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
)

// metrics are counters kept under the vm's mutex and exported by Gather.
type metrics struct {
	blocksBuilt, blocksAccepted, blocksRejected uint64
	txsAccepted, txsIssued                      uint64
	appRequests, unrequested, gossipDropped     uint64
	appRequestsSent, appResponses, appFailures  uint64
}

func counter(name, help string, v uint64) *dto.MetricFamily {
	return &dto.MetricFamily{
		Name:   proto.String(name),
		Help:   proto.String(help),
		Type:   dto.MetricType_COUNTER.Enum(),
		Metric: []*dto.Metric{{Counter: &dto.Counter{Value: proto.Float64(float64(v))}}},
	}
}

func gauge(name, help string, v int) *dto.MetricFamily {
	return &dto.MetricFamily{
		Name:   proto.String(name),
		Help:   proto.String(help),
		Type:   dto.MetricType_GAUGE.Enum(),
		Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(float64(v))}}},
	}
}

// Gather exports refvm's metric families.
func (v *vm) Gather(context.Context, *emptypb.Empty) (*vmpb.GatherResponse, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	m := v.metrics
	processing := 0
	if v.chain != nil {
		processing = len(v.chain.processing)
	}
	return &vmpb.GatherResponse{MetricFamilies: []*dto.MetricFamily{
		counter("refvm_blocks_built_total", "Blocks built by BuildBlock.", m.blocksBuilt),
		counter("refvm_blocks_accepted_total", "Blocks accepted.", m.blocksAccepted),
		counter("refvm_blocks_rejected_total", "Blocks rejected.", m.blocksRejected),
		counter("refvm_txs_accepted_total", "Transactions in accepted blocks.", m.txsAccepted),
		counter("refvm_txs_issued_total", "Transactions issued through the JSON-RPC API.", m.txsIssued),
		counter("refvm_app_requests_total", "App requests received.", m.appRequests),
		counter("refvm_app_requests_sent_total", "App requests sent (a ping to each newly connected peer).", m.appRequestsSent),
		counter("refvm_app_responses_total", "Answers to refvm's own app requests.", m.appResponses),
		counter("refvm_app_failures_total", "refvm's own app requests that failed (AppRequestFailed).", m.appFailures),
		counter("refvm_app_unrequested_total", "App responses and failures for requests refvm never sent.", m.unrequested),
		counter("refvm_gossip_dropped_total", "Gossiped transactions dropped as malformed or over the mempool limit.", m.gossipDropped),
		gauge("refvm_mempool_txs", "Transactions waiting in the mempool.", len(v.mempool.txs)),
		gauge("refvm_blocks_processing", "Built, parsed-and-verified blocks not yet decided.", processing),
	}}, nil
}
