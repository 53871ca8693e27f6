package harness

import (
	"context"
	"fmt"
	"slices"

	"github.com/ava-labs/avalanchego/ids"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/sim"
)

// Engine messages between nodes (kinds in the trace).
const (
	msgPushQuery   = "push-query"
	msgChits       = "chits"
	msgGetFrontier = "get-accepted-frontier"
	msgFrontier    = "accepted-frontier"
	msgGetAnc      = "get-ancestors"
	msgAncestors   = "ancestors"
)

// propose is the builder's path: WaitForEvent -> BuildBlock -> BlockVerify
// -> SetPreference -> ParseBlock of its own bytes, then the block is polled.
func (s *SimNode) propose() {
	if s.state != stateNormal {
		s.note("build skipped", "node is "+s.state)
		return
	}
	if s.sb != nil || s.catching != "" {
		s.wantBuild = true // after the pending decision
		return
	}
	vm := s.plugin.VM
	var msg vmpb.Message
	if err := s.call("vm.VM/WaitForEvent", "", func(ctx context.Context) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, s.net.cfg.EventWait)
		defer cancel()
		r, err := vm.WaitForEvent(ctx, &emptypb.Empty{})
		msg = r.GetMessage()
		return msg.String(), err
	}); err != nil || msg != vmpb.Message_MESSAGE_BUILD_BLOCK {
		s.note("build skipped", "the VM has nothing to build")
		return
	}
	var blk avalanchego.BlockInfo
	err := s.call("vm.VM/BuildBlock", "", func(ctx context.Context) (string, error) {
		r, err := vm.BuildBlock(ctx, avalanchego.BuildRequest(s.la))
		if err != nil {
			return "", err
		}
		blk, err = avalanchego.ParseBlockInfo("build block", r.GetId(), r.GetParentId(), r.GetHeight(), r.GetTimestamp(), r.GetBytes())
		return fmt.Sprintf("%s at %d", shortID(blk.ID), blk.Height), err
	})
	if err != nil {
		s.fail(s.plugin.Diagnose("BuildBlock", err))
		return
	}
	s.built = append(s.built, blk)
	if blk.ParentID != s.la.ID || blk.Height != s.la.Height+1 {
		s.fail(fmt.Errorf("BuildBlock: block %s at height %d has parent %s, want %s at height %d", blk.ID, blk.Height, blk.ParentID, s.la.ID, s.la.Height+1))
		return
	}
	if err := s.verify(blk); err != nil {
		s.fail(err)
		return
	}
	s.prefer(blk.ID)
	parsed, ok := s.parse(blk.Bytes)
	if !ok || parsed.ID != blk.ID {
		s.fail(fmt.Errorf("ParseBlock of its own block %s gave %s", blk.ID, parsed.ID))
		return
	}
	s.addCandidate(blk)
	s.startPoll()
}

// parse is ParseBlock through the node's cache of parsed bytes.
func (s *SimNode) parse(b []byte) (avalanchego.BlockInfo, bool) {
	if id, ok := s.byBytes[string(b)]; ok {
		if blk, ok := s.known[id]; ok {
			return blk, true
		}
	}
	if s.bad[string(b)] {
		return avalanchego.BlockInfo{}, false
	}
	var blk avalanchego.BlockInfo
	err := s.call("vm.VM/ParseBlock", fmt.Sprintf("%dB", len(b)), func(ctx context.Context) (string, error) {
		r, err := s.plugin.VM.ParseBlock(ctx, &vmpb.ParseBlockRequest{Bytes: b})
		if err != nil {
			return "", err
		}
		blk, err = avalanchego.ParseBlockInfo("parse block", r.GetId(), r.GetParentId(), r.GetHeight(), r.GetTimestamp(), b)
		return fmt.Sprintf("%s at %d", shortID(blk.ID), blk.Height), err
	})
	if err != nil {
		s.bad[string(b)] = true
		return avalanchego.BlockInfo{}, false
	}
	s.byBytes[string(b)] = blk.ID
	return blk, true
}

func (s *SimNode) verify(blk avalanchego.BlockInfo) error {
	return s.call("vm.VM/BlockVerify", shortID(blk.ID), func(ctx context.Context) (string, error) {
		_, err := s.plugin.VM.BlockVerify(ctx, &vmpb.BlockVerifyRequest{Bytes: blk.Bytes})
		return "", err
	})
}

func (s *SimNode) prefer(id ids.ID) {
	if s.vmPref == id {
		return
	}
	if err := s.call("vm.VM/SetPreference", shortID(id), func(ctx context.Context) (string, error) {
		_, err := s.plugin.VM.SetPreference(ctx, &vmpb.SetPreferenceRequest{Id: id[:]})
		return "", err
	}); err != nil {
		s.fail(s.plugin.Diagnose("SetPreference", err))
		return
	}
	s.vmPref = id
}

// learn is the follower's path for a peer's block bytes: ParseBlock, and if
// the block extends the last accepted one, BlockVerify and (the first such
// block) SetPreference. It reports the block when it competes at la+1.
func (s *SimNode) learn(b []byte) (avalanchego.BlockInfo, bool) {
	if len(b) == 0 {
		return avalanchego.BlockInfo{}, false
	}
	blk, ok := s.parse(b)
	if !ok {
		return blk, false
	}
	if _, ok := s.known[blk.ID]; ok {
		return blk, true
	}
	if blk.ParentID != s.la.ID || blk.Height != s.la.Height+1 {
		return blk, false
	}
	if err := s.verify(blk); err != nil {
		s.bad[string(b)] = true
		return blk, false
	}
	first := s.sb == nil
	s.addCandidate(blk)
	if first {
		s.prefer(blk.ID)
	}
	return blk, true
}

func (s *SimNode) addCandidate(blk avalanchego.BlockInfo) {
	s.known[blk.ID] = blk
	s.addChoice(blk.ID)
	if s.poll == nil && s.state == stateNormal {
		s.net.World.After(0, func() { s.deliver(s.startPoll) })
	}
}

// addChoice makes id a choice of the snowball instance at la+1, starting
// the instance with it when there is none.
func (s *SimNode) addChoice(id ids.ID) {
	if s.sb == nil {
		s.sb = newSnowball(s.net.cfg.Snow, id)
	} else {
		s.sb.add(id)
	}
}

// startPoll samples K validators and asks each for its preference at la+1,
// pushing its own preferred block.
func (s *SimNode) startPoll() {
	if s.poll != nil || s.sb == nil || s.state != stateNormal || s.catching != "" {
		return
	}
	n := s.net
	s.polls++
	p := &poll{id: s.polls, height: s.la.Height + 1, waiting: map[string]bool{}, votes: map[ids.ID]int{}}
	s.poll = p
	pref := s.known[s.sb.pref]
	for _, i := range sample(n.World.Rand(), len(n.nodes), n.cfg.Snow.K) {
		peer := n.nodes[i]
		if peer == s {
			p.votes[s.sb.pref]++
			continue
		}
		p.waiting[peer.Name] = true
		la := s.la
		s.send(peer, msgPushQuery, fmt.Sprintf("poll %d height %d %s", p.id, p.height, shortID(pref.ID)), func() {
			peer.onQuery(s, p.id, p.height, pref.Bytes, la)
		})
	}
	if len(p.waiting) == 0 {
		s.finishPoll(p)
		return
	}
	p.timer = n.World.After(n.cfg.QueryTimeout, func() {
		p.timer = nil
		s.deliver(func() { s.finishPoll(p) })
	})
}

// onQuery answers a push query with the node's preference at that height
// (its accepted block there, or its preferred candidate), after learning
// the pushed block.
func (s *SimNode) onQuery(from *SimNode, pollID uint32, height uint64, b []byte, peerLA avalanchego.BlockInfo) {
	switch {
	case height == s.la.Height+1 && s.state == stateNormal:
		s.learn(b)
	case s.state == stateBootstrapping && len(b) > 0:
		s.pushedWhileBootstrapping = append(s.pushedWhileBootstrapping, b)
	}
	var vote avalanchego.BlockInfo
	switch {
	case height <= s.la.Height:
		vote = s.accepted[height]
	case height == s.la.Height+1 && s.sb != nil:
		vote = s.known[s.sb.pref]
	}
	la := s.la
	s.send(from, msgChits, fmt.Sprintf("poll %d vote %s", pollID, shortID(vote.ID)), func() {
		from.onChits(s, pollID, height, vote, la)
	})
	s.maybeCatchUp(from, peerLA)
}

func (s *SimNode) onChits(from *SimNode, pollID uint32, height uint64, vote avalanchego.BlockInfo, peerLA avalanchego.BlockInfo) {
	p := s.poll
	if p != nil && p.id == pollID && p.waiting[from.Name] {
		delete(p.waiting, from.Name)
		if peerLA.Height > s.la.Height {
			p.ahead, p.aheadLA = from, peerLA
		}
		if vote.ID != ids.Empty && height == s.la.Height+1 {
			if _, ok := s.known[vote.ID]; ok {
				p.votes[vote.ID]++
			} else if blk, ok := s.learn(vote.Bytes); ok && blk.ID == vote.ID {
				p.votes[vote.ID]++
			}
		}
		if len(p.waiting) == 0 {
			s.finishPoll(p)
		}
	}
	s.maybeCatchUp(from, peerLA)
}

func (s *SimNode) finishPoll(p *poll) {
	if s.poll != p {
		return
	}
	s.poll = nil
	if p.timer != nil {
		p.timer.Stop()
	}
	if !s.up {
		return
	}
	if p.height == s.la.Height+1 && s.sb != nil {
		ok, _ := s.sb.record(p.votes)
		if !ok && p.ahead != nil {
			// No quorum, and a voter has accepted this height already:
			// fetch what it accepted instead of polling on.
			s.startCatchUp(p.ahead, p.aheadLA)
			return
		}
		if s.sb.finalized {
			s.decide(s.known[s.sb.pref])
		} else {
			s.prefer(s.sb.pref)
		}
	}
	if s.up && s.sb != nil {
		s.net.World.After(0, func() { s.deliver(s.startPoll) })
	}
}

// decide makes blk the accepted block at its height: SetPreference if
// needed, BlockAccept, then BlockReject of every competitor.
func (s *SimNode) decide(blk avalanchego.BlockInfo) {
	s.prefer(blk.ID)
	if !s.acceptBlock(blk) {
		return
	}
	s.afterDecision()
}

// acceptBlock accepts blk (which extends la) and rejects the other
// candidates at its height, checking the invariants.
func (s *SimNode) acceptBlock(blk avalanchego.BlockInfo) bool {
	n := s.net
	if err := s.call("vm.VM/BlockAccept", fmt.Sprintf("%s at %d", shortID(blk.ID), blk.Height), func(ctx context.Context) (string, error) {
		_, err := s.plugin.VM.BlockAccept(ctx, &vmpb.BlockAcceptRequest{Id: blk.ID[:]})
		return "", err
	}); err != nil {
		s.fail(s.plugin.Diagnose("BlockAccept", err))
		return false
	}
	prev := s.la
	s.la = blk
	s.accepted[blk.Height] = blk
	s.trace().Add(sim.Event{Node: s.Name, Kind: sim.KindDecide, Name: "accept", Detail: fmt.Sprintf("%s at %d", shortID(blk.ID), blk.Height)})
	var losers []avalanchego.BlockInfo
	for _, id := range s.candidateOrder() {
		if c := s.known[id]; id != blk.ID && c.Height <= blk.Height {
			losers = append(losers, c)
		}
	}
	for _, c := range losers {
		if err := s.call("vm.VM/BlockReject", shortID(c.ID), func(ctx context.Context) (string, error) {
			_, err := s.plugin.VM.BlockReject(ctx, &vmpb.BlockRejectRequest{Id: c.ID[:]})
			return "", err
		}); err != nil {
			s.fail(s.plugin.Diagnose("BlockReject", err))
			return false
		}
		s.trace().Add(sim.Event{Node: s.Name, Kind: sim.KindDecide, Name: "reject", Detail: fmt.Sprintf("%s at %d", shortID(c.ID), c.Height)})
		n.checkRejected(s, c)
	}
	var vmID ids.ID
	if err := s.call("vm.VM/GetBlockIDAtHeight", fmt.Sprint(blk.Height), func(ctx context.Context) (string, error) {
		r, err := s.plugin.VM.GetBlockIDAtHeight(ctx, &vmpb.GetBlockIDAtHeightRequest{Height: blk.Height})
		if err != nil {
			return "", err
		}
		copy(vmID[:], r.GetBlkId())
		return shortID(vmID) + " " + r.GetErr().String(), nil
	}); err != nil {
		s.fail(s.plugin.Diagnose("GetBlockIDAtHeight", err))
		return false
	}
	n.checkAccepted(s, prev, blk, vmID)
	s.known = map[ids.ID]avalanchego.BlockInfo{}
	s.sb = nil
	if s.vmPref != blk.ID {
		s.vmPref = ids.Empty
	}
	return true
}

// candidateOrder is the known candidates in the order the snowball learnt them.
func (s *SimNode) candidateOrder() []ids.ID {
	if s.sb == nil {
		return nil
	}
	return slices.Clone(s.sb.choices)
}

func (s *SimNode) afterDecision() {
	if s.wantBuild {
		s.wantBuild = false
		s.net.World.After(0, func() { s.deliver(s.propose) })
	}
}

// frontierTries bounds how often an unanswered frontier question is asked again.
const frontierTries = 5

// askFrontier asks peer for its last accepted block (AvalancheGo's
// GetAcceptedFrontier), as a bootstrapping or reconnected node does; an
// unanswered question is asked again after QueryTimeout, a few times.
func (s *SimNode) askFrontier(peer *SimNode) {
	if s.state == stateBootstrapping && s.frontierWait != nil {
		s.frontierWait[peer.Name] = true
	}
	s.askFrontierTry(peer, 1)
}

func (s *SimNode) askFrontierTry(peer *SimNode, try int) {
	if !s.initialized() {
		return
	}
	if old := s.frontierAsk[peer.Name]; old != nil {
		old.Stop()
	}
	var retry *sim.Item
	retry = s.net.World.After(s.net.cfg.QueryTimeout, func() {
		if s.frontierAsk[peer.Name] != retry {
			return
		}
		delete(s.frontierAsk, peer.Name)
		if try < frontierTries && s.connected[peer.Name] && s.initialized() {
			s.askFrontierTry(peer, try+1)
			return
		}
		delete(s.frontierWait, peer.Name)
		s.maybeFinishBootstrap()
	})
	s.frontierAsk[peer.Name] = retry
	s.send(peer, msgGetFrontier, fmt.Sprintf("try %d", try), func() {
		la := peer.la
		peer.send(s, msgFrontier, fmt.Sprintf("%s at %d", shortID(la.ID), la.Height), func() { s.onFrontier(peer, la) })
	})
}

func (s *SimNode) onFrontier(from *SimNode, la avalanchego.BlockInfo) {
	if t := s.frontierAsk[from.Name]; t != nil {
		t.Stop()
		delete(s.frontierAsk, from.Name)
	}
	delete(s.frontierWait, from.Name)
	s.maybeCatchUp(from, la)
	s.maybeFinishBootstrap()
}

func (s *SimNode) maybeFinishBootstrap() {
	if s.state == stateBootstrapping && len(s.frontierWait) == 0 && s.catching == "" {
		s.finishBootstrap()
	}
}

// finishBootstrap: SetPreference(last accepted), SetState(NormalOp).
func (s *SimNode) finishBootstrap() {
	s.vmPref = ids.Empty
	s.prefer(s.la.ID)
	if err := s.setState(vmpb.State_STATE_NORMAL_OP); err != nil {
		s.fail(err)
		return
	}
	s.state = stateNormal
	// Blocks pushed while bootstrapping, and the peers' frontiers once
	// more: a block decided while this node bootstrapped is not missed.
	pushed := s.pushedWhileBootstrapping
	s.pushedWhileBootstrapping = nil
	for _, b := range pushed {
		s.learn(b)
	}
	for _, p := range s.net.nodes {
		if s.connected[p.Name] {
			s.askFrontier(p)
		}
	}
	s.scheduleGossip()
	s.afterDecision()
}

// scheduleGossip arms the next accepted-frontier gossip: like AvalancheGo's
// consensus-accepted-frontier-gossip-frequency, a node in normal operation
// sends its last accepted block to a random connected peer every
// FrontierGossip, so a peer that missed a decision learns of it even when
// no block is being decided.
func (s *SimNode) scheduleGossip() {
	if s.gossipT != nil {
		s.gossipT.Stop()
	}
	s.gossipT = s.net.World.After(s.net.cfg.FrontierGossip, func() {
		s.gossipT = nil
		if !s.up || s.state != stateNormal {
			return
		}
		var peers []*SimNode
		for _, p := range s.net.nodes {
			if s.connected[p.Name] {
				peers = append(peers, p)
			}
		}
		if len(peers) > 0 {
			p := peers[s.net.World.Rand().IntN(len(peers))]
			la := s.la
			s.send(p, msgFrontier, fmt.Sprintf("gossip %s at %d", shortID(la.ID), la.Height), func() { p.onFrontier(s, la) })
		}
		s.scheduleGossip()
	})
}

// maybeCatchUp fetches the blocks a peer accepted beyond this node's last
// accepted block, as AvalancheGo's bootstrapper does: GetAncestors on the
// peer's plugin, then ParseBlock, BlockVerify and BlockAccept here, oldest
// first.
func (s *SimNode) maybeCatchUp(peer *SimNode, peerLA avalanchego.BlockInfo) {
	if !s.initialized() || s.catching != "" || peerLA.Height <= s.la.Height {
		return
	}
	if peerLA.Height == s.la.Height+1 && s.sb != nil && s.state == stateNormal {
		return // the polls at this height will carry it (finishPoll catches up if they cannot)
	}
	s.startCatchUp(peer, peerLA)
}

func (s *SimNode) startCatchUp(peer *SimNode, peerLA avalanchego.BlockInfo) {
	if s.catching != "" {
		return
	}
	s.catching = peer.Name
	s.fetched = nil
	if s.poll != nil {
		if s.poll.timer != nil {
			s.poll.timer.Stop()
		}
		s.poll = nil
	}
	s.requestAncestors(peer, peerLA.ID)
}

func (s *SimNode) requestAncestors(peer *SimNode, id ids.ID) {
	n := s.net
	if s.catchT != nil {
		s.catchT.Stop()
	}
	s.catchT = n.World.After(n.cfg.QueryTimeout, func() {
		s.catchT = nil
		s.deliver(func() { s.endCatchUp("no answer from " + peer.Name) })
	})
	s.send(peer, msgGetAnc, shortID(id), func() {
		var blks [][]byte
		err := peer.call("vm.VM/GetAncestors", shortID(id), func(ctx context.Context) (string, error) {
			r, err := peer.plugin.VM.GetAncestors(ctx, &vmpb.GetAncestorsRequest{BlkId: id[:], MaxBlocksNum: int32(n.cfg.MaxAncestors), MaxBlocksSize: 2 << 20})
			blks = r.GetBlksBytes()
			return fmt.Sprintf("%d blocks", len(blks)), err
		})
		if err != nil {
			return // the asker times out
		}
		peer.send(s, msgAncestors, fmt.Sprintf("%d blocks", len(blks)), func() { s.onAncestors(peer, blks) })
	})
}

func (s *SimNode) onAncestors(from *SimNode, blks [][]byte) {
	if s.catching != from.Name {
		return
	}
	if s.catchT != nil {
		s.catchT.Stop()
		s.catchT = nil
	}
	for _, b := range blks {
		blk, ok := s.parse(b)
		if !ok {
			s.endCatchUp("unparsable ancestor")
			return
		}
		if len(s.fetched) > 0 && s.fetched[len(s.fetched)-1].ParentID != blk.ID {
			s.endCatchUp("ancestors out of order")
			return
		}
		s.fetched = append(s.fetched, blk)
		if blk.Height <= s.la.Height+1 {
			break
		}
	}
	if len(s.fetched) == 0 {
		s.endCatchUp("no ancestors")
		return
	}
	oldest := s.fetched[len(s.fetched)-1]
	if oldest.Height > s.la.Height+1 {
		s.requestAncestors(from, oldest.ParentID)
		return
	}
	for i := len(s.fetched) - 1; i >= 0; i-- {
		blk := s.fetched[i]
		if blk.Height <= s.la.Height {
			continue
		}
		if blk.ParentID != s.la.ID {
			s.endCatchUp(fmt.Sprintf("fetched block %s at %d does not extend %s", blk.ID, blk.Height, s.la.ID))
			return
		}
		if err := s.verify(blk); err != nil {
			s.endCatchUp("fetched block failed to verify")
			return
		}
		if _, ok := s.known[blk.ID]; !ok {
			s.addChoice(blk.ID)
			s.known[blk.ID] = blk
		}
		if !s.acceptBlock(blk) {
			return
		}
	}
	s.endCatchUp("")
}

func (s *SimNode) endCatchUp(why string) {
	peer := s.net.Node(s.catching)
	if why != "" {
		s.note("catch-up failed", why)
		// Ask again later: the peer may have been unreachable for a moment.
		s.net.World.After(s.net.cfg.QueryTimeout, func() {
			s.deliver(func() {
				if peer != nil && s.connected[peer.Name] && s.catching == "" {
					s.askFrontierTry(peer, 1)
				}
			})
		})
	}
	s.catching, s.fetched = "", nil
	if s.state == stateBootstrapping {
		s.maybeFinishBootstrap()
		return
	}
	if s.state == stateNormal {
		if s.sb != nil { // still competing blocks at la+1: poll on
			s.prefer(s.sb.pref)
			s.net.World.After(0, func() { s.deliver(s.startPoll) })
			return
		}
		s.prefer(s.la.ID)
		s.afterDecision()
	}
}

// appNet carries the plugin's AppSender calls over the world's network. It
// is called inside the plugin's AppSender call, while the node waits for the
// plugin call it made (so inside that call's span); a call outside any span
// is background work of the plugin and is queued instead.
type appNet struct{ s *SimNode }

func (a appNet) do(name, detail string, f func()) {
	s := a.s
	run := func(background bool) {
		sp := s.trace().Begin(sim.Event{Node: s.Name, Kind: sim.KindCall, Name: name, From: "plugin", To: "node", Background: background, Detail: detail})
		f()
		sp.End("", nil)
	}
	if s.trace().Current(s.Name) == 0 {
		s.net.World.After(0, func() { run(true) })
		return
	}
	run(false)
}

func (a appNet) peers(nodes []ids.NodeID) []*SimNode {
	var out []*SimNode
	for _, id := range nodes {
		if p, ok := a.s.net.byID[id]; ok {
			out = append(out, p)
		}
	}
	return out
}

// gossipTargets picks the peers of a gossip as AvalancheGo's sender does:
// the listed nodes, then Validators sampled connected validators, then
// Peers more sampled connected nodes (every node here is a validator, so
// NonValidators picks none), with the world's source.
func (a appNet) gossipTargets(to avalanchego.GossipTargets) []*SimNode {
	s := a.s
	chosen := map[string]bool{s.Name: true}
	var out []*SimNode
	for _, p := range a.peers(to.NodeIDs) {
		if !chosen[p.Name] {
			chosen[p.Name] = true
			out = append(out, p)
		}
	}
	pick := func(n uint64) {
		var pool []*SimNode
		for _, p := range s.net.nodes {
			if s.connected[p.Name] && !chosen[p.Name] {
				pool = append(pool, p)
			}
		}
		for _, i := range sample(s.net.World.Rand(), len(pool), int(min(n, uint64(len(pool))))) {
			chosen[pool[i].Name] = true
			out = append(out, pool[i])
		}
	}
	if to.Validators > 0 {
		pick(to.Validators)
	}
	if to.Peers > 0 {
		pick(to.Peers)
	}
	return out
}

func (a appNet) SendAppGossip(to avalanchego.GossipTargets, msg []byte) {
	a.do("appsender.AppSender/SendAppGossip", fmt.Sprintf("%dB validators=%d peers=%d", len(msg), to.Validators, to.Peers), func() {
		s := a.s
		for _, p := range a.gossipTargets(to) {
			s.send(p, "app-gossip", fmt.Sprintf("%dB", len(msg)), func() {
				if !p.initialized() {
					return
				}
				_ = p.call("vm.VM/AppGossip", s.Name, func(ctx context.Context) (string, error) {
					_, err := p.plugin.VM.AppGossip(ctx, &vmpb.AppGossipMsg{NodeId: s.ID.Bytes(), Msg: msg})
					return "", err
				})
			})
		}
	})
}

func (a appNet) SendAppRequest(nodes []ids.NodeID, reqID uint32, msg []byte) {
	a.do("appsender.AppSender/SendAppRequest", fmt.Sprintf("request %d %dB", reqID, len(msg)), func() {
		s := a.s
		n := s.net
		for _, p := range a.peers(nodes) {
			key := appKey{p.ID, reqID}
			if p != s && !s.connected[p.Name] {
				n.World.After(0, func() { s.deliver(func() { s.appFailed(p, reqID, avalanchego.ErrAppTimeout) }) })
				continue
			}
			s.appReqs[key] = n.World.After(n.cfg.AppRequestTimeout, func() {
				s.deliver(func() { s.appFailed(p, reqID, avalanchego.ErrAppTimeout) })
			})
			deadline := n.World.Now().Add(n.cfg.AppRequestTimeout)
			s.send(p, "app-request", fmt.Sprintf("request %d", reqID), func() {
				if !p.initialized() {
					return
				}
				_ = p.call("vm.VM/AppRequest", fmt.Sprintf("%s request %d", s.Name, reqID), func(ctx context.Context) (string, error) {
					_, err := p.plugin.VM.AppRequest(ctx, &vmpb.AppRequestMsg{NodeId: s.ID.Bytes(), RequestId: reqID, Deadline: timestamppb.New(deadline), Request: msg})
					return "", err
				})
			})
		}
	})
}

func (a appNet) SendAppResponse(to ids.NodeID, reqID uint32, msg []byte) {
	a.do("appsender.AppSender/SendAppResponse", fmt.Sprintf("request %d %dB", reqID, len(msg)), func() {
		s := a.s
		p, ok := s.net.byID[to]
		if !ok {
			return
		}
		s.send(p, "app-response", fmt.Sprintf("request %d", reqID), func() { p.appAnswered(s, reqID, msg, nil) })
	})
}

func (a appNet) SendAppError(to ids.NodeID, reqID uint32, code int32, message string) {
	a.do("appsender.AppSender/SendAppError", fmt.Sprintf("request %d code %d", reqID, code), func() {
		s := a.s
		p, ok := s.net.byID[to]
		if !ok {
			return
		}
		e := &avalanchego.AppError{Code: code, Message: message}
		s.send(p, "app-error", fmt.Sprintf("request %d code %d", reqID, code), func() { p.appAnswered(s, reqID, nil, e) })
	})
}

// appAnswered delivers a peer's answer to a request this node's plugin sent.
func (s *SimNode) appAnswered(from *SimNode, reqID uint32, msg []byte, appErr *avalanchego.AppError) {
	key := appKey{from.ID, reqID}
	t, ok := s.appReqs[key]
	if !ok {
		s.note("late app answer", fmt.Sprintf("from %s request %d", from.Name, reqID))
		return
	}
	t.Stop()
	delete(s.appReqs, key)
	if appErr != nil {
		s.callAppFailed(from, reqID, appErr)
		return
	}
	_ = s.call("vm.VM/AppResponse", fmt.Sprintf("%s request %d", from.Name, reqID), func(ctx context.Context) (string, error) {
		_, err := s.plugin.VM.AppResponse(ctx, &vmpb.AppResponseMsg{NodeId: from.ID.Bytes(), RequestId: reqID, Response: msg})
		return "", err
	})
}

// appFailed ends a request nobody answered in time (or that could not be sent).
func (s *SimNode) appFailed(peer *SimNode, reqID uint32, e *avalanchego.AppError) {
	key := appKey{peer.ID, reqID}
	if t, ok := s.appReqs[key]; ok {
		t.Stop()
		delete(s.appReqs, key)
	}
	s.callAppFailed(peer, reqID, e)
}

func (s *SimNode) callAppFailed(peer *SimNode, reqID uint32, e *avalanchego.AppError) {
	_ = s.call("vm.VM/AppRequestFailed", fmt.Sprintf("%s request %d code %d", peer.Name, reqID, e.Code), func(ctx context.Context) (string, error) {
		_, err := s.plugin.VM.AppRequestFailed(ctx, &vmpb.AppRequestFailedMsg{NodeId: peer.ID.Bytes(), RequestId: reqID, ErrorCode: e.Code, ErrorMessage: e.Message})
		return "", err
	})
}
