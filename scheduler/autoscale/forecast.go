package autoscale

import (
	"math"
	"time"
)

// Holt-Winters smoothing factors: the seasonal shape is learnt from the
// first season and then adjusted season by season; the level follows the
// load over a third of a season or so (20 samples), the trend more slowly
// still (a lookahead multiplies it). A level that followed within a few
// samples (alpha 0.3) took every misfit of the shape at a sharp edge (the
// fall of a square wave, the first season's idle start) for a new level,
// and forecast the peak again in the low half for seasons on end.
const (
	forecastAlpha = 0.05
	forecastBeta  = 0.01
	forecastGamma = 0.3
	// SeasonSteps is how many samples a season holds (at most one a second).
	SeasonSteps = 60
)

// Forecaster is an additive Holt-Winters model (level, trend and one
// seasonal component per step of the season) of one service's metric. The
// leader feeds it every look with Observe; it averages the looks into
// samples of a fixed step (a season / SeasonSteps, at least a second) and
// forecasts once it has seen a whole season. It is pure: time comes in
// with every call.
type Forecaster struct {
	step time.Duration
	m    int // samples per season

	// The sample being gathered: looks since bucketStart.
	origin      time.Time // the start of sample 0
	bucketStart time.Time
	lastLook    time.Time
	sum         float64
	looks       int
	started     bool

	// first holds the first season's samples, until the model starts.
	first []float64
	n     int // samples seen
	level float64
	trend float64
	// seasonal[i] is the seasonal component of the samples i mod m.
	seasonal []float64
	last     float64
}

// NewForecaster returns a model for a load that repeats every season.
func NewForecaster(season time.Duration) *Forecaster {
	step := max(season/SeasonSteps, time.Second)
	m := max(int(season/step), 2)
	return &Forecaster{step: step, m: m, seasonal: make([]float64, m)}
}

// Step is the model's sample interval.
func (f *Forecaster) Step() time.Duration { return f.step }

// Ready reports whether the model has seen a whole season and forecasts.
func (f *Forecaster) Ready() bool { return f.n >= f.m }

// Observe adds one look at the metric at now. Steps without a look repeat
// the last sample, so that a leader's pause does not shift the season.
func (f *Forecaster) Observe(now time.Time, value float64) {
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return
	}
	if !f.started {
		f.started, f.origin, f.bucketStart = true, now, now
	}
	f.lastLook = now
	for !now.Before(f.bucketStart.Add(f.step)) {
		sample := f.last
		if f.looks > 0 {
			sample = f.sum / float64(f.looks)
		}
		f.add(sample)
		f.sum, f.looks = 0, 0
		f.bucketStart = f.bucketStart.Add(f.step)
	}
	f.sum += value
	f.looks++
}

// add is one Holt-Winters update with a finished sample.
func (f *Forecaster) add(x float64) {
	f.last = x
	i := f.n % f.m
	f.n++
	if f.n <= f.m {
		// Warm-up: the first season gives the initial level and shape.
		f.first = append(f.first, x)
		if f.n < f.m {
			return
		}
		mean := 0.0
		for _, v := range f.first {
			mean += v
		}
		mean /= float64(f.m)
		for j, v := range f.first {
			f.seasonal[j] = v - mean
		}
		f.level, f.trend, f.first = mean, 0, nil
		return
	}
	prev := f.level
	f.level = forecastAlpha*(x-f.seasonal[i]) + (1-forecastAlpha)*(f.level+f.trend)
	f.trend = forecastBeta*(f.level-prev) + (1-forecastBeta)*f.trend
	f.seasonal[i] = forecastGamma*(x-f.level) + (1-forecastGamma)*f.seasonal[i]
}

// Forecast predicts the metric h after the last look (never below 0): the
// value of the sample that time falls in. ok is false during the warm-up.
func (f *Forecaster) Forecast(h time.Duration) (value float64, ok bool) {
	if !f.Ready() {
		return 0, false
	}
	j := int(f.lastLook.Add(h).Sub(f.origin) / f.step)
	// The last finished sample has index n-1.
	k := max(j-(f.n-1), 1)
	i := (f.n - 1 + k) % f.m
	return max(f.level+float64(k)*f.trend+f.seasonal[i], 0), true
}
