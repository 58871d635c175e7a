package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestLoadHistogramBucketsAreContiguousAndNarrow(t *testing.T) {
	values := []uint64{0, 1, 255, 256, 257, 511, 512, 1000, 1 << 20, 1<<20 + 1, 3_600_000_000, math.MaxInt64 / 1000, math.MaxUint64}
	for shift := 0; shift < 64; shift++ {
		values = append(values, 1<<shift, 1<<shift-1, 1<<shift+1)
	}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= histogramBuckets {
			t.Fatalf("value %d: bucket %d outside [0, %d)", v, i, histogramBuckets)
		}
		lower, width := bucketRange(i)
		if v < lower || v-lower >= width {
			t.Fatalf("value %d in bucket %d = [%d, %d+%d)", v, i, lower, lower, width)
		}
		if lower >= 2*subBuckets && float64(width)/float64(lower) > 1.0/subBuckets {
			t.Fatalf("bucket %d = [%d, +%d) is wider than 1/%d of its values", i, lower, width, subBuckets)
		}
	}
	// Each bucket starts where the previous one ended.
	for i := 1; i < histogramBuckets; i++ {
		prevLower, prevWidth := bucketRange(i - 1)
		lower, _ := bucketRange(i)
		if prevLower+prevWidth != lower {
			t.Fatalf("bucket %d starts at %d, bucket %d ends at %d", i, lower, i-1, prevLower+prevWidth)
		}
	}
}

func TestLoadHistogramQuantilesAreWithinOnePercent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	var exact []time.Duration
	for range 100_000 {
		// Log-normal-ish latencies from about 50µs to several seconds.
		d := time.Duration(math.Exp(rng.NormFloat64()*1.5+9) * float64(time.Microsecond)).Truncate(time.Microsecond)
		h.Record(d)
		exact = append(exact, d)
	}
	slices.Sort(exact)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		want := exact[int(math.Ceil(q*float64(len(exact))))-1]
		got := h.Quantile(q)
		if rel := math.Abs(float64(got-want)) / float64(want); rel > 0.01 {
			t.Errorf("q%g = %s, exact %s: %.2f%% off", q, got, want, rel*100)
		}
	}
	if h.Max() != exact[len(exact)-1] || h.Count() != uint64(len(exact)) {
		t.Fatalf("max %s count %d, want %s and %d", h.Max(), h.Count(), exact[len(exact)-1], len(exact))
	}
}

func TestLoadHistogramQuantilesOfFewValues(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 {
		t.Fatal("an empty histogram has quantile 0")
	}
	h.Record(3 * time.Millisecond)
	if q := h.Quantile(0.99); q != 3*time.Millisecond {
		t.Fatalf("one value of 3ms: p99 %s", q)
	}
	h.Record(-time.Second)
	if h.Quantile(0) != 0 || h.Quantile(1) != 3*time.Millisecond {
		t.Fatalf("p0 %s p100 %s, want 0 and 3ms", h.Quantile(0), h.Quantile(1))
	}
}
