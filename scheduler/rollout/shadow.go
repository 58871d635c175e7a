package rollout

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"flotilla/api"
	"flotilla/internal/text"
)

// Shadow rollouts. The new revision (the candidate) runs beside the stable
// one and gets no client traffic: the proxies copy shadow.percent of the
// requests of shadow.methods to it, compare its answers with the stable
// ones the clients got, and learn noise from a second stable replica
// (network/proxy/shadowdiff). The rollout moves through:
//
//	starting   the candidate's replicas start; nothing is mirrored yet
//	shadowing  (step 1/2) the route table mirrors to the candidate; every
//	           analysis interval (or ShadowRefresh without analysis) the
//	           merged comparison figures go into the state, and an analysis
//	           judges them with the candidate's own traffic figures
//	promoted   `rollout promote`: mirroring stops and the candidate ramps up
//	           over the stable revision as a ramped rollout (maxSurge 25%,
//	           maxUnavailable 0), then completes
//	aborted    `rollout abort` or failureLimit failed analyses: the
//	           candidate is stopped; clients never saw it
//
// Sizing. As Argo Rollouts sizes a canary by its weight (and an
// experiment's templates by their replicas), the candidate runs
// shadow.replicas when written, else its share of the replica count by
// percent, at least 1: a candidate that gets 20% of the requests of 10
// replicas runs 2, so it answers at about the load per replica the stable
// revision sees and its latency is comparable.
//
// A shadow rollout never promotes by itself: a passing analysis says the
// candidate answers as the stable revision does, and a person decides.

// shadowReplicas is how many replicas the candidate runs while it shadows:
// none while the service is scaled to zero (there is nothing to mirror).
func shadowReplicas(cfg *api.ShadowRollout, replicas int) int {
	if cfg == nil || replicas == 0 {
		return min(1, replicas)
	}
	if cfg.Replicas != nil {
		return max(*cfg.Replicas, 1)
	}
	return max(1, min(replicas, (replicas*int(cfg.Percent)+99)/100))
}

// ShadowBaseline is the share of mirrored requests a shadow rollout of svc
// also sends to a second stable replica: shadow.baseline, or 0 while the
// stable revision runs fewer than 2 replicas (there is no second one, and
// an endpoint whose noise is never learned would never be judged).
func ShadowBaseline(svc *api.Service) api.Percent {
	cfg := svc.Spec.Rollout.Shadow
	if cfg == nil || svc.Replicas < 2 {
		return 0
	}
	return cfg.BaselineOrDefault()
}

// promotedShadow: a shadow rollout that a person promoted, now a ramped
// rollout of its candidate.
func promotedShadow(r *api.Rollout) bool {
	return r.Strategy == api.RolloutShadow && !r.PromoteTime.IsZero()
}

// shadowing: the rollout mirrors to its candidate now.
func shadowing(r *api.Rollout) bool {
	return r.Strategy == api.RolloutShadow && r.Phase == api.PhaseProgressing && !r.Paused &&
		r.PromoteTime.IsZero() && !r.StepTime.IsZero()
}

// shadow moves a shadow rollout on (see above).
func (d *decider) shadow() map[int]int {
	cfg := d.spec.Shadow
	replicas, rev, stable := d.svc.Replicas, d.r.Revision, d.r.StableRevision
	if !d.r.PromoteTime.IsZero() {
		d.r.Promote, d.r.PromoteFull = false, false // asked again: it already ramps
		return d.ramped()
	}
	if d.r.Promote || d.r.PromoteFull {
		d.r.Promote, d.r.PromoteFull = false, false
		d.r.PromoteTime = d.now
		d.r.ProgressTime = d.now // the ramp's deadline counts from here, not from the shadow's start
		d.r.NextAnalysis = time.Time{}
		d.takeShadowStatus()
		d.r.Step = 0 // ramped counts the new revision's available replicas from here
		figures := ""
		if s := d.r.Shadow; s != nil {
			figures = fmt.Sprintf(" after %d comparisons (diff rate %s of %d judged)", s.Comparisons, pct(s.DiffRate), s.Judged)
		}
		d.event(api.EventRolloutPromoted, "promoted by hand%s: mirroring stops and revision %d ramps up to %s over revision %d",
			figures, rev, text.Count(replicas, "replica"), stable)
		return d.ramped()
	}
	need := shadowReplicas(cfg, replicas)
	desired := map[int]int{stable: replicas, rev: need}
	d.r.Steps = 2
	d.r.Weights = map[int]int{stable: 100}
	if d.r.StepTime.IsZero() {
		if avail := d.available(rev); avail < need {
			if failed, m := d.awaitReady("the shadow", avail, need); failed {
				return m
			}
			d.r.Reason = "starting the shadow: " + itoa(avail) + " of " + itoa(need) + " replica" + text.Plural(need) +
				" of revision " + itoa(rev) + " ready"
			d.r.Phase = api.PhaseProgressing
			if d.r.Paused {
				d.r.Phase = api.PhasePaused
			}
			return desired
		}
		d.r.Step, d.r.StepTime, d.r.NextAnalysis = 1, d.now, time.Time{}
		baseline := "no noise baseline"
		if b := ShadowBaseline(d.svc); b > 0 {
			baseline = fmt.Sprintf("%s of them also to a second replica of revision %d as the noise baseline", b, stable)
		}
		d.event(api.EventRolloutStep, "shadowing: %s of %s requests mirrored to revision %d (%s), %s; clients get revision %d's answers only",
			cfg.Percent, strings.Join(methodsOf(cfg), ", "), rev, text.Count(need, "replica"), baseline, stable)
	}
	if d.r.Paused {
		d.r.Phase = api.PhasePaused
		d.r.Reason = "shadowing paused by hand: nothing is mirrored until `flotilla rollout resume " + d.svc.Name + "`"
		return desired
	}
	d.r.Phase = api.PhaseProgressing
	if aborted, m := d.analyzeShadow(); aborted {
		return m
	}
	d.r.Reason = fmt.Sprintf("shadowing: %s of requests mirrored to revision %d", cfg.Percent, rev)
	if s := d.r.Shadow; s != nil {
		d.r.Reason += fmt.Sprintf(" (%d compared, diff rate %s of %d judged)", s.Comparisons, pct(s.DiffRate), s.Judged)
	}
	if n := len(d.r.Analysis); n > 0 {
		d.r.Reason += "; last analysis: " + d.r.Analysis[n-1].Verdict
	}
	d.r.Reason += "; `flotilla rollout promote " + d.svc.Name + "` ramps it up, `abort` discards it"
	return desired
}

func methodsOf(cfg *api.ShadowRollout) []string {
	if len(cfg.Methods) == 0 {
		return api.DefaultShadowMethods
	}
	return cfg.Methods
}

// analyzeShadow takes the comparison figures into the state when due
// (every analysis interval, or ShadowRefresh without analysis) and, with
// analysis, judges them. It reports true, with what to run, when failures
// reached the limit and the rollout aborted.
func (d *decider) analyzeShadow() (bool, map[int]int) {
	cfg := d.spec.Analysis
	interval := api.ShadowRefresh
	if cfg != nil {
		interval = cfg.Interval.Std()
	}
	if d.r.NextAnalysis.IsZero() {
		d.r.NextAnalysis = d.r.StepTime.Add(interval)
	}
	if d.now.Before(d.r.NextAnalysis) {
		d.recheck(d.r.NextAnalysis)
		return false, nil
	}
	report := d.takeShadowStatus()
	d.r.NextAnalysis = d.now.Add(interval)
	d.recheck(d.r.NextAnalysis)
	if cfg == nil {
		return false, nil // figures only; a person judges them
	}
	var figures []api.TrafficFigures
	if d.in.Figures != nil {
		figures = d.in.Figures(interval)
	}
	run := AnalyzeShadow(cfg, figures, report, d.r.Revision, d.r.StableRevision, d.r.Step, d.now)
	d.r.Analysis = append(d.r.Analysis, run)
	if n := len(d.r.Analysis); n > maxAnalysisRuns {
		d.r.Analysis = d.r.Analysis[n-maxAnalysisRuns:]
	}
	d.events = append(d.events, Event{Type: api.EventAnalysisRun,
		Message: fmt.Sprintf("%s/%s: shadow analysis of revision %d: %s: %s", d.svc.Namespace, d.svc.Name, d.r.Revision, run.Verdict, run.Message)})
	if run.Verdict != api.VerdictFail {
		return false, nil
	}
	d.r.Failures++
	limit := cfg.FailureLimitOrDefault()
	if d.r.Failures < limit {
		return false, nil
	}
	return true, d.abort(api.EventRolloutAborted, api.PhaseAborted, "aborted after %d failed analyses (failureLimit %d): %s; revision %d discarded (clients only ever got revision %d's answers)",
		d.r.Failures, limit, run.Message, d.r.Revision, d.r.StableRevision)
}

// takeShadowStatus reads the merged comparison figures into the state and
// returns them (nil when no proxy reported any).
func (d *decider) takeShadowStatus() *api.DiffReport {
	var report *api.DiffReport
	if d.in.Diffs != nil {
		report = d.in.Diffs(d.r)
	}
	d.r.Shadow = ShadowStatusOf(report, d.now)
	return report
}

// ShadowStatusOf sums up a merged report as the rollout state keeps it:
// the counts, the fields learned as noise and those that count against
// the candidate (most first), at most api.MaxShadowFields of each.
func ShadowStatusOf(r *api.DiffReport, now time.Time) *api.ShadowStatus {
	s := &api.ShadowStatus{Time: now}
	if r == nil {
		return s
	}
	s.Mirrored, s.Dropped = r.Mirrored, r.Dropped
	s.Comparisons, s.NoiseComparisons = r.Comparisons, r.NoiseComparisons
	s.Judged, s.Differing, s.DiffRate = r.Judged, r.Differing, r.DiffRate
	for _, e := range r.Endpoints {
		s.Learning = s.Learning || e.Learning
		for _, f := range e.Fields {
			if f.Noise && !slices.Contains(s.NoiseFields, f.Field) {
				s.NoiseFields = append(s.NoiseFields, f.Field)
			}
			if f.Counted > 0 {
				s.DiffFields = append(s.DiffFields, api.ShadowFieldDiff{Field: e.Endpoint + " " + f.Field, Counted: f.Counted, DiffRate: f.DiffRate})
			}
		}
	}
	slices.Sort(s.NoiseFields)
	if len(s.NoiseFields) > api.MaxShadowFields {
		s.NoiseFields = s.NoiseFields[:api.MaxShadowFields]
	}
	slices.SortFunc(s.DiffFields, func(a, b api.ShadowFieldDiff) int {
		return cmp.Or(cmp.Compare(b.Counted, a.Counted), strings.Compare(a.Field, b.Field))
	})
	if len(s.DiffFields) > api.MaxShadowFields {
		s.DiffFields = s.DiffFields[:api.MaxShadowFields]
	}
	return s
}

// AnalyzeShadow judges a shadow rollout's candidate: its comparison
// figures (report, merged over the proxies, cumulative since mirroring
// began) against maxDiffRate, and its own traffic figures over the
// window (the mirrored requests it answered) as Analyze does: maxErrorRate,
// maxP99Latency and significantly worse than the stable revision. A
// threshold crossed fails the run; otherwise it is inconclusive while
// fewer than MinSamples comparisons were judged (noise learned) or the
// candidate answered fewer than MinSamples requests in the window, and
// passes after.
func AnalyzeShadow(cfg *api.AnalysisConfig, figures []api.TrafficFigures, report *api.DiffReport, candidate, stable, step int, now time.Time) api.AnalysisRun {
	run := Analyze(cfg, figures, candidate, stable, step, now)
	status := ShadowStatusOf(report, now)
	status.NoiseFields, status.DiffFields = nil, nil // the rollout's Shadow lists them
	run.Shadow = status
	diffs := fmt.Sprintf("diff rate %s (%d of %d judged comparisons differ; %d compared, %d noise comparisons)",
		pct(status.DiffRate), status.Differing, status.Judged, status.Comparisons, status.NoiseComparisons)
	if top := topDiffFields(report, 3); top != "" {
		diffs += "; fields: " + top
	}
	enough := status.Judged >= MinSamples
	if cfg.MaxDiffRate != nil && enough && status.DiffRate > cfg.MaxDiffRate.Fraction() {
		run.Verdict, run.Metric = api.VerdictFail, "diffRate"
		run.Message = fmt.Sprintf("%s of revision %d, above maxDiffRate %s (revision %d: %s)",
			diffs, candidate, *cfg.MaxDiffRate, candidate, describe(run.Canary))
		return run
	}
	switch {
	case run.Verdict == api.VerdictFail:
		run.Message += "; " + diffs
	case cfg.MaxDiffRate != nil && !enough:
		run.Verdict, run.Metric = api.VerdictInconclusive, "samples"
		learning := ""
		if status.Learning {
			learning = ", noise still being learned"
		}
		run.Message = fmt.Sprintf("%d comparisons judged so far (%d compared, %d noise comparisons%s); %d are needed for a verdict on the diff rate",
			status.Judged, status.Comparisons, status.NoiseComparisons, learning, MinSamples)
	default:
		run.Message = diffs + "; " + run.Message
	}
	return run
}

// topDiffFields names the n fields that count most against the
// candidate, with their counts.
func topDiffFields(r *api.DiffReport, n int) string {
	s := ShadowStatusOf(r, time.Time{})
	var out []string
	for _, f := range s.DiffFields[:min(n, len(s.DiffFields))] {
		out = append(out, fmt.Sprintf("%s (%d, %s)", f.Field, f.Counted, pct(f.DiffRate)))
	}
	return strings.Join(out, ", ")
}

// shadowRoutes adds the mirror to the route table of a shadow rollout
// that is shadowing, and opens a promoted one to any ready replica while
// it ramps (as a ramped rollout's table is).
func shadowRoutes(svc *api.Service, r *api.Rollout, t api.RouteTable) api.RouteTable {
	if r == nil || r.Revision != svc.Revision || r.Strategy != api.RolloutShadow {
		return t
	}
	if promotedShadow(r) && r.Ramping() {
		return api.RouteTable{Split: []api.WeightedBackend{}}
	}
	cfg := svc.Spec.Rollout.Shadow
	if !shadowing(r) || cfg == nil {
		return t
	}
	t.Mirrors = append(t.Mirrors, api.Mirror{Backend: r.Revision, Rollout: r.StartIndex, Percent: cfg.Percent, Methods: methodsOf(cfg),
		Baseline: ShadowBaseline(svc), Compare: cfg.Compare})
	return t
}

func pct(rate float64) string { return fmt.Sprintf("%.1f%%", 100*rate) }
