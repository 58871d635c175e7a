package proxy

import (
	"math"
	"testing"
	"time"
)

func TestLatencyWindowQuantiles(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	w := latencyWindow{span: 10 * time.Second}
	for i := 1; i <= 100; i++ {
		w.observe(t0, time.Duration(i)*time.Millisecond)
	}
	near := func(got, want float64) bool { return math.Abs(got-want) <= want*0.03 }
	if p50, p99 := w.quantiles(t0.Add(5 * time.Second)); !near(p50, 50) || !near(p99, 99) {
		t.Errorf("quantiles = %.2f, %.2f ms; want 50 and 99 within 3%%", p50, p99)
	}
	// One span later the samples are in the previous span and still count.
	w.observe(t0.Add(12*time.Second), 500*time.Millisecond)
	if _, p99 := w.quantiles(t0.Add(12 * time.Second)); !near(p99, 99) {
		t.Errorf("p99 a span later = %.2f ms, want 99 (both spans count)", p99)
	}
	// Two spans after the newest sample's span began, nothing is left.
	if p50, p99 := w.quantiles(t0.Add(40 * time.Second)); p50 != 0 || p99 != 0 {
		t.Errorf("quantiles of an idle window = %.2f, %.2f; want 0", p50, p99)
	}
}

func TestLatencyBucketsCoverTheRange(t *testing.T) {
	for _, d := range []time.Duration{0, time.Microsecond, 10 * time.Microsecond, 3 * time.Millisecond, time.Second, time.Minute} {
		i := latencyBucket(d)
		if i < 0 || i >= latencyBuckets {
			t.Fatalf("bucket(%v) = %d, out of range", d, i)
		}
		if d >= time.Millisecond {
			ms := float64(d) / float64(time.Millisecond)
			if got := latencyValue(i); math.Abs(got-ms) > ms*0.03 {
				t.Errorf("value of bucket(%v) = %.3f ms, want within 3%%", d, got)
			}
		}
	}
	if i := latencyBucket(time.Hour); i != latencyBuckets-1 {
		t.Errorf("an hour lands in bucket %d, want the last", i)
	}
}
