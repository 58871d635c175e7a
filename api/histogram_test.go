package api_test

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"flotilla/api"
)

func near(got, want, rel float64) bool { return math.Abs(got-want) <= want*rel }

func TestLatencyBucketsCoverTheRangeWithin3Percent(t *testing.T) {
	for _, d := range []time.Duration{0, time.Microsecond, 10 * time.Microsecond, 11 * time.Microsecond,
		3 * time.Millisecond, time.Second, time.Minute} {
		i := api.LatencyBucket(d)
		if i < 0 || i >= api.LatencyBuckets {
			t.Fatalf("LatencyBucket(%v) = %d, out of range", d, i)
		}
		if d >= time.Millisecond {
			ms := float64(d) / float64(time.Millisecond)
			if got := api.LatencyBucketMs(i); !near(got, ms, 0.03) {
				t.Errorf("LatencyBucketMs(LatencyBucket(%v)) = %.3f ms, want within 3%%", d, got)
			}
		}
	}
	if i := api.LatencyBucket(time.Hour); i != api.LatencyBuckets-1 {
		t.Errorf("an hour lands in bucket %d, want the last", i)
	}
	if api.LatencyBucket(10*time.Microsecond) != 0 || api.LatencyBucket(11*time.Microsecond) != 2 {
		t.Errorf("10µs in %d, 11µs in %d; want 0 and 2 (10.5µs and 11.025µs bound buckets 1 and 2)",
			api.LatencyBucket(10*time.Microsecond), api.LatencyBucket(11*time.Microsecond))
	}
	for i := 1; i < api.LatencyBuckets; i++ {
		if api.LatencyBucketMs(i) <= api.LatencyBucketMs(i-1) {
			t.Fatalf("bucket values not increasing at %d", i)
		}
	}
	if api.LatencyBucketMs(-3) != api.LatencyBucketMs(0) || api.LatencyBucketMs(1000) != api.LatencyBucketMs(api.LatencyBuckets-1) {
		t.Error("LatencyBucketMs does not clamp indexes out of range")
	}
}

func histogramOf(ds ...time.Duration) api.Histogram {
	var h api.Histogram
	for _, d := range ds {
		h.Observe(d)
	}
	return h
}

func msRange(from, to int) []time.Duration {
	var ds []time.Duration
	for i := from; i <= to; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	return ds
}

func TestHistogramQuantiles(t *testing.T) {
	h := histogramOf(msRange(1, 100)...)
	if h.Total() != 100 {
		t.Fatalf("Total = %d, want 100", h.Total())
	}
	for _, tt := range []struct{ q, want float64 }{{0.5, 50}, {0.9, 90}, {0.99, 99}, {1, 100}, {0, 1}} {
		if got := h.Quantile(tt.q); !near(got, tt.want, 0.03) {
			t.Errorf("Quantile(%v) = %.2f ms, want %.0f within 3%%", tt.q, got, tt.want)
		}
	}
	if got := (api.Histogram{}).Quantile(0.99); got != 0 {
		t.Errorf("Quantile of an empty histogram = %v, want 0", got)
	}
	if got := h.Quantile(math.NaN()); !near(got, 1, 0.03) {
		t.Errorf("Quantile(NaN) = %v, want the smallest value", got)
	}
}

func TestHistogramObserveKeepsTheRangeDense(t *testing.T) {
	h := histogramOf(5 * time.Millisecond)
	if len(h.Counts) != 1 || h.Offset != api.LatencyBucket(5*time.Millisecond) {
		t.Fatalf("one observation: %+v, want one bucket at %d", h, api.LatencyBucket(5*time.Millisecond))
	}
	h.Observe(time.Millisecond)
	h.Observe(20 * time.Millisecond)
	lo, hi := api.LatencyBucket(time.Millisecond), api.LatencyBucket(20*time.Millisecond)
	if h.Offset != lo || len(h.Counts) != hi-lo+1 || h.Counts[0] != 1 || h.Counts[len(h.Counts)-1] != 1 || h.Total() != 3 {
		t.Errorf("after growing both ways: offset %d, %d buckets, total %d; want %d, %d, 3", h.Offset, len(h.Counts), h.Total(), lo, hi-lo+1)
	}
}

func TestHistogramAddMergesAndSubUndoesIt(t *testing.T) {
	a := histogramOf(msRange(1, 50)...)
	b := histogramOf(msRange(51, 100)...)
	var sum api.Histogram
	sum.Add(a)
	sum.Add(b)
	if want := histogramOf(msRange(1, 100)...); !reflect.DeepEqual(sum, want) {
		t.Fatalf("a+b = %+v, want the histogram of all observations %+v", sum, want)
	}
	if got := sum.Quantile(0.5); !near(got, 50, 0.03) {
		t.Errorf("merged p50 = %.2f, want 50", got)
	}
	diff, ok := sum.Sub(a)
	if !ok || !reflect.DeepEqual(diff, b) {
		t.Errorf("(a+b)-a = %+v, %v; want b %+v, trimmed", diff, ok, b)
	}
	if zero, ok := a.Sub(a); !ok || zero.Total() != 0 || len(zero.Counts) != 0 {
		t.Errorf("a-a = %+v, %v; want empty", zero, ok)
	}
	if got, ok := a.Sub(api.Histogram{}); !ok || !reflect.DeepEqual(got, a) {
		t.Errorf("a-0 = %+v, %v; want a", got, ok)
	}
	// Sub leaves its operands alone.
	if a.Total() != 50 || sum.Total() != 100 {
		t.Errorf("Sub changed its operands: %d, %d", a.Total(), sum.Total())
	}
}

func TestHistogramSubRefusesAReset(t *testing.T) {
	before := histogramOf(msRange(1, 100)...)
	for _, tt := range []struct {
		name          string
		after, before api.Histogram
	}{
		{"fewer in one bucket", histogramOf(msRange(1, 99)...), before},
		{"nothing at all", api.Histogram{}, before},
		{"a bucket below the range", before, histogramOf(append(msRange(1, 100), 0)...)},
		{"a bucket above the range", before, histogramOf(append(msRange(1, 100), time.Hour)...)},
	} {
		if got, ok := tt.after.Sub(tt.before); ok {
			t.Errorf("%s: Sub = %+v, true; want false (a counter reset)", tt.name, got)
		}
	}
}

func TestHistogramAddFoldsBucketsOutOfRange(t *testing.T) {
	var h api.Histogram
	h.Add(api.Histogram{Offset: -2, Counts: []uint64{1, 2, 3}})
	h.Add(api.Histogram{Offset: api.LatencyBuckets - 1, Counts: []uint64{4, 5}})
	h.Add(api.Histogram{Offset: math.MaxInt, Counts: []uint64{6}})
	if h.Offset != 0 || len(h.Counts) != api.LatencyBuckets || h.Counts[0] != 6 || h.Counts[api.LatencyBuckets-1] != 15 || h.Total() != 21 {
		t.Errorf("offset %d, %d buckets, first %d, last %d, total %d; want 0, %d, 6, 15, 21",
			h.Offset, len(h.Counts), h.Counts[0], h.Counts[len(h.Counts)-1], h.Total(), api.LatencyBuckets)
	}
	// Observing into a histogram decoded out of range puts it in range.
	bad := api.Histogram{Offset: -5, Counts: []uint64{1}}
	bad.Observe(time.Millisecond)
	if bad.Offset < 0 || bad.Offset+len(bad.Counts) > api.LatencyBuckets || bad.Total() != 2 {
		t.Errorf("observed into an out-of-range histogram: %+v", bad)
	}
	h.Add(api.Histogram{Counts: []uint64{0, 0}})
	if h.Total() != 21 {
		t.Errorf("adding zeros changed the total to %d", h.Total())
	}
}

func TestHistogramJSONIsCompact(t *testing.T) {
	h := histogramOf(time.Millisecond, time.Millisecond, 2*time.Millisecond)
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var back api.Histogram
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, h) {
		t.Fatalf("round trip of %s = %+v, %v; want %+v", b, back, err, h)
	}
	if b, _ := json.Marshal(api.Histogram{}); string(b) != "{}" {
		t.Errorf("empty histogram = %s, want {}", b)
	}
}
