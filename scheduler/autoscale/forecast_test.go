package autoscale

import (
	"strings"

	"flotilla/api"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

var forecastEpoch = time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)

// feed observes series(t) once a second for d, from forecastEpoch+from.
func feed(f *Forecaster, from, d time.Duration, series func(t time.Duration) float64) {
	for t := from; t < from+d; t += time.Second {
		f.Observe(forecastEpoch.Add(t), series(t))
	}
}

func TestForecastNotBeforeWarmUp(t *testing.T) {
	f := NewForecaster(time.Minute)
	if _, ok := f.Forecast(10 * time.Second); ok {
		t.Fatal("a forecast from an empty model")
	}
	feed(f, 0, 59*time.Second, func(time.Duration) float64 { return 10 })
	if _, ok := f.Forecast(10 * time.Second); ok {
		t.Fatal("a forecast before a whole season was seen")
	}
	feed(f, 59*time.Second, 2*time.Second, func(time.Duration) float64 { return 10 })
	if v, ok := f.Forecast(10 * time.Second); !ok || math.Abs(v-10) > 1e-9 {
		t.Fatalf("after a season of a constant 10: forecast %v, %v; want 10", v, ok)
	}
}

func TestForecastSineWithNoise(t *testing.T) {
	const season = 10 * time.Minute // 10 s samples
	rng := rand.New(rand.NewPCG(12, 3))
	sine := func(t time.Duration) float64 {
		return 100 + 50*math.Sin(2*math.Pi*t.Seconds()/season.Seconds())
	}
	noisy := func(t time.Duration) float64 { return sine(t) + rng.NormFloat64()*5 }
	f := NewForecaster(season)
	feed(f, 0, 2*season, noisy)
	const lookahead = time.Minute
	worst := 0.0
	// Over the third season, compare each forecast with the true curve.
	for at := 2 * season; at < 3*season; at += f.Step() {
		v, ok := f.Forecast(lookahead)
		if !ok {
			t.Fatal("no forecast after two seasons")
		}
		worst = max(worst, math.Abs(v-sine(at+lookahead)))
		feed(f, at, f.Step(), noisy)
	}
	// The amplitude is 50: a forecast off by 10 still sees the peak coming.
	if worst > 10 {
		t.Errorf("worst error of a forecast %s ahead = %.1f, want at most 10", lookahead, worst)
	}
}

func TestForecastSeesASquareWavesRiseBeforeIt(t *testing.T) {
	const season = time.Minute
	rng := rand.New(rand.NewPCG(7, 7))
	// Low (20) for the first half of each season, high (300) for the second.
	square := func(t time.Duration) float64 {
		v := 20.0
		if t%season >= season/2 {
			v = 300
		}
		return v + rng.NormFloat64()*3
	}
	f := NewForecaster(season)
	feed(f, 0, 2*season+20*time.Second, square) // the last look 11 s before the third rise
	if v, ok := f.Forecast(11 * time.Second); !ok || v < 250 {
		t.Errorf("11 s before the rise: forecast %.1f (%v), want the high 300 (at least 250)", v, ok)
	}
	if v, _ := f.Forecast(5 * time.Second); v > 70 {
		t.Errorf("5 s ahead, still low: forecast %.1f, want near 20 (at most 70)", v)
	}
}

// The load of `flotilla bench forecast` as the leader's model reads it: a
// square wave of 1 then 20 in flight every 2 minutes, whose fall the panic
// window's 6 s average spreads over 6 s, behind 8 s without any load (the
// service was applied before its traffic came, so the model's first season
// starts idle). The level must not take each edge's misfit for a new level:
// in the low half the forecast stays low (it once said 18.5 there, asking
// for the peak's 4 replicas for nothing), and it still sees each rise
// coming.
func TestForecastDoesNotSeeThePeakInTheLowHalf(t *testing.T) {
	const season, lookahead, idle = 2 * time.Minute, 15 * time.Second, 8 * time.Second
	load := func(t time.Duration) float64 {
		t -= idle
		phase := t % season
		switch {
		case t < 0:
			return 0
		case phase >= season/2:
			return 20
		case t >= season && phase < 6*time.Second:
			return 20 - 19*phase.Seconds()/6
		}
		return 1
	}
	f := NewForecaster(season)
	feed(f, 0, idle+season, load)
	for period := 2; period <= 4; period++ {
		start := idle + time.Duration(period-1)*season
		lowest, highest := math.Inf(1), 0.0
		for at := start; at < start+season; at += time.Second {
			feed(f, at, time.Second, load)
			v, ok := f.Forecast(lookahead)
			if !ok {
				t.Fatalf("period %d: no forecast", period)
			}
			switch phase := at - start; {
			case phase <= 40*time.Second: // forecasts of the low half
				highest = max(highest, v)
			case phase >= season/2-lookahead && phase < season/2: // of the rise
				lowest = min(lowest, v)
			}
		}
		if highest > 7.5 {
			t.Errorf("period %d: forecast up to %.1f in the low half (the load there is 1), want at most 7.5", period, highest)
		}
		if lowest < 18 {
			t.Errorf("period %d: forecast %.1f within %s of the rise to 20, want 18 at least", period, lowest, lookahead)
		}
	}
}

func TestForecastKeepsTheSeasonAcrossMissedLooks(t *testing.T) {
	f := NewForecaster(time.Minute)
	phase := func(t time.Duration) float64 { return float64(t % time.Minute / time.Second) }
	feed(f, 0, 90*time.Second, phase)
	feed(f, 100*time.Second, 80*time.Second, phase) // a 10 s pause at 90 s
	v, _ := f.Forecast(5 * time.Second)
	if want := phase(180*time.Second + 4*time.Second); math.Abs(v-want) > 8 {
		t.Errorf("forecast %.1f, want near %.1f", v, want)
	}
}

func forecastCfg() api.Autoscale {
	c := cfg(1, 12, 5)
	c.Forecast = &api.Forecast{Season: api.Duration(time.Minute), Lookahead: api.Duration(10 * time.Second)}
	return c
}

func TestForecastScalesUpAheadOfAPeak(t *testing.T) {
	st := &State{}
	// 2 replicas carry 10 in flight; the forecast says 42 in 10 s.
	d := Decide(Input{Config: forecastCfg(), Current: 2, Ready: 2, Stable: 10, Panic: 10, HaveData: true,
		CanScaleDown: true, Forecast: 42, HaveForecast: true, Now: t0}, st)
	if d.Desired != 6 || !d.Changed { // +4 per 15 s from 2
		t.Errorf("desired = %d, want 6 (9 asked, limited to +4)", d.Desired)
	}
	if !strings.Contains(d.Reason, "(forecast 42.0 in 10s: 9 replicas)") {
		t.Errorf("reason %q does not say the forecast decided", d.Reason)
	}
}

func TestForecastNeverScalesBelowTheReactiveCount(t *testing.T) {
	st := &State{}
	d := Decide(Input{Config: forecastCfg(), Current: 4, Ready: 4, Stable: 40, Panic: 40, HaveData: true,
		CanScaleDown: true, Forecast: 5, HaveForecast: true, Now: t0}, st)
	if d.Desired != 8 || strings.Contains(d.Reason, "forecast") {
		t.Errorf("desired = %d (%q), want the reactive 8", d.Desired, d.Reason)
	}
}

func TestForecastIsHeldByTheStabilizationWindow(t *testing.T) {
	st := &State{}
	c := forecastCfg()
	Decide(Input{Config: c, Current: 2, Ready: 2, Stable: 10, Panic: 10, HaveData: true,
		CanScaleDown: true, Forecast: 30, HaveForecast: true, Now: t0}, st)
	// The peak passed without coming: the count stays for the window.
	d := Decide(Input{Config: c, Current: 6, Ready: 6, Stable: 10, Panic: 10, HaveData: true,
		CanScaleDown: true, Forecast: 10, HaveForecast: true, Now: t0.Add(30 * time.Second)}, st)
	if d.Desired != 6 {
		t.Errorf("desired = %d, want 6 held by the stabilization window", d.Desired)
	}
	d = Decide(Input{Config: c, Current: 6, Ready: 6, Stable: 10, Panic: 10, HaveData: true,
		CanScaleDown: true, Forecast: 10, HaveForecast: true, Now: t0.Add(2 * time.Minute)}, st)
	if d.Desired != 2 {
		t.Errorf("after the window: desired = %d, want 2", d.Desired)
	}
}

func TestNoForecastWithoutTheBlock(t *testing.T) {
	d := Decide(Input{Config: cfg(1, 12, 5), Current: 2, Ready: 2, Stable: 10, Panic: 10, HaveData: true,
		CanScaleDown: true, Forecast: 42, HaveForecast: true, Now: t0}, &State{})
	if d.Desired != 2 {
		t.Errorf("desired = %d, want 2: no forecast block", d.Desired)
	}
}
