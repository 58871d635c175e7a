package rollout

import (
	"fmt"
	"time"

	"flotilla/api"
)

// Comparison against the stable revision (as Kayenta does): the new
// revision fails when it is significantly worse at significance level
// compareAlpha *and* worse by a margin that matters, so that a large
// sample does not fail a revision over a difference nobody would notice.
const (
	compareAlpha = 0.01
	// errorMargin: the new revision's error rate must exceed the stable
	// one's by this much (absolute) to fail.
	errorMargin = 0.01
	// latencyRatio and latencyMargin: the new revision's median latency
	// must exceed the stable one's by this factor and this many
	// milliseconds to fail.
	latencyRatio  = 1.25
	latencyMargin = 5.0
)

// Analyze judges revision canary against revision stable from their
// figures over one analysis window. It is inconclusive while canary has
// served fewer than MinSamples requests; it fails on a threshold of cfg
// (maxErrorRate, maxP99Latency) or when canary is significantly worse than
// stable (a two-proportion test on errors, Mann-Whitney U on latency, each
// only when stable has MinSamples requests too); otherwise it passes.
func Analyze(cfg *api.AnalysisConfig, figures []api.TrafficFigures, canary, stable, step int, now time.Time) api.AnalysisRun {
	run := api.AnalysisRun{Time: now, Step: step, Verdict: api.VerdictPass}
	var c, s api.TrafficFigures
	for _, f := range figures {
		switch f.Revision {
		case canary:
			c = f
		case stable:
			s = f
		}
	}
	run.Canary = analysisFigures(canary, c)
	run.Stable = analysisFigures(stable, s)
	window := cfg.Interval.String()
	if c.Requests < MinSamples {
		run.Verdict, run.Metric = api.VerdictInconclusive, "samples"
		run.Message = fmt.Sprintf("revision %d served %d requests in the last %s; %d are needed for a verdict", canary, c.Requests, window, MinSamples)
		return run
	}
	both := fmt.Sprintf("revision %d: %s; stable revision %d: %s", canary, describe(run.Canary), stable, describe(run.Stable))
	fail := func(metric, format string, args ...any) api.AnalysisRun {
		run.Verdict, run.Metric = api.VerdictFail, metric
		run.Message = fmt.Sprintf(format, args...) + " (" + both + ")"
		return run
	}
	if cfg.MaxErrorRate != nil && run.Canary.ErrorRate > cfg.MaxErrorRate.Fraction() {
		return fail("errorRate", "error rate of revision %d is %.1f%% against %.1f%% for stable revision %d, above maxErrorRate %s",
			canary, 100*run.Canary.ErrorRate, 100*run.Stable.ErrorRate, stable, *cfg.MaxErrorRate)
	}
	if cfg.MaxP99Latency > 0 && run.Canary.P99Ms > float64(cfg.MaxP99Latency.Std())/float64(time.Millisecond) {
		return fail("p99Latency", "p99 latency of revision %d is %s against %s for stable revision %d, above maxP99Latency %s",
			canary, ms(run.Canary.P99Ms), ms(run.Stable.P99Ms), stable, cfg.MaxP99Latency)
	}
	if s.Requests >= MinSamples {
		if run.Canary.ErrorRate >= run.Stable.ErrorRate+errorMargin {
			if p := TwoProportionGreater(c.Errors, c.Requests, s.Errors, s.Requests); p < compareAlpha {
				return fail("errorsVsStable", "revision %d fails significantly more often than stable revision %d (%.1f%% against %.1f%%, p=%.4f)",
					canary, stable, 100*run.Canary.ErrorRate, 100*run.Stable.ErrorRate, p)
			}
		}
		if run.Canary.P50Ms >= latencyRatio*run.Stable.P50Ms && run.Canary.P50Ms >= run.Stable.P50Ms+latencyMargin {
			if p := MannWhitneyGreater(c.Latency, s.Latency); p < compareAlpha {
				return fail("latencyVsStable", "revision %d is significantly slower than stable revision %d (median %s against %s, p=%.4f)",
					canary, stable, ms(run.Canary.P50Ms), ms(run.Stable.P50Ms), p)
			}
		}
	}
	run.Message = both
	return run
}

func analysisFigures(rev int, f api.TrafficFigures) api.AnalysisFigures {
	out := api.AnalysisFigures{Revision: rev, Requests: f.Requests, Errors: f.Errors, P50Ms: f.P50Ms, P99Ms: f.P99Ms}
	if f.Requests > 0 {
		out.ErrorRate = float64(f.Errors) / float64(f.Requests)
	}
	return out
}

func describe(f api.AnalysisFigures) string {
	return fmt.Sprintf("%d requests, %.1f%% errors, p50 %s, p99 %s", f.Requests, 100*f.ErrorRate, ms(f.P50Ms), ms(f.P99Ms))
}

func ms(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.1fms", v)
	}
	return fmt.Sprintf("%.0fms", v)
}

// analyze runs the analysis when one is due, once the current step's
// traffic flows. It reports true, with what to run, when failures reached
// the limit and the rollout aborted.
func (d *decider) analyze() (bool, map[int]int) {
	cfg := d.spec.Analysis
	if cfg == nil || d.r.StepTime.IsZero() {
		return false, nil
	}
	interval := cfg.Interval.Std()
	if d.r.NextAnalysis.IsZero() {
		d.r.NextAnalysis = d.r.StepTime.Add(interval)
	}
	if d.now.Before(d.r.NextAnalysis) {
		d.recheck(d.r.NextAnalysis)
		return false, nil
	}
	var figures []api.TrafficFigures
	if d.in.Figures != nil {
		figures = d.in.Figures(interval)
	}
	run := Analyze(cfg, figures, d.r.Revision, d.r.StableRevision, d.r.Step, d.now)
	d.r.Analysis = append(d.r.Analysis, run)
	if n := len(d.r.Analysis); n > maxAnalysisRuns {
		d.r.Analysis = d.r.Analysis[n-maxAnalysisRuns:]
	}
	d.r.NextAnalysis = d.now.Add(interval)
	d.recheck(d.r.NextAnalysis)
	d.events = append(d.events, Event{Type: api.EventAnalysisRun,
		Message: fmt.Sprintf("%s/%s: analysis at step %d/%d: %s: %s", d.svc.Namespace, d.svc.Name, d.r.Step, d.r.Steps, run.Verdict, run.Message)})
	if run.Verdict != api.VerdictFail {
		return false, nil
	}
	d.r.Failures++
	limit := cfg.FailureLimitOrDefault()
	if d.r.Failures < limit {
		return false, nil
	}
	return true, d.abort(api.EventRolloutAborted, api.PhaseAborted, "aborted after %d failed analyses (failureLimit %d): %s; all traffic back to revision %d",
		d.r.Failures, limit, run.Message, d.r.StableRevision)
}
