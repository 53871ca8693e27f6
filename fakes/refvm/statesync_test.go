package refvm

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/emptypb"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
)

func TestStateSyncOff(t *testing.T) {
	tv := startVM(t, Config{})
	tv.init(nil)
	en, err := tv.vm.StateSyncEnabled(ctxT(t), &emptypb.Empty{})
	if err != nil || en.Enabled {
		t.Fatalf("StateSyncEnabled = %v %v", en, err)
	}
	last, err := tv.vm.GetLastStateSummary(ctxT(t), &emptypb.Empty{})
	if err != nil || last.Err != vmpb.Error_ERROR_STATE_SYNC_NOT_IMPLEMENTED {
		t.Fatalf("GetLastStateSummary = %v %v", last, err)
	}
	acc, err := tv.vm.StateSummaryAccept(ctxT(t), &vmpb.StateSummaryAcceptRequest{Bytes: []byte{1}})
	if err != nil || acc.Err != vmpb.Error_ERROR_STATE_SYNC_NOT_IMPLEMENTED {
		t.Fatalf("StateSummaryAccept = %v %v", acc, err)
	}
}

// A fresh VM jumps to another VM's last accepted block and state through a summary.
func TestStateSync(t *testing.T) {
	src := startVM(t, Config{StateSync: true})
	src.init(nil)
	src.buildAccept("a", "1")
	tip := src.buildAccept("b", "2")
	ctx := ctxT(t)
	last, err := src.vm.GetLastStateSummary(ctx, &emptypb.Empty{})
	if err != nil || last.Err != 0 || last.Height != 2 {
		t.Fatalf("GetLastStateSummary = %v %v", last, err)
	}
	at, err := src.vm.GetStateSummary(ctx, &vmpb.GetStateSummaryRequest{Height: 2})
	if err != nil || !bytes.Equal(at.Id, last.Id) {
		t.Fatalf("GetStateSummary(2) = %v %v", at, err)
	}
	if old, err := src.vm.GetStateSummary(ctx, &vmpb.GetStateSummaryRequest{Height: 1}); err != nil || old.Err != vmpb.Error_ERROR_NOT_FOUND {
		t.Fatalf("GetStateSummary(1) = %v %v", old, err)
	}

	dst := startVM(t, Config{StateSync: true})
	dst.init(nil)
	if _, err := dst.vm.SetState(ctx, &vmpb.SetStateRequest{State: vmpb.State_STATE_STATE_SYNCING}); err != nil {
		t.Fatal(err)
	}
	ongoing, err := dst.vm.GetOngoingSyncStateSummary(ctx, &emptypb.Empty{})
	if err != nil || ongoing.Err != vmpb.Error_ERROR_NOT_FOUND {
		t.Fatalf("GetOngoingSyncStateSummary = %v %v", ongoing, err)
	}
	parsed, err := dst.vm.ParseStateSummary(ctx, &vmpb.ParseStateSummaryRequest{Bytes: last.Bytes})
	if err != nil || !bytes.Equal(parsed.Id, last.Id) || parsed.Height != 2 {
		t.Fatalf("ParseStateSummary = %v %v", parsed, err)
	}
	tampered := append([]byte(nil), last.Bytes...)
	tampered[len(tampered)-1] ^= 1
	_, err = dst.vm.ParseStateSummary(ctx, &vmpb.ParseStateSummaryRequest{Bytes: tampered})
	wantCode(t, err, codes.InvalidArgument, "tampered summary")
	acc, err := dst.vm.StateSummaryAccept(ctx, &vmpb.StateSummaryAcceptRequest{Bytes: last.Bytes})
	if err != nil || acc.Mode != vmpb.StateSummaryAcceptResponse_MODE_STATIC {
		t.Fatalf("StateSummaryAccept = %v %v", acc, err)
	}
	st, err := dst.vm.SetState(ctx, &vmpb.SetStateRequest{State: vmpb.State_STATE_BOOTSTRAPPING})
	if err != nil || !bytes.Equal(st.LastAcceptedId, tip.Id) || st.Height != 2 {
		t.Fatalf("after sync SetState = %v %v", st, err)
	}
	if got := dst.get("a"); got.Value != "1" {
		t.Fatalf("synced state a = %+v", got)
	}
	// The synced VM keeps building on the synced tip; an old summary is skipped.
	if blk := dst.buildAccept("c", "3"); blk.Height != 3 {
		t.Fatalf("built height %d after sync", blk.Height)
	}
	acc, err = dst.vm.StateSummaryAccept(ctx, &vmpb.StateSummaryAcceptRequest{Bytes: last.Bytes})
	if err != nil || acc.Mode != vmpb.StateSummaryAcceptResponse_MODE_SKIPPED {
		t.Fatalf("old StateSummaryAccept = %v %v", acc, err)
	}
}
