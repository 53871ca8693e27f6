package refvm

import (
	"context"

	messengerpb "github.com/vmtestbed/vmtestbed/proto/messenger"
)

// firstWaitForEventProtocol is where VM.WaitForEvent replaced
// messenger.Messenger/Notify (protocol 42, avalanchego v1.13.3).
const firstWaitForEventProtocol = 42

// usesMessenger: announcing protocol < 42, refvm tells the node it wants a
// block through messenger.Messenger/Notify, as VMs did then. WaitForEvent
// keeps working for callers that use it anyway.
func (v *vm) usesMessenger() bool { return v.protocol() < firstWaitForEventProtocol }

// notifyBuild sends MESSAGE_BUILD_BLOCK to the node when pending says the
// mempool just became non-empty (or still holds txs after a decision). Old
// VMs coalesced notifications the same way: one per reason to build. Callers
// must not hold v.mu.
func (v *vm) notifyBuild(ctx context.Context, pending bool) {
	if !pending || !v.usesMessenger() {
		return
	}
	v.mu.Lock()
	client := v.messenger
	v.mu.Unlock()
	if client == nil {
		return
	}
	req := &messengerpb.NotifyRequest{Message: messengerpb.Message_MESSAGE_BUILD_BLOCK}
	if _, err := client.Notify(ctx, req); err != nil {
		v.logf("refvm: messenger.Notify: %v", err)
	}
}
