// Package seeded gives the parts of a run that must replay (a virtual
// scenario run with --seed) their random sources, each derived from one
// seed and what it is for, so that one part's draws never depend on how
// many another made first.
package seeded

import (
	"hash/fnv"
	"math/rand/v2"
	"strings"
)

// Source is the source of random choices for one purpose (for example
// "n1", "proxy"): a function of the seed and the purpose. It is nil when
// the seed is 0, for callers that then draw at random.
func Source(seed uint64, purpose ...string) rand.Source {
	if seed == 0 {
		return nil
	}
	return rand.NewPCG(seed, Hash(purpose...))
}

// Hash is a stable 64-bit hash of the parts, joined by "/".
func Hash(parts ...string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(strings.Join(parts, "/")))
	return h.Sum64()
}
