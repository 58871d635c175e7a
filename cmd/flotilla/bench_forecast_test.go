package main

import (
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

// A wave of 10 s periods rising at 5 s, overloaded above 7.5 in flight per
// ready replica, sampled a second apart with a few milliseconds of jitter.
var testWave = forecastWave{Period: 10 * time.Second, Periods: 3, Rise: 5 * time.Second, OverloadAbove: 7.5}

func sampleAt(s float64, replicas, ready int, inFlight int64) forecastSample {
	return forecastSample{At: time.Duration(s*float64(time.Second)) + 3*time.Millisecond, Replicas: replicas, Ready: ready, InFlight: inFlight}
}

// lowThenPeak is one period from offset: 1 in flight on ready replicas
// for the low half, then 20 in flight while the ready count goes
// readyAtRise, then 4.
func lowThenPeak(offset float64, trough, readyBeforeRise, readyAtRise int) []forecastSample {
	var out []forecastSample
	for s := 0; s < 10; s++ {
		switch {
		case s < 3:
			out = append(out, sampleAt(offset+float64(s), trough, trough, 1))
		case s < 5:
			out = append(out, sampleAt(offset+float64(s), 4, readyBeforeRise, 1))
		case s < 7:
			out = append(out, sampleAt(offset+float64(s), 4, readyAtRise, 20))
		default:
			out = append(out, sampleAt(offset+float64(s), 4, 4, 20))
		}
	}
	return out
}

func TestForecastBenchCountsOverloadPerPeriod(t *testing.T) {
	var samples []forecastSample
	samples = append(samples, lowThenPeak(0, 1, 1, 1)...)  // no replica ahead: 20 on 1 for 2 s
	samples = append(samples, lowThenPeak(10, 1, 4, 4)...) // ready before the rise
	samples = append(samples, lowThenPeak(20, 2, 2, 2)...) // 20 on 2 = 10 per replica for 2 s
	// Past the last period: not counted.
	samples = append(samples, sampleAt(30, 1, 1, 100))
	got := summarizeForecastRun(samples, nil, testWave)
	if len(got) != 3 {
		t.Fatalf("%d periods, want 3", len(got))
	}
	want := []struct {
		overloaded, fewest, before, replicaSeconds int
		maxPerReady                                float64
	}{
		{2, 1, 1, 3*1 + 7*4, 20},
		{0, 1, 4, 3*1 + 7*4, 5},
		{2, 2, 2, 3*2 + 7*4, 10},
	}
	for i, w := range want {
		p := got[i]
		if p.Period != i+1 || p.Samples != 10 || p.Overloaded != w.overloaded || p.FewestReady != w.fewest ||
			p.ReadyBeforeRise != w.before || p.ReplicaSeconds != w.replicaSeconds || p.MaxPerReady != w.maxPerReady {
			t.Errorf("period %d = %+v, want overloaded %d, fewest ready %d, ready before the rise %d, replica-seconds %d, max per ready %g",
				i+1, p, w.overloaded, w.fewest, w.before, w.replicaSeconds, w.maxPerReady)
		}
	}
	if n := overloadedFrom(got, 2); n != 2 {
		t.Errorf("overloaded over periods 2..3 = %d, want 2 (period 1 is the warm-up)", n)
	}
}

func TestForecastBenchOverloadEdges(t *testing.T) {
	samples := []forecastSample{
		sampleAt(0, 2, 2, 15), // 7.5 per replica: at the bound, not above it
		sampleAt(1, 2, 2, 16), // 8: overloaded
		sampleAt(2, 1, 0, 3),  // in flight with none ready: overloaded
		sampleAt(3, 1, 0, 0),  // nothing in flight, none ready: not
	}
	got := summarizeForecastRun(samples, nil, testWave)[0]
	if got.Overloaded != 2 {
		t.Errorf("overloaded = %d, want 2 (16 on 2, and 3 on none)", got.Overloaded)
	}
	if got.MaxPerReady != 8 {
		t.Errorf("max per ready = %g, want 8 (none ready is not a figure)", got.MaxPerReady)
	}
}

func TestForecastBenchReadyBeforeRiseNeedsASampleThen(t *testing.T) {
	// Readings failed from 2 s to the rise: no figure rather than an old one.
	samples := []forecastSample{sampleAt(0, 1, 1, 1), sampleAt(1, 1, 1, 1), sampleAt(5, 3, 3, 12)}
	if got := summarizeForecastRun(samples, nil, testWave)[0]; got.ReadyBeforeRise != -1 {
		t.Errorf("ready before the rise = %d, want -1 without a sample near 4 s", got.ReadyBeforeRise)
	}
}

func TestForecastBenchScaleUpsRelativeToTheRise(t *testing.T) {
	scalings := []forecastScaling{
		{AtS: 6.5, From: 1, To: 4, Panic: true},    // period 1, 1.5 s after its rise
		{AtS: 9, From: 4, To: 5},                   // period 1
		{AtS: 11, From: 5, To: 2},                  // a scale-down: not counted
		{AtS: 12, From: 2, To: 4, Forecast: true},  // period 2, 3 s before its rise
		{AtS: 16, From: 4, To: 5},                  // period 2, after
		{AtS: 31, From: 1, To: 4, Forecast: true},  // past the run
		{AtS: -2, From: 1, To: 2, Forecast: false}, // before the load
	}
	got := summarizeForecastRun(nil, scalings, testWave)
	check := func(i, up, byForecast int, first float64) {
		t.Helper()
		p := got[i]
		if p.ScaledUp != up || p.ScaledUpByForecast != byForecast || p.FirstScaleUpS == nil || *p.FirstScaleUpS != first {
			t.Errorf("period %d: %d up (%d by the forecast), first at %v; want %d (%d), first at %+gs", i+1, p.ScaledUp, p.ScaledUpByForecast, p.FirstScaleUpS, up, byForecast, first)
		}
	}
	check(0, 2, 0, 1.5)
	check(1, 2, 1, -3)
	if p := got[2]; p.ScaledUp != 0 || p.FirstScaleUpS != nil {
		t.Errorf("period 3: %+v, want no scale-up", p)
	}
}

func TestForecastBenchOverloadRatio(t *testing.T) {
	cases := []struct {
		with, without int
		ratio         float64 // -1: nil
		met           bool
	}{
		{0, 7, 0, true},
		{3, 6, 0.5, true},
		{4, 7, 4.0 / 7, false},
		{5, 2, 2.5, false},
		{0, 0, -1, false}, // nothing to halve
		{3, 0, -1, false},
	}
	for _, c := range cases {
		r, met := overloadRatio(c.with, c.without)
		switch {
		case c.ratio < 0 && r != nil:
			t.Errorf("ratio(%d, %d) = %g, want none", c.with, c.without, *r)
		case c.ratio >= 0 && (r == nil || *r != c.ratio):
			t.Errorf("ratio(%d, %d) = %v, want %g", c.with, c.without, r, c.ratio)
		case met != c.met:
			t.Errorf("ratio(%d, %d): goal met %v, want %v", c.with, c.without, met, c.met)
		}
	}
}

func TestForecastBenchReadsTheAutoscalersEvents(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	ev := func(at time.Duration, msg string) *api.Event {
		return &api.Event{Type: api.EventServiceScaled, Namespace: "default", Service: "bench-fc", Time: t0.Add(at), Message: msg}
	}
	cases := []struct {
		e    *api.Event
		want forecastScaling
		ok   bool
	}{
		{ev(72*time.Second+340*time.Millisecond, "autoscaled default/bench-fc 1 → 4: inflight 0.9 per replica over 1m0s, target 5 (forecast 19.8 in 15s: 4 replicas)"),
			forecastScaling{AtS: 72.3, From: 1, To: 4, Forecast: true}, true},
		{ev(50*time.Second, "autoscaled default/bench-fc 2 → 4: inflight 10.0 per replica over 6s, target 5 (panic)"),
			forecastScaling{AtS: 50, From: 2, To: 4, Panic: true}, true},
		{ev(90*time.Second, "autoscaled default/bench-fc 4 → 1: inflight 0.2 per replica over 1m0s, target 5 (at least min 1)"),
			forecastScaling{AtS: 90, From: 4, To: 1}, true},
		{ev(time.Second, "service default/bench-fc scaled from 1 to 3 replicas"), forecastScaling{}, false}, // by hand
		{&api.Event{Type: api.EventServiceDeleted, Namespace: "default", Service: "bench-fc", Message: "autoscaled default/bench-fc 1 → 2: x"}, forecastScaling{}, false},
	}
	for _, c := range cases {
		got, ok := parseScaling(c.e, t0)
		if ok != c.ok || got != c.want {
			t.Errorf("%q: %+v, %v; want %+v, %v", c.e.Message, got, ok, c.want, c.ok)
		}
	}
}

func TestForecastBenchRiseAndFlags(t *testing.T) {
	if got := forecastRise("square", 90*time.Second); got != 45*time.Second {
		t.Errorf("square wave's rise at %s, want half way (45s)", got)
	}
	if got := forecastRise("sine", 90*time.Second); got != 22500*time.Millisecond {
		t.Errorf("sine's rise at %s, want a quarter (22.5s)", got)
	}
	ok := forecastBenchConfig{Profile: "square", Period: 2 * time.Minute, Periods: 4, Rate: 400, MinRate: 20,
		StartupDelay: 5 * time.Second, Lookahead: 15 * time.Second, Stabilization: 20 * time.Second}
	if err := ok.validate(); err != nil {
		t.Fatalf("the defaults: %v", err)
	}
	for _, c := range []struct {
		change func(*forecastBenchConfig)
		want   string
	}{
		{func(c *forecastBenchConfig) { c.Lookahead = 5 * time.Second }, "--lookahead 5s: want more than --startup-delay"},
		{func(c *forecastBenchConfig) { c.Period = 20 * time.Second }, "--period 20s"},
		{func(c *forecastBenchConfig) { c.Periods = 1 }, "--periods 1"},
		{func(c *forecastBenchConfig) { c.Profile = "saw" }, `--profile "saw"`},
		{func(c *forecastBenchConfig) { c.MinRate = 500 }, "--min-rate 500"},
		{func(c *forecastBenchConfig) { c.Lookahead = 2 * time.Minute }, "want less than --period"},
	} {
		cfg := ok
		c.change(&cfg)
		if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("validate() = %v, want an error with %q", err, c.want)
		}
	}
}
