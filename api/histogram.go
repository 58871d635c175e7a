package api

import (
	"math"
	"time"
)

// Latency buckets are logarithmic, each 5% wider than the one before,
// starting at 10µs: a quantile read from them is within about 2.5% of the
// true value. Bucket 0 holds everything up to 10µs, the last bucket
// everything from about 250s on. Proxies count into these buckets and
// servers merge them, so the scheme is part of the wire format.
const (
	LatencyBuckets = 350 // up to 10µs·1.05^349 ≈ 250s

	latencyMin    = 10 * time.Microsecond
	latencyGrowth = 1.05
)

var logLatencyGrowth = math.Log(latencyGrowth)

// LatencyBucket is the bucket d falls in: the first whose upper bound,
// 10µs·1.05^i, is at least d.
func LatencyBucket(d time.Duration) int {
	if d <= latencyMin {
		return 0
	}
	i := int(math.Ceil(math.Log(float64(d)/float64(latencyMin)) / logLatencyGrowth))
	return min(i, LatencyBuckets-1)
}

// LatencyBucketMs is the representative value of bucket i in milliseconds:
// the geometric middle of its bounds (10µs for bucket 0). Indexes out of
// range are clamped.
func LatencyBucketMs(i int) float64 {
	i = clampBucket(i)
	ms := float64(latencyMin) / float64(time.Millisecond)
	if i == 0 {
		return ms
	}
	return ms * math.Pow(latencyGrowth, float64(i)-0.5)
}

func clampBucket(i int) int { return max(0, min(i, LatencyBuckets-1)) }

// Histogram counts latencies in the latency buckets. It is dense from
// bucket Offset on: Counts[k] is the count of bucket Offset+k; an empty
// histogram has no observations. Histograms of the same thing from several
// proxies add up (Add), and two cumulative readings of one proxy subtract
// (Sub) into the histogram of what happened in between, which is what
// makes them better than quantiles for figures over a window.
type Histogram struct {
	Offset int      `json:"offset,omitempty"`
	Counts []uint64 `json:"counts,omitempty"`
}

// Total is the number of observations.
func (h Histogram) Total() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Observe counts one latency.
func (h *Histogram) Observe(d time.Duration) {
	i := LatencyBucket(d)
	h.grow(i, i)
	h.Counts[i-h.Offset]++
}

// Add merges o into h. Buckets of o outside the scheme's range (a
// histogram from the wire is not to be trusted) count in the first or last
// bucket, so the result always fits LatencyBuckets.
func (h *Histogram) Add(o Histogram) {
	first, last := -1, -1
	for k, c := range o.Counts {
		if c != 0 {
			if first < 0 {
				first = k
			}
			last = k
		}
	}
	if first < 0 {
		return
	}
	h.grow(o.bucket(first), o.bucket(last))
	for k := first; k <= last; k++ {
		if c := o.Counts[k]; c != 0 {
			h.Counts[o.bucket(k)-h.Offset] += c
		}
	}
}

// bucket is the absolute, clamped bucket of Counts[k].
func (h Histogram) bucket(k int) int {
	if h.Offset >= LatencyBuckets { // also keeps Offset+k from overflowing
		return LatencyBuckets - 1
	}
	return clampBucket(h.Offset + k)
}

// grow makes Counts cover buckets lo..hi (both clamped, lo <= hi).
func (h *Histogram) grow(lo, hi int) {
	if len(h.Counts) == 0 {
		h.Offset, h.Counts = lo, make([]uint64, hi-lo+1)
		return
	}
	if h.Offset < 0 || h.Offset+len(h.Counts) > LatencyBuckets {
		// Out of range (decoded from the wire): rebuild in range first.
		var c Histogram
		c.Add(*h)
		*h = c
		if len(h.Counts) == 0 {
			h.Offset, h.Counts = lo, make([]uint64, hi-lo+1)
			return
		}
	}
	curLo, curHi := h.Offset, h.Offset+len(h.Counts)-1
	if lo >= curLo && hi <= curHi {
		return
	}
	newLo, newHi := min(lo, curLo), max(hi, curHi)
	counts := make([]uint64, newHi-newLo+1)
	copy(counts[curLo-newLo:], h.Counts)
	h.Offset, h.Counts = newLo, counts
}

// Sub is h minus o, trimmed to its non-zero buckets. It reports false when
// some bucket of o holds more than h's: then o is no earlier reading of
// the same cumulative histogram (its proxy restarted, most likely).
func (h Histogram) Sub(o Histogram) (Histogram, bool) {
	out := Histogram{Offset: h.Offset, Counts: append([]uint64(nil), h.Counts...)}
	for k, c := range o.Counts {
		if c == 0 {
			continue
		}
		i := o.Offset + k - out.Offset
		if o.Offset >= LatencyBuckets || i < 0 || i >= len(out.Counts) || out.Counts[i] < c {
			return Histogram{}, false
		}
		out.Counts[i] -= c
	}
	return out.trim(), true
}

// trim drops the zero buckets at both ends.
func (h Histogram) trim() Histogram {
	lo, hi := 0, len(h.Counts)
	for lo < hi && h.Counts[lo] == 0 {
		lo++
	}
	for hi > lo && h.Counts[hi-1] == 0 {
		hi--
	}
	if lo == hi {
		return Histogram{}
	}
	return Histogram{Offset: h.Offset + lo, Counts: h.Counts[lo:hi]}
}

// Quantile is the latency in milliseconds below or at which a fraction q
// (0..1) of the observations fall: the representative value of the bucket
// holding the observation of rank ⌈q·total⌉. It is 0 when the histogram is
// empty.
func (h Histogram) Quantile(q float64) float64 {
	total := h.Total()
	if total == 0 {
		return 0
	}
	if !(q > 0) { // NaN too
		q = 0
	}
	rank := uint64(math.Ceil(min(q, 1) * float64(total)))
	rank = max(1, min(rank, total))
	var seen uint64
	for k, c := range h.Counts {
		seen += c
		if seen >= rank {
			return LatencyBucketMs(h.bucket(k))
		}
	}
	return LatencyBucketMs(h.bucket(len(h.Counts) - 1))
}
