package refvm

import (
	"strconv"
	"testing"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
)

// BenchmarkBuildVerifyAccept is one builder cycle over in-process gRPC:
// issueTx (HandleSimple) -> WaitForEvent -> BuildBlock -> BlockVerify ->
// SetPreference -> BlockAccept, with the state in the node's rpcdb.
func BenchmarkBuildVerifyAccept(b *testing.B) {
	tv := startVM(b, Config{})
	tv.init(nil)
	b.ResetTimer()
	for i := range b.N {
		tv.buildAccept("k", strconv.Itoa(i))
	}
}

// BenchmarkParseBlock is ParseBlock of a 16-tx block over in-process gRPC.
func BenchmarkParseBlock(b *testing.B) {
	tv := startVM(b, Config{})
	tv.init(nil)
	for i := range 16 {
		tv.issue("key"+strconv.Itoa(i), "value")
	}
	blk := tv.build()
	ctx := ctxT(b)
	req := &vmpb.ParseBlockRequest{Bytes: blk.Bytes}
	b.ResetTimer()
	for range b.N {
		if _, err := tv.vm.ParseBlock(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
