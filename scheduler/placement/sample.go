package placement

import (
	"math/bits"
	"math/rand/v2"
)

// exactUpTo is the largest cluster on which every node is scored; above it
// the Placer samples.
const exactUpTo = 100

// sampleLimit is how many feasible nodes a placement scores on a cluster of
// n nodes: max(4, ceil(log2 n)), 14 at 10,000 nodes. Each placement
// continues the walk where the previous one stopped, so every node is
// looked at once per lap and spread stays within a replica or two of even;
// doubling the limit measured no better at twice the cost (see README.md).
func sampleLimit(n int) int {
	return max(4, bits.Len(uint(n-1))) // ceil(log2 n) for n >= 2
}

// SampleLimit is how many feasible nodes one placement scores on a cluster
// of n nodes (every node up to 100 of them): callers use it to judge how
// many nodes an evaluation will look at.
func SampleLimit(n int) int {
	if n <= exactUpTo {
		return n
	}
	return sampleLimit(n)
}

// order is a seeded pseudo-random permutation of the node indexes
// [0, n): position → node. It plays the part of Nomad's shuffle, but it is
// computed rather than stored: a four-round Feistel network, keyed from a
// PCG stream of the seed, permutes the smallest even-bit domain that holds
// n, and positions that land outside [0, n) walk the cycle until they come
// back in (cycle walking keeps it a permutation). So New neither allocates
// nor draws n numbers, whatever the cluster size, and an evaluation placing
// three replicas on 10,000 nodes touches only the ~40 positions it walks.
type order struct {
	n        uint64
	halfBits uint
	mask     uint64
	keys     [4]uint64
}

func newOrder(n int, seed uint64) order {
	half := (max(2, bits.Len(uint(n-1))) + 1) / 2
	o := order{n: uint64(n), halfBits: uint(half), mask: 1<<half - 1}
	// The second PCG word is a constant: the seed alone selects the stream.
	rng := rand.NewPCG(seed, 0x9e3779b97f4a7c15)
	for i := range o.keys {
		o.keys[i] = rng.Uint64()
	}
	return o
}

// at returns the node index at position pos, 0 <= pos < n. The domain is
// less than 4n, so the walk takes fewer than four steps on average.
func (o *order) at(pos int) int {
	x := uint64(pos)
	for {
		x = o.permute(x)
		if x < o.n {
			return int(x)
		}
	}
}

func (o *order) permute(x uint64) uint64 {
	left, right := x>>o.halfBits, x&o.mask
	for _, key := range o.keys {
		left, right = right, left^(mix(right^key)&o.mask)
	}
	return left<<o.halfBits | right
}

// mix is the splitmix64 finaliser, the round function.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
