package harness

import (
	"math/rand/v2"

	"github.com/ava-labs/avalanchego/ids"
)

// SnowParams are the decider's parameters, named as AvalancheGo's snow
// parameters: sample K validators per poll, a poll succeeds for a block
// with at least Alpha votes, Beta successful polls in a row for the same
// block finalize it.
type SnowParams struct {
	K, Alpha, Beta int
}

// DefaultSnowParams are the parameters for n validators: K = n (at most 20,
// AvalancheGo's K), Alpha a strict majority of K, Beta 3 (AvalancheGo's
// default is 20; a handful of nodes needs fewer rounds to be convincing).
func DefaultSnowParams(n int) SnowParams {
	k := min(n, 20)
	return SnowParams{K: k, Alpha: k/2 + 1, Beta: 3}
}

func (p SnowParams) withDefaults(n int) SnowParams {
	d := DefaultSnowParams(n)
	if p.K <= 0 {
		p.K = d.K
	}
	p.K = min(p.K, n)
	if p.Alpha <= 0 {
		p.Alpha = p.K/2 + 1
	}
	if p.Beta <= 0 {
		p.Beta = d.Beta
	}
	return p
}

// snowball decides among competing blocks at one height, as Snowball does:
// every successful poll (>= Alpha votes for one block) adds to that block's
// count and the most counted block is preferred; Beta successful polls in a
// row for the same block finalize it; a poll without Alpha votes for any
// block resets the streak. Pure code: no I/O, no clock.
type snowball struct {
	p         SnowParams
	choices   []ids.ID // in the order learnt
	counts    map[ids.ID]int
	pref      ids.ID
	last      ids.ID
	streak    int
	finalized bool
}

func newSnowball(p SnowParams, first ids.ID) *snowball {
	return &snowball{p: p, choices: []ids.ID{first}, counts: map[ids.ID]int{}, pref: first}
}

// add learns a competing block; the first one learnt stays preferred until
// polls say otherwise.
func (s *snowball) add(id ids.ID) {
	if _, ok := s.counts[id]; ok || s.has(id) {
		return
	}
	s.choices = append(s.choices, id)
}

func (s *snowball) has(id ids.ID) bool {
	for _, c := range s.choices {
		if c == id {
			return true
		}
	}
	return false
}

// record tallies one poll's votes (block -> votes); it returns whether the
// poll succeeded (some block had Alpha votes) and whether the preference
// changed.
func (s *snowball) record(votes map[ids.ID]int) (ok, changed bool) {
	var winner ids.ID
	found := false
	for _, c := range s.choices { // fixed order: ties cannot depend on map order
		if votes[c] >= s.p.Alpha {
			winner, found = c, true
			break
		}
	}
	if !found {
		s.streak = 0
		return false, false
	}
	s.counts[winner]++
	if winner != s.pref && s.counts[winner] > s.counts[s.pref] {
		s.pref, changed = winner, true
	}
	if winner == s.last {
		s.streak++
	} else {
		s.last, s.streak = winner, 1
	}
	if s.streak >= s.p.Beta {
		s.finalized = true
		if s.pref != winner {
			s.pref, changed = winner, true
		}
	}
	return true, changed
}

// sample picks k distinct indexes out of n with r (a seeded source).
func sample(r *rand.Rand, n, k int) []int {
	perm := r.Perm(n)
	return perm[:min(k, n)]
}
