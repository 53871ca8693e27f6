package avalanchego

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/emptypb"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
)

// stateSync is the state-sync path: SetState(StateSyncing),
// GetOngoingSyncStateSummary, GetLastStateSummary -> ParseStateSummary ->
// StateSummaryAccept, then (unless skipped) wait for
// MESSAGE_STATE_SYNC_FINISHED (see waitEvent). With no summary
// (ERROR_NOT_FOUND) the node skips to bootstrapping.
func (s *Sequencer) stateSync(ctx context.Context) error {
	vm := s.Plugin.VM
	if _, err := s.setState(ctx, vmpb.State_STATE_STATE_SYNCING); err != nil {
		return err
	}
	ongoing, err := vm.GetOngoingSyncStateSummary(ctx, &emptypb.Empty{})
	if err != nil {
		return fmt.Errorf("get ongoing sync state summary: %w", err)
	}
	if e := ongoing.GetErr(); e != vmpb.Error_ERROR_UNSPECIFIED && e != vmpb.Error_ERROR_NOT_FOUND {
		return fmt.Errorf("get ongoing sync state summary: %s", e)
	}
	last, err := vm.GetLastStateSummary(ctx, &emptypb.Empty{})
	if err != nil {
		return fmt.Errorf("get last state summary: %w", err)
	}
	switch last.GetErr() {
	case vmpb.Error_ERROR_UNSPECIFIED:
	case vmpb.Error_ERROR_NOT_FOUND:
		return nil // no summary to sync to: bootstrap instead, as the node does
	default:
		return fmt.Errorf("get last state summary: %s", last.GetErr())
	}
	parsed, err := vm.ParseStateSummary(ctx, &vmpb.ParseStateSummaryRequest{Bytes: last.GetBytes()})
	if err != nil {
		return fmt.Errorf("parse state summary: %w", err)
	}
	if e := parsed.GetErr(); e != vmpb.Error_ERROR_UNSPECIFIED {
		return fmt.Errorf("parse state summary: %s", e)
	}
	acc, err := vm.StateSummaryAccept(ctx, &vmpb.StateSummaryAcceptRequest{Bytes: last.GetBytes()})
	if err != nil {
		return fmt.Errorf("state summary accept: %w", err)
	}
	if e := acc.GetErr(); e != vmpb.Error_ERROR_UNSPECIFIED {
		return fmt.Errorf("state summary accept: %s", e)
	}
	if acc.GetMode() == vmpb.StateSummaryAcceptResponse_MODE_SKIPPED {
		return nil
	}
	for {
		msg, err := s.waitEvent(ctx)
		if err != nil {
			return fmt.Errorf("wait for state sync to finish: %w", err)
		}
		if msg == vmpb.Message_MESSAGE_STATE_SYNC_FINISHED {
			return nil
		}
	}
}
