package avalanche

// capabilities are what a spec needs beyond the contract every VM keeps:
// without it the spec is skipped with a reason, never failed.
var capabilities = map[string]string{
	"AVA-HTTP-001": "chain HTTP handlers (CreateHandlers returns some)",
	"AVA-HTTP-002": "a NewHTTPHandler server (protocol 42 and later)",
	"AVA-SYN-001":  "state sync, for the summary checks (StateSyncEnabled)",
	"AVA-APP-004":  "the VM asks a newly connected peer (an AppRequest)",
	"AVA-APP-005":  "the VM asks a newly connected peer (an AppRequest)",
	"AVA-BLK-001":  workloadCap,
	"AVA-BLK-002":  workloadCap,
	"AVA-BLK-004":  workloadCap,
	"AVA-BLK-005":  workloadCap,
	"AVA-BLK-006":  workloadCap,
	"AVA-BLK-009":  workloadCap,
	"AVA-BLK-010":  "BatchedParseBlock, and " + workloadCap,
	"AVA-BLK-011":  workloadCap,
	"AVA-BLK-012":  workloadCap,
	"AVA-BLK-014":  workloadCap,
	"AVA-BLK-015":  workloadCap,
	"AVA-BLK-016":  workloadCap,
	"AVA-BLK-017":  workloadCap,
	"AVA-CON-001":  workloadCap,
	"AVA-CON-002":  workloadCap,
	"AVA-CON-003":  workloadCap,
	"AVA-CTX-001":  "verify with context (verify_with_context), and " + workloadCap,
	"AVA-DET-001":  workloadCap,
	"AVA-DET-002":  workloadCap,
	"AVA-RST-003":  workloadCap,
	"AVA-SEQ-001":  workloadCap,
	"AVA-NET-001":  netCap,
	"AVA-NET-002":  "the VM gossips issued transactions (SendAppGossip), and " + netCap,
	"AVA-NET-003":  netCap,
	"AVA-NET-004":  netCap + ", with 3 or more nodes",
	"AVA-NET-005":  "the VM asks its peers (an AppRequest), and " + netCap,
}

const workloadCap = "a workload (the suite can make the VM want a block)"

// netCap: the multi-node specs run only with --nodes 2 or more, and issue
// transactions with the Workload (or the reference VM's API).
const netCap = "--nodes 2 or more (Config.Nodes), and " + workloadCap

// Capability is what the spec needs beyond the contract every VM keeps
// ("" when it always runs); without it the spec is skipped with a reason.
func (s Spec) Capability() string { return capabilities[s.ID] }
