package proxy

import (
	"math"
	"reflect"
	"testing"
	"time"

	"flotilla/api"
)

func TestLatencyWindowQuantiles(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	w := latencyWindow{span: 10 * time.Second}
	for i := 1; i <= 100; i++ {
		w.observe(t0, api.LatencyBucket(time.Duration(i)*time.Millisecond))
	}
	near := func(got, want float64) bool { return math.Abs(got-want) <= want*0.03 }
	if p50, p99 := w.quantiles(t0.Add(5 * time.Second)); !near(p50, 50) || !near(p99, 99) {
		t.Errorf("quantiles = %.2f, %.2f ms; want 50 and 99 within 3%%", p50, p99)
	}
	// One span later the samples are in the previous span and still count.
	w.observe(t0.Add(12*time.Second), api.LatencyBucket(500*time.Millisecond))
	if _, p99 := w.quantiles(t0.Add(12 * time.Second)); !near(p99, 99) {
		t.Errorf("p99 a span later = %.2f ms, want 99 (both spans count)", p99)
	}
	// Two spans after the newest sample's span began, nothing is left.
	if p50, p99 := w.quantiles(t0.Add(40 * time.Second)); p50 != 0 || p99 != 0 {
		t.Errorf("quantiles of an idle window = %.2f, %.2f; want 0", p50, p99)
	}
}

func TestReportCarriesTheCumulativeHistogram(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	m := newMetrics(10 * time.Second)
	s := m.series("default", "web", 2)
	if r := s.report(t0); r.Latency.Total() != 0 || len(r.Latency.Counts) != 0 {
		t.Fatalf("report before any request: latency %+v, want empty", r.Latency)
	}
	var want api.Histogram
	for i := 1; i <= 100; i++ {
		d := time.Duration(i) * time.Millisecond
		s.done(t0, d, false)
		want.Observe(d)
	}
	// Long after the window forgot them, the cumulative histogram still
	// holds every request, trimmed to its non-zero buckets.
	r := s.report(t0.Add(time.Hour))
	if !reflect.DeepEqual(r.Latency, want) || r.Requests != 100 {
		t.Errorf("latency = %+v (%d requests), want %+v", r.Latency, r.Requests, want)
	}
	if r.P50Ms != 0 || r.P99Ms != 0 {
		t.Errorf("windowed quantiles an hour later = %v, %v; want 0", r.P50Ms, r.P99Ms)
	}
	// The report is a copy: later requests do not change it.
	s.done(t0, time.Millisecond, false)
	if r.Latency.Total() != 100 || s.report(t0).Latency.Total() != 101 {
		t.Errorf("report shares its counts with the series")
	}
}
