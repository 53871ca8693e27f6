package avalanchego

import (
	"context"
	"errors"
	"fmt"
	"time"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
)

// Events are the messages of the WaitForEvent loop. The channel is closed
// when the loop ends: Stop, or the plugin's end. A failed WaitForEvent is
// asked again after 100 ms, as AvalancheGo does; LoopErr says why the last
// one failed. An event
// not received before the preference or state changes is dropped, as the
// node re-asks the VM then. After an event is received the loop asks again
// only once the preference or state changes (as AvalancheGo does).
func (s *Sequencer) Events() <-chan vmpb.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.events
}

// LoopErr is the last WaitForEvent error, or nil.
func (s *Sequencer) LoopErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loopErr
}

func (s *Sequencer) startLoop() {
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.events = make(chan vmpb.Message)
	s.loopCancel = cancel
	s.loopDone = make(chan struct{})
	events, done := s.events, s.loopDone
	s.mu.Unlock()
	go func() {
		defer close(done)
		defer close(events)
		for s.waitOnce(ctx, events) {
		}
	}()
}

// waitOnce issues one WaitForEvent and delivers its message; false ends the loop.
func (s *Sequencer) waitOnce(loop context.Context, events chan<- vmpb.Message) bool {
	if UsesMessenger(s.Protocol) {
		return s.forwardOnce(loop, events)
	}
	select {
	case <-s.stopping: // Stop began: the node asks no more
		<-loop.Done()
		return false
	default:
	}
	gen, cancel := context.WithCancel(loop)
	defer cancel()
	s.mu.Lock()
	s.genCancel = cancel
	s.mu.Unlock()
	msg, err := s.waitEvent(gen)
	switch {
	case loop.Err() != nil:
		return false
	case gen.Err() != nil: // preference or state changed: ask again
		return true
	case err != nil:
		s.mu.Lock()
		s.loopErr = s.Plugin.Diagnose("WaitForEvent", err)
		s.mu.Unlock()
		return s.retryAfter(loop)
	}
	held := s.hold()
	select {
	case events <- msg:
		s.release(held)
		// Like AvalancheGo's NotificationForwarder: once the engine has the
		// event, subscribe again only after the preference or state changed
		// (a block was accepted), not while the VM still has the same
		// mempool and would answer BUILD_BLOCK at once.
		<-gen.Done()
	case <-gen.Done(): // stale: the preference changed before anyone took it
		s.release(held)
	}
	return loop.Err() == nil
}

// retryAfter waits waitRetry before the next WaitForEvent, as AvalancheGo's
// NotificationForwarder does after an error; a plugin that is gone ends the
// loop instead.
func (s *Sequencer) retryAfter(loop context.Context) bool {
	t := time.NewTimer(waitRetry)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.Plugin.Exited():
		return false
	case <-loop.Done():
		return false
	}
}

// EventReady blocks until the loop holds an event nobody has taken yet (the
// VM answered WaitForEvent), or ctx ends. Scenarios use it to finish a step
// only once the VM has reacted to it.
func (s *Sequencer) EventReady(ctx context.Context) error {
	s.mu.Lock()
	if s.heldCh == nil {
		s.heldCh = make(chan struct{})
	}
	ch := s.heldCh
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for the VM's event: %w", ctx.Err())
	}
}

// hold marks an event as held by the loop, waking EventReady.
func (s *Sequencer) hold() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.heldCh == nil {
		s.heldCh = make(chan struct{})
	}
	ch := s.heldCh
	close(ch)
	return ch
}

// release ends the hold: later EventReady calls wait for the next event.
func (s *Sequencer) release(held chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.heldCh == held {
		s.heldCh = nil
	}
}

// reissue cancels the pending WaitForEvent so the loop asks again.
func (s *Sequencer) reissue() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.genCancel != nil {
		s.genCancel()
	}
}

func (s *Sequencer) stopLoop() {
	s.mu.Lock()
	cancel, done := s.loopCancel, s.loopDone
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// ErrLoopEnded: the WaitForEvent loop is not running.
var ErrLoopEnded = errors.New("wait-for-event loop ended")

// BuildAndAccept is step 5 for the builder: wait for BUILD_BLOCK ->
// BuildBlock -> BlockVerify -> SetPreference(new block) -> ParseBlock(own
// bytes) -> BlockAccept. It checks that the block's parent is the last
// accepted block, its height is one more, and ParseBlock agrees on the id.
func (s *Sequencer) BuildAndAccept(ctx context.Context) (BlockInfo, error) {
	events := s.Events()
	if events == nil {
		return BlockInfo{}, errors.New("build and accept: sequencer not started")
	}
	for {
		select {
		case msg, ok := <-events:
			if !ok {
				return BlockInfo{}, fmt.Errorf("build and accept: %w: %v", ErrLoopEnded, s.LoopErr())
			}
			if msg == vmpb.Message_MESSAGE_BUILD_BLOCK {
				return s.buildAndAccept(ctx)
			}
		case <-ctx.Done():
			return BlockInfo{}, fmt.Errorf("build and accept: waiting for BUILD_BLOCK: %w", ctx.Err())
		}
	}
}

func (s *Sequencer) buildAndAccept(ctx context.Context) (BlockInfo, error) {
	vm := s.Plugin.VM
	parent := s.LastAccepted()
	built, err := vm.BuildBlock(ctx, BuildRequest(parent))
	if err != nil {
		return BlockInfo{}, s.Plugin.Diagnose("BuildBlock", err)
	}
	blk, err := ParseBlockInfo("build block", built.GetId(), built.GetParentId(), built.GetHeight(), built.GetTimestamp(), built.GetBytes())
	if err != nil {
		return BlockInfo{}, err
	}
	if blk.ParentID != parent.ID || blk.Height != parent.Height+1 {
		return BlockInfo{}, fmt.Errorf("build block: block %s at height %d has parent %s, want parent %s at height %d",
			blk.ID, blk.Height, blk.ParentID, parent.ID, parent.Height)
	}
	s.blocks.put(blk)
	if err := s.verifyPreferAccept(ctx, blk, true); err != nil {
		return BlockInfo{}, err
	}
	return blk, nil
}

// BuildRequest is what proposervm asks the inner VM for when it builds on
// parent: a block on the genesis (the pre-fork parent) comes without
// p_chain_height, a block on a later parent with the P-chain height the
// node is at.
func BuildRequest(parent BlockInfo) *vmpb.BuildBlockRequest {
	if parent.Height == 0 {
		return &vmpb.BuildBlockRequest{}
	}
	h := PChainHeight
	return &vmpb.BuildBlockRequest{PChainHeight: &h}
}

// AcceptPeerBlock is step 5 for a block a peer built: ParseBlock (answered
// from the node's cache when the same bytes were parsed before) ->
// BlockVerify -> SetPreference -> BlockAccept. The block must extend the
// last accepted block.
func (s *Sequencer) AcceptPeerBlock(ctx context.Context, b []byte) (BlockInfo, error) {
	blk, err := s.ParseBlock(ctx, b)
	if err != nil {
		return BlockInfo{}, err
	}
	if parent := s.LastAccepted(); blk.ParentID != parent.ID || blk.Height != parent.Height+1 {
		return BlockInfo{}, fmt.Errorf("peer block %s at height %d has parent %s, want parent %s at height %d",
			blk.ID, blk.Height, blk.ParentID, parent.ID, parent.Height)
	}
	return blk, s.verifyPreferAccept(ctx, blk, false)
}

// ParseBlock parses b as the node does: from its cache when the VM parsed
// the same bytes before, else through VM.ParseBlock.
func (s *Sequencer) ParseBlock(ctx context.Context, b []byte) (BlockInfo, error) {
	if blk, ok := s.blocks.lookupBytes(b); ok {
		return blk, nil
	}
	r, err := s.Plugin.VM.ParseBlock(ctx, &vmpb.ParseBlockRequest{Bytes: b})
	if err != nil {
		return BlockInfo{}, s.Plugin.Diagnose("ParseBlock", err)
	}
	blk, err := ParseBlockInfo("parse block", r.GetId(), r.GetParentId(), r.GetHeight(), r.GetTimestamp(), b)
	if err != nil {
		return BlockInfo{}, err
	}
	s.blocks.parsed(blk)
	return blk, nil
}

// verifyPreferAccept: BlockVerify -> SetPreference -> (own block: the
// ParseBlock of its bytes the real node makes, which must agree) ->
// BlockAccept, and the block becomes last accepted.
func (s *Sequencer) verifyPreferAccept(ctx context.Context, blk BlockInfo, own bool) error {
	vm := s.Plugin.VM
	if _, err := vm.BlockVerify(ctx, &vmpb.BlockVerifyRequest{Bytes: blk.Bytes}); err != nil {
		return s.Plugin.Diagnose("BlockVerify("+blk.ID.String()+")", err)
	}
	if _, err := vm.SetPreference(ctx, &vmpb.SetPreferenceRequest{Id: blk.ID[:]}); err != nil {
		return s.Plugin.Diagnose("SetPreference("+blk.ID.String()+")", err)
	}
	s.reissue()
	if own {
		parsed, err := s.ParseBlock(ctx, blk.Bytes)
		if err != nil {
			return fmt.Errorf("parse own block %s: %w", blk.ID, err)
		}
		if parsed.ID != blk.ID {
			return fmt.Errorf("parse own block: ParseBlock gave id %s for the bytes of block %s", parsed.ID, blk.ID)
		}
	}
	if _, err := vm.BlockAccept(ctx, &vmpb.BlockAcceptRequest{Id: blk.ID[:]}); err != nil {
		return s.Plugin.Diagnose("BlockAccept("+blk.ID.String()+")", err)
	}
	s.mu.Lock()
	s.lastAccepted = blk
	s.mu.Unlock()
	return nil
}

// forwardOnce hands the next Messenger notification (protocol < 42) to
// Events. A notification is sent once and never repeated, so unlike a
// WaitForEvent answer it is kept until someone takes it, across preference
// changes; false ends the loop.
func (s *Sequencer) forwardOnce(loop context.Context, events chan<- vmpb.Message) bool {
	var msg vmpb.Message
	select {
	case m, ok := <-s.Node.Notifications():
		if !ok {
			s.mu.Lock()
			s.loopErr = errors.New("wait for event: the node closed")
			s.mu.Unlock()
			return false
		}
		msg = m
	case <-loop.Done():
		return false
	}
	held := s.hold()
	defer s.release(held)
	select {
	case events <- msg:
		return true
	case <-loop.Done():
		return false
	}
}
