package rollout

import (
	"math"

	"flotilla/api"
)

// Statistics for canary analysis: is the new revision worse than the
// stable one, or only unlucky? Both tests are one-sided (worse, never
// better) and answer a p-value: the chance of figures at least this bad
// if the two revisions were in truth alike. Small means "worse, really".

// NormalCDF is the standard normal distribution's P(Z ≤ x).
func NormalCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

// MannWhitneyGreater is the one-sided Mann-Whitney U test that latencies in
// a (the canary) tend to be larger than in b (the baseline), read from two
// latency histograms (the buckets of api.Histogram, so every bucket is a
// group of ties and gets its mid-rank). It uses the normal approximation
// of U with the tie correction of its variance and a continuity
// correction, which is sound for the sample sizes analysis waits for (tens
// of requests and up). It returns the p-value: 1 when either side is
// empty or every observation is a tie.
func MannWhitneyGreater(a, b api.Histogram) float64 {
	na, nb := float64(a.Total()), float64(b.Total())
	if na == 0 || nb == 0 {
		return 1
	}
	lo := min(a.Offset, b.Offset)
	hi := max(a.Offset+len(a.Counts), b.Offset+len(b.Counts)) - 1
	// U counts the pairs (x from a, y from b) with x > y, plus half the
	// pairs that tie: each of a's observations in bucket i beats all of
	// b's below i and ties with b's in i.
	var u, below, ties float64
	for i := lo; i <= hi; i++ {
		ca, cb := float64(bucketCount(a, i)), float64(bucketCount(b, i))
		u += ca * (below + cb/2)
		below += cb
		if t := ca + cb; t > 1 {
			ties += t*t*t - t
		}
	}
	n := na + nb
	mean := na * nb / 2
	variance := na * nb / 12 * ((n + 1) - ties/(n*(n-1)))
	if variance <= 0 {
		return 1
	}
	z := (u - mean - 0.5) / math.Sqrt(variance)
	return NormalCDF(-z) // 1-Φ(z), without losing the small ones
}

// bucketCount is the count of bucket i, 0 outside the histogram.
func bucketCount(h api.Histogram, i int) uint64 {
	if k := i - h.Offset; k >= 0 && k < len(h.Counts) {
		return h.Counts[k]
	}
	return 0
}

// TwoProportionGreater is the one-sided two-proportion z-test, with pooled
// variance, that the error rate errA/nA (the canary) is larger than
// errB/nB (the baseline). It returns the p-value: 1 when either n is 0 or
// no request (or every request) failed, where there is nothing to tell
// apart. Errors above their n count as n.
func TwoProportionGreater(errA, nA, errB, nB uint64) float64 {
	if nA == 0 || nB == 0 {
		return 1
	}
	errA, errB = min(errA, nA), min(errB, nB)
	a, b := float64(nA), float64(nB)
	pooled := float64(errA+errB) / (a + b)
	if pooled == 0 || pooled == 1 {
		return 1
	}
	se := math.Sqrt(pooled * (1 - pooled) * (1/a + 1/b))
	z := (float64(errA)/a - float64(errB)/b) / se
	return NormalCDF(-z) // 1-Φ(z), without losing the small ones
}
