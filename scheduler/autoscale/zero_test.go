package autoscale

import (
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

func zeroCfg(window time.Duration) api.Autoscale {
	return api.Autoscale{Min: 0, Max: 10, Metric: api.MetricInflight, Target: 5,
		Tolerance: new(api.Percent(10)), StabilizationWindow: new(api.Duration(window))}
}

// lookRecent is look with the scale-to-zero rule's activity figure.
func lookRecent(st *State, c api.Autoscale, current int, load, recent float64, now time.Time) Decision {
	return Decide(Input{Config: c, Current: current, Ready: current, Stable: load, Panic: load, HaveData: true,
		CanScaleDown: true, Recent: recent, Now: now}, st)
}

func TestIdleWindowIsTheStabilizationWindowAtLeast30s(t *testing.T) {
	for _, tc := range []struct {
		window, want time.Duration
	}{
		{0, MinIdleWindow},
		{10 * time.Second, MinIdleWindow},
		{30 * time.Second, 30 * time.Second},
		{5 * time.Minute, 5 * time.Minute},
	} {
		if got := IdleWindow(zeroCfg(tc.window)); got != tc.want {
			t.Errorf("stabilizationWindow %s: idle window %s, want %s", tc.window, got, tc.want)
		}
	}
}

func TestScalesToZeroOnlyWithMinZeroAndAProxyMetric(t *testing.T) {
	for _, tc := range []struct {
		min    int
		metric string
		want   bool
	}{
		{0, api.MetricInflight, true},
		{0, api.MetricRPS, true},
		{0, api.MetricCPU, false},
		{0, api.MetricMemory, false},
		{1, api.MetricInflight, false},
	} {
		c := zeroCfg(0)
		c.Min, c.Metric = tc.min, tc.metric
		if got := ScalesToZero(c); got != tc.want {
			t.Errorf("min %d metric %s: %v, want %v", tc.min, tc.metric, got, tc.want)
		}
	}
}

func TestIdleServiceGoesToZeroAfterTheIdleWindowOnly(t *testing.T) {
	c := zeroCfg(30 * time.Second)
	var st State
	now := t0
	// Busy first, then idle: nothing changes before 30 s without a request.
	if d := lookRecent(&st, c, 1, 1, 3, now); d.Desired != 1 {
		t.Fatalf("busy: desired %d (%s), want 1", d.Desired, d.Reason)
	}
	for i := 1; i < 30; i++ {
		now = t0.Add(time.Duration(i) * time.Second)
		if d := lookRecent(&st, c, 1, 0, 0, now); d.Desired != 1 || d.Changed {
			t.Fatalf("%s idle: desired %d (%s), want 1 until the idle window passes", now.Sub(t0), d.Desired, d.Reason)
		}
	}
	now = t0.Add(30 * time.Second)
	d := lookRecent(&st, c, 1, 0, 0, now)
	if d.Desired != 0 || !d.Changed || !strings.Contains(d.Reason, "scaled to zero") {
		t.Fatalf("after 30s idle: %+v, want 0 with the idle rule", d)
	}
}

func TestTheRatioFormulaStopsAtOneForMinZero(t *testing.T) {
	c := zeroCfg(30 * time.Second)
	var st State
	// A trickle of requests: the formula asks for 0, the floor is 1.
	for i := range 100 {
		d := lookRecent(&st, c, 3, 0.01, 1, t0.Add(time.Duration(i)*time.Second))
		if d.Desired < 1 {
			t.Fatalf("look %d: desired %d (%s): only the idle rule may go to zero", i, d.Desired, d.Reason)
		}
	}
}

func TestFreshlyWokenServiceKeepsItsReplicaForAWholeIdleWindow(t *testing.T) {
	c := zeroCfg(30 * time.Second)
	var st State
	// Idle for long enough at one replica: to zero.
	lookRecent(&st, c, 1, 0, 0, t0)
	if d := lookRecent(&st, c, 1, 0, 0, t0.Add(31*time.Second)); d.Desired != 0 {
		t.Fatalf("desired %d, want 0", d.Desired)
	}
	// At zero with nothing asked: stays at zero, even though the stable
	// window still holds requests from before the idle window.
	if d := lookRecent(&st, c, 0, 0.5, 0, t0.Add(32*time.Second)); d.Desired != 0 || d.Changed {
		t.Fatalf("at zero, idle: %+v, want to stay at 0", d)
	}
	// A proxy woke it (one replica) but the request left no figure yet:
	// the idle window starts again from the wake.
	woke := t0.Add(40 * time.Second)
	lookRecent(&st, c, 0, 0, 0, woke)
	for i := 1; i < 30; i++ {
		if d := lookRecent(&st, c, 1, 0, 0, woke.Add(time.Duration(i)*time.Second)); d.Desired != 1 {
			t.Fatalf("%ds after the wake: desired %d (%s), want 1", i, d.Desired, d.Reason)
		}
	}
	if d := lookRecent(&st, c, 1, 0, 0, woke.Add(31*time.Second)); d.Desired != 0 {
		t.Fatalf("a whole idle window after the wake: desired %d, want 0", d.Desired)
	}
}

// The wake can come between the look that takes a service to zero and the
// next one, before any figure shows the request it was for: that next look
// sees one replica and no traffic, and must not count the time before the
// scale to zero as idle (it once took the woken replica away at once, and
// the held request waited for the proxy's second wake, 5 s later).
func TestAWakeBeforeTheNextLookKeepsItsReplica(t *testing.T) {
	c := zeroCfg(30 * time.Second)
	var st State
	lookRecent(&st, c, 1, 0, 0, t0)
	zeroAt := t0.Add(31 * time.Second)
	if d := lookRecent(&st, c, 1, 0, 0, zeroAt); d.Desired != 0 || !d.Changed {
		t.Fatalf("after 31s idle: %+v, want to zero", d)
	}
	for i := 1; i < 30; i++ {
		now := zeroAt.Add(time.Duration(i) * time.Second)
		if d := lookRecent(&st, c, 1, 0, 0, now); d.Desired != 1 || d.Changed {
			t.Fatalf("woken, %ds after the scale to zero with no figure yet: %+v, want to keep 1", i, d)
		}
	}
	if d := lookRecent(&st, c, 1, 0, 0, zeroAt.Add(31*time.Second)); d.Desired != 0 {
		t.Fatalf("a whole idle window after the scale to zero: desired %d (%s), want 0", d.Desired, d.Reason)
	}
}

func TestOnlyAWakeBringsAServiceBackFromZeroThenPanicTakesOver(t *testing.T) {
	c := zeroCfg(30 * time.Second)
	var st State
	lookRecent(&st, c, 0, 0, 0, t0)
	// Figures of requests served or held a moment ago (a report late, or
	// from before a manual scale to zero) bring nothing back: the proxy's
	// wake does.
	for _, load := range []float64{0.5, 50} {
		if d := lookRecent(&st, c, 0, load, load, t0.Add(time.Second)); d.Desired != 0 || d.Changed {
			t.Fatalf("at zero with load %g: %+v, want to stay at 0 until a wake", load, d)
		}
	}
	// Woken to one with 50 requests waiting (in flight 50, target 5):
	// panic, limited to +4 of one.
	var st2 State
	lookRecent(&st2, c, 0, 0, 0, t0)
	d := lookRecent(&st2, c, 1, 50, 50, t0.Add(time.Second))
	if !d.Panic || d.Desired != 5 {
		t.Fatalf("50 waiting at 1 replica: %+v, want panic to 5", d)
	}
	// A panic never ends in zero, even once the idle window passed.
	if d := lookRecent(&st2, c, 5, 0, 0, t0.Add(40*time.Second)); d.Desired == 0 {
		t.Fatalf("in a panic: %+v, want no scale to zero", d)
	}
}

func TestMinAboveZeroNeverGoesToZero(t *testing.T) {
	c := zeroCfg(30 * time.Second)
	c.Min = 1
	var st State
	for i := range 200 {
		if d := lookRecent(&st, c, 1, 0, 0, t0.Add(time.Duration(i)*time.Second)); d.Desired != 1 {
			t.Fatalf("look %d: desired %d, want min 1", i, d.Desired)
		}
	}
}

// With stabilizationWindow 0 a service that scales to zero still waits
// MinIdleWindow without a request, so a pause between two bursts costs no
// cold start.
func TestStabilizationWindowZeroKeepsTheMinimumIdleWindow(t *testing.T) {
	c := zeroCfg(0)
	var st State
	lookRecent(&st, c, 1, 0, 0, t0)
	if d := lookRecent(&st, c, 1, 0, 0, t0.Add(MinIdleWindow-time.Second)); d.Desired != 1 {
		t.Fatalf("idle for less than %s: %+v, want 1", MinIdleWindow, d)
	}
	if d := lookRecent(&st, c, 1, 0, 0, t0.Add(MinIdleWindow)); d.Desired != 0 {
		t.Fatalf("idle for %s: %+v, want 0", MinIdleWindow, d)
	}
}
