package autoscale

import (
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func cfg(min, max int, target float64) api.Autoscale {
	return api.Autoscale{Min: min, Max: max, Metric: api.MetricInflight, Target: target,
		Tolerance: new(api.Percent(10)), StabilizationWindow: new(api.Duration(60 * time.Second))}
}

// run feeds Decide a steady load and returns the decision.
func look(st *State, c api.Autoscale, current int, stable, panic float64, now time.Time) Decision {
	return Decide(Input{Config: c, Current: current, Ready: current, Stable: stable, Panic: panic, HaveData: true, CanScaleDown: true, Now: now}, st)
}

func TestRatioFormulaToleranceAndLimits(t *testing.T) {
	for _, tc := range []struct {
		name           string
		current        int
		total          float64
		want           int
		reasonContains string
		minR, maxR     int
	}{
		{"at target", 4, 40, 4, "within 10%", 2, 12},
		{"within tolerance above", 4, 43, 4, "within 10%", 2, 12},
		{"over: ceil(total/target)", 4, 61, 7, "inflight 15.2 per replica", 2, 12},
		{"capped at max", 4, 500, 8, "at most double", 2, 12}, // the rate limit bites first
		{"never below min", 4, 1, 2, "", 2, 12},
		{"max", 10, 400, 12, "capped at max 12", 2, 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st State
			d := look(&st, cfg(tc.minR, tc.maxR, 10), tc.current, tc.total, tc.total, t0)
			if tc.name == "never below min" {
				// A fresh state has no history: the stabilisation window
				// holds nothing above, so it goes down at once.
				if d.Desired != 2 {
					t.Fatalf("desired %d, want min 2", d.Desired)
				}
				return
			}
			if d.Desired != tc.want || d.Changed != (tc.want != tc.current) {
				t.Fatalf("desired %d changed %v (%s), want %d", d.Desired, d.Changed, d.Reason, tc.want)
			}
			if !strings.Contains(d.Reason, tc.reasonContains) {
				t.Fatalf("reason %q lacks %q", d.Reason, tc.reasonContains)
			}
		})
	}
}

func TestPanicScalesUpAtOnceAndHoldsTheCount(t *testing.T) {
	var st State
	c := cfg(2, 40, 5)
	// A surge: the short window sees 10x the stable one.
	d := look(&st, c, 2, 12, 100, t0)
	if !d.Panic || d.Desired != 6 || !strings.Contains(d.Reason, "(panic)") {
		// 100/5 = 20 wanted, limited to max(2*2, 2+4) = 6 per 15 s.
		t.Fatalf("surge: %+v, want panic to 6 (rate limited)", d)
	}
	d = look(&st, c, 6, 50, 100, t0.Add(16*time.Second))
	if d.Desired != 12 || !d.Panic {
		t.Fatalf("16 s later: %+v, want 12 (double of 6)", d)
	}
	// The load is gone but the panic holds the count.
	d = look(&st, c, 12, 0, 0, t0.Add(30*time.Second))
	if d.Desired != 12 || !d.Panic {
		t.Fatalf("in the panic with no load: %+v, want 12 kept", d)
	}
	// After the panic (60 s after the surge was last seen) and the
	// stabilisation window, back to min.
	d = look(&st, c, 12, 0, 0, t0.Add(16*time.Second+StableWindow+time.Second))
	if d.Panic {
		t.Fatalf("still in panic: %+v", d)
	}
	d = look(&st, c, d.Desired, 0, 0, t0.Add(16*time.Second+2*StableWindow+2*time.Second))
	if d.Desired != 2 {
		t.Fatalf("after the windows: %+v, want min 2", d)
	}
}

// In a panic, a figure within tolerance of the target leaves the count
// alone, as out of one: 4 replicas at 101 rps (25.25 each, target 25) stay
// 4 rather than ceil(101/25) = 5.
func TestPanicKeepsTheTolerance(t *testing.T) {
	var st State
	c := cfg(1, 8, 25)
	if d := look(&st, c, 1, 25, 100, t0); !d.Panic || d.Desired != 4 {
		t.Fatalf("surge: %+v, want panic to 4", d)
	}
	d := look(&st, c, 4, 101, 101, t0.Add(time.Second))
	if !d.Panic || d.Desired != 4 || d.Changed {
		t.Fatalf("in the panic, within tolerance: %+v, want 4 kept", d)
	}
	if d := look(&st, c, 4, 101, 130, t0.Add(2*time.Second)); d.Desired <= 4 {
		t.Fatalf("in the panic, 30%% over: %+v, want more than 4", d)
	}
}

func TestStabilizationWindowHoldsScaleDown(t *testing.T) {
	var st State
	c := cfg(1, 20, 10)
	if d := look(&st, c, 5, 50, 50, t0); d.Changed {
		t.Fatalf("steady: %+v", d)
	}
	// The load halves: within the window the old recommendation (5)
	// holds.
	for i := 1; i <= 29; i++ {
		if d := look(&st, c, 5, 20, 20, t0.Add(time.Duration(2*i)*time.Second)); d.Desired != 5 {
			t.Fatalf("at %ds: %+v, want 5 held by the window", 2*i, d)
		}
	}
	d := look(&st, c, 5, 20, 20, t0.Add(62*time.Second))
	if d.Desired != 2 {
		t.Fatalf("after the window: %+v, want 2", d)
	}
}

// Under a noisy constant load the count changes direction at most once per
// stabilisation window.
func TestNoisyLoadFlapsAtMostOncePerWindow(t *testing.T) {
	var st State
	c := cfg(1, 30, 10)
	current := 10
	lastDir, flips := 0, 0
	var flipTimes []time.Time
	for i := 0; i < 300; i++ {
		now := t0.Add(time.Duration(2*i) * time.Second)
		noise := []float64{0.8, 1.2, 0.9, 1.15, 0.85, 1.1}[i%6]
		d := look(&st, c, current, 100*noise, 100*noise, now)
		if d.Changed {
			dir := 1
			if d.Desired < current {
				dir = -1
			}
			if lastDir != 0 && dir != lastDir {
				flips++
				flipTimes = append(flipTimes, now)
			}
			lastDir, current = dir, d.Desired
		}
	}
	for i := 1; i < len(flipTimes); i++ {
		if flipTimes[i].Sub(flipTimes[i-1]) < 60*time.Second {
			t.Fatalf("changed direction twice within a window: %v", flipTimes)
		}
	}
	if current < 8 || current > 13 {
		t.Fatalf("settled at %d for a load of ~100 at target 10", current)
	}
}

func TestNoScaleDownBeforeAWholeWindowOfFigures(t *testing.T) {
	var st State
	d := Decide(Input{Config: cfg(1, 10, 5), Current: 6, Stable: 0, Panic: 0, HaveData: true, Now: t0}, &st)
	if d.Changed || !strings.Contains(d.Reason, "no scale down before") {
		t.Fatalf("%+v, want 6 kept", d)
	}
	if d := Decide(Input{Config: cfg(1, 10, 5), Current: 6, Stable: 60, Panic: 60, HaveData: true, Now: t0}, &st); d.Desired != 10 {
		t.Fatalf("scale up without a whole window: %+v, want it allowed", d)
	}
}

func TestNoFiguresNoChange(t *testing.T) {
	var st State
	d := Decide(Input{Config: cfg(2, 10, 5), Current: 4, Now: t0}, &st)
	if d.Changed || d.Desired != 4 || d.Reason == "" {
		t.Fatalf("%+v, want 4 kept with a reason", d)
	}
}

// tolerance 0 is a value (as in HPA): any difference from the target
// changes the count; only an exact match leaves it alone.
func TestToleranceZeroReactsToAnyDifference(t *testing.T) {
	c := cfg(1, 20, 10)
	c.Tolerance = new(api.Percent(0))
	for _, tc := range []struct {
		total float64
		want  int
	}{
		{40, 4},   // exactly on target
		{40.5, 5}, // 1.25% over: ceil(40.5/10)
		{42, 5},   // within the default 10%, not within 0%
	} {
		var st State
		if d := look(&st, c, 4, tc.total, tc.total, t0); d.Desired != tc.want {
			t.Errorf("4 replicas, total %g, tolerance 0: %+v, want %d", tc.total, d, tc.want)
		}
	}
	var st State
	if d := look(&st, cfg(1, 20, 10), 4, 42, 42, t0); d.Desired != 4 || !strings.Contains(d.Reason, "within 10%") {
		t.Errorf("total 42 with the default tolerance: %+v, want 4 kept within 10%%", d)
	}
}

// stabilizationWindow 0 is a value (as in HPA): a scale down happens at
// the first look that asks for it, with nothing held from before.
func TestStabilizationWindowZeroScalesDownAtOnce(t *testing.T) {
	var st State
	c := cfg(1, 20, 10)
	c.StabilizationWindow = new(api.Duration(0))
	if d := look(&st, c, 5, 50, 50, t0); d.Changed {
		t.Fatalf("steady: %+v", d)
	}
	d := look(&st, c, 5, 20, 20, t0.Add(2*time.Second))
	if d.Desired != 2 || strings.Contains(d.Reason, "held") {
		t.Fatalf("2s after the load halved: %+v, want 2 at once", d)
	}
}

// A config built without SetDefaults (nil tolerance and window) reads as
// the defaults, 10% and 5m, rather than as 0.
func TestUnsetToleranceAndWindowReadAsTheDefaults(t *testing.T) {
	c := api.Autoscale{Min: 1, Max: 20, Metric: api.MetricInflight, Target: 10}
	var st State
	if d := look(&st, c, 4, 42, 42, t0); d.Desired != 4 {
		t.Fatalf("total 42 on 4 replicas: %+v, want 4 kept within the default 10%%", d)
	}
	look(&st, c, 4, 40, 40, t0.Add(time.Second))
	if d := look(&st, c, 4, 20, 20, t0.Add(4*time.Minute)); d.Desired != 4 || !strings.Contains(d.Reason, "5m stabilization window") {
		t.Fatalf("4m after a recommendation of 4: %+v, want 4 held by the default 5m window", d)
	}
}

// A rise below the panic threshold: the stable window still averages the
// quiet minute before it and asks for fewer, but the short window asks
// for the current count. No scale down then; once the short window too
// asks for fewer, the count goes down (window 0 here, so at once).
func TestNoScaleDownWhileTheShortWindowAsksForTheCount(t *testing.T) {
	c := cfg(1, 12, 5)
	c.StabilizationWindow = new(api.Duration(0))
	var st State
	d := look(&st, c, 4, 10, 19, t0) // stable wants 2, the last 6 s want 4 (not twice: no panic)
	if d.Changed || d.Panic || !strings.Contains(d.Reason, "no scale down while the last 6s asks for 4") {
		t.Fatalf("%+v, want the count kept by the short window", d)
	}
	d = look(&st, c, 4, 10, 14, t0.Add(time.Second)) // the last 6 s want 3
	if d.Desired != 2 {
		t.Fatalf("%+v, want down to the stable window's 2 once the short window asks for fewer", d)
	}
}
