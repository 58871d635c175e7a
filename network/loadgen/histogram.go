package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// Histogram buckets latencies in microseconds HDR-style: values below 256µs
// have a bucket each; above, every power of two is split into 128 equal
// buckets, so a bucket is never wider than 1/128 of its lower bound and its
// midpoint is within 0.4% of any value in it. The array is fixed (about
// 60 KiB), so memory does not grow with the number of requests.
type Histogram struct {
	counts [histogramBuckets]uint64
	total  uint64
	min    uint64 // µs
	max    uint64 // µs
}

const (
	subBits          = 7
	subBuckets       = 1 << subBits // per power of two, above 2*subBuckets
	histogramBuckets = (64 - subBits + 1) * subBuckets
)

// bucketOf maps a value in µs to its bucket.
func bucketOf(v uint64) int {
	if v < 2*subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - (subBits + 1)
	return (shift+1)*subBuckets + int(v>>shift) - subBuckets
}

// bucketRange is the smallest value of bucket i and its width.
func bucketRange(i int) (lower, width uint64) {
	if i < 2*subBuckets {
		return uint64(i), 1
	}
	shift := i/subBuckets - 1
	mantissa := uint64(i%subBuckets + subBuckets)
	return mantissa << shift, 1 << shift
}

// Record adds one latency; negative durations count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d.Microseconds(), 0))
	h.counts[bucketOf(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Max is the largest value recorded (exact, to the microsecond).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) * time.Microsecond }

// Quantile is the value below which a fraction q (0..1) of the recorded
// values lie: the midpoint of the bucket holding the value of rank
// ceil(q·count), kept within the exact minimum and maximum. It is 0 when
// nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			lower, width := bucketRange(i)
			v := min(max(lower+width/2, h.min), h.max)
			return time.Duration(v) * time.Microsecond
		}
	}
	return h.Max()
}
