package sim

import "math/rand/v2"

// randStream is the second PCG word: it keeps the world's stream apart from
// other users of the same seed (the harness's key generator uses its own).
const randStream = 0x73696d776f726c64 // "simworld"

// NewRand is the seeded source of the world: PCG from math/rand/v2. Callers
// print the seed so a run can be replayed.
func NewRand(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), randStream))
}
