package rollout

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"time"

	"flotilla/api"
	"flotilla/internal/sketch"
	"flotilla/internal/text"
)

// The A/B strategy. Variant A is the stable revision, B the new one.
//
//	step 1  B scales to its share of the replicas (the split of users; half
//	        of them when rules decide); once they are ready the experiment
//	        starts: the route table gives each user a variant (by rule, or
//	        by the salted hash of its user key) and A scales down to its
//	        share.
//	        Every interval the merged visitor sketches are counted and
//	        judged by AnalyzeAB; LooksDone, the merged sketches and the
//	        analysis go into the rollout state (Raft), so a new leader
//	        goes on from them. Until a final verdict the experiment runs.
//	verdict B wins: with autoPromote, promoted (step 2); A wins: with
//	        autoPromote, the rollout ends with A (aborted, B stopped);
//	        otherwise, and always for "no winner", it stays paused for a
//	        person: `rollout promote` (B) or `rollout abort` (A).
//	step 2  B scales to every replica; once they are ready it takes all
//	        traffic and A stops.
//
// A person may promote or abort at any time.

// ABVisitors are one variant's visitor sketches, merged over the proxies.
type ABVisitors struct {
	Visitors  sketch.HyperLogLog
	Converted sketch.HyperLogLog
}

// EventABVerdict records an A/B experiment's final verdict with its
// figures.
const EventABVerdict = "ABVerdict"

// abRetry is how soon an analysis that could not run (a new leader
// waiting for every proxy's figures) is tried again.
const abRetry = time.Second

// ABCookie is the cookie that holds an A/B user's key.
func ABCookie(service string) string { return "flotilla-ab-" + service }

// newABState is an A/B rollout's experiment as it starts. The salt comes
// from what every server applies the same way (the service, its revision
// and creation index, the start time from the Raft entry), so it is the
// same on every server and never drawn twice for two experiments.
func newABState(svc *api.Service, now time.Time) *api.ABState {
	h := fnv.New64a()
	h.Write([]byte(svc.Namespace + "/" + svc.Name))
	var n [24]byte
	binary.BigEndian.PutUint64(n[0:], uint64(svc.Revision))
	binary.BigEndian.PutUint64(n[8:], svc.CreateIndex)
	binary.BigEndian.PutUint64(n[16:], uint64(now.UnixNano()))
	h.Write(n[:])
	st := &api.ABState{Salt: strconv.FormatUint(h.Sum64(), 16)}
	if ab := svc.Spec.Rollout.AB; ab != nil {
		st.Goal, st.AutoPromote = ab.Goal.String(), ab.AutoPromote
	}
	return st
}

// abShare is the fraction of users B gets: the split, or one half of the
// replicas when rules decide (their share of traffic is unknown).
func abShare(ab *api.ABRollout) float64 {
	if len(ab.Match) > 0 {
		return 0.5
	}
	return ab.SplitOrDefault().Fraction()
}

// abReplicas splits the replica count by B's share of users: each variant
// at least one replica.
func abReplicas(share float64, replicas int) (a, b int) {
	b = max(1, int(math.Ceil(float64(replicas)*share-1e-9)))
	a = max(1, replicas-b)
	return a, b
}

func (d *decider) ab() map[int]int {
	spec := d.spec.AB
	replicas, rev, stable := d.svc.Replicas, d.r.Revision, d.r.StableRevision
	d.r.Steps = 2
	d.r.Phase = api.PhaseProgressing
	if d.r.AB == nil {
		d.r.AB = newABState(d.svc, d.r.StartTime)
	}
	st := *d.r.AB // the stored state is shared with the store: change a copy
	d.r.AB = &st
	needA, needB := abReplicas(abShare(spec), replicas)
	if (d.r.Promote || d.r.PromoteFull) && d.r.PromoteTime.IsZero() {
		d.r.Promote, d.r.PromoteFull = false, false
		d.r.PromoteTime = d.now
		d.event(api.EventRolloutPromoted, "promoted by hand: revision %d scales to %s and takes all traffic", rev, text.Count(replicas, "replica"))
	}
	if !d.r.PromoteTime.IsZero() {
		return d.finishAB(needA)
	}
	if d.r.Step == 0 {
		d.r.Step = 1
	}
	if d.r.StepTime.IsZero() {
		if avail := d.available(rev); avail < needB {
			if failed, m := d.awaitReady("variant B", avail, needB); failed {
				return m
			}
			d.r.Reason = fmt.Sprintf("A/B: waiting for %s of revision %d to be ready (%d ready)", text.Count(needB, "replica"), rev, avail)
			if d.r.Paused {
				d.r.Phase = api.PhasePaused
			}
			return map[int]int{stable: replicas, rev: needB}
		}
		d.r.Weights = map[int]int{stable: 100, rev: 0}
		who := "users matching a rule get revision " + itoa(rev)
		if len(spec.Match) == 0 {
			split := spec.SplitOrDefault()
			d.r.Weights = map[int]int{stable: 100 - int(math.Round(float64(split))), rev: int(math.Round(float64(split)))}
			who = fmt.Sprintf("%s of users get revision %d", split, rev)
		}
		d.r.StepTime = d.now
		d.r.NextAnalysis = d.now.Add(spec.IntervalOrDefault().Std())
		d.event(api.EventRolloutStep, "A/B experiment started: %s (%s), the others revision %d (%s); goal: %s",
			who, text.Count(needB, "replica"), stable, text.Count(needA, "replica"), spec.Goal)
	}
	desired := map[int]int{stable: needA, rev: needB}
	if st.Verdict == "" {
		d.analyzeAB()
	}
	summary := ""
	if d.r.AB.Last != nil {
		summary = abSummary(d.r.AB.Last)
	}
	person := fmt.Sprintf("`flotilla rollout promote %s` gives everyone revision %d, `flotilla rollout abort` keeps revision %d", d.svc.Name, rev, stable)
	switch ABVerdict(d.r.AB.Verdict) {
	case "":
		if d.r.Paused {
			d.r.Phase = api.PhasePaused
			d.r.Reason = "A/B experiment paused by hand (the analysis goes on; `flotilla rollout resume " + d.svc.Name + "`)"
		}
		return desired
	case ABWinnerB:
		if spec.AutoPromote && !d.r.Paused {
			d.r.PromoteTime = d.now
			d.event(api.EventRolloutPromoted, "%s; revision %d scales to %s and takes all traffic", summary, rev, text.Count(replicas, "replica"))
			return d.finishAB(needA)
		}
	case ABWinnerA:
		if spec.AutoPromote && !d.r.Paused {
			return d.abort(api.EventRolloutAborted, api.PhaseAborted, "%s; revision %d stopped, revision %d keeps all traffic", summary, rev, stable)
		}
	}
	// A verdict for a person: the experiment stays as it is.
	if d.r.Phase != api.PhasePaused {
		d.r.Phase = api.PhasePaused
	}
	reason := summary + "; " + person
	if d.r.Reason != reason {
		d.event(api.EventRolloutPaused, "%s", reason)
	}
	return desired
}

// finishAB scales B to the full count; once all of it is ready it takes
// all traffic and A stops. The experiment's routing holds meanwhile, so
// no user changes variant twice.
func (d *decider) finishAB(needA int) map[int]int {
	replicas, rev, stable := d.svc.Replicas, d.r.Revision, d.r.StableRevision
	d.r.NextAnalysis = time.Time{}
	if avail := d.available(rev); avail < replicas {
		if failed, m := d.awaitReady("the promotion", avail, replicas); failed {
			return m
		}
		d.r.Reason = "promoting: " + itoa(avail) + " of " + itoa(replicas) + " replicas of revision " + itoa(rev) + " ready"
		if d.r.AB.Verdict == string(ABWinnerB) && d.r.AB.Last != nil {
			d.r.Reason = abSummary(d.r.AB.Last) + "; " + d.r.Reason
		}
		if d.r.StepTime.IsZero() {
			needA = replicas // no experiment ran: A keeps serving everyone
		}
		return map[int]int{stable: needA, rev: replicas}
	}
	d.r.Step = d.r.Steps
	return d.complete("revision %d promoted: all traffic, %s; stable revision %d stopped", rev, text.Count(replicas, "replica"), stable)
}

// analyzeAB runs the analysis when one is due.
func (d *decider) analyzeAB() {
	spec := d.spec.AB
	interval := spec.IntervalOrDefault().Std()
	if d.r.NextAnalysis.IsZero() {
		d.r.NextAnalysis = d.r.StepTime.Add(interval)
	}
	if d.now.Before(d.r.NextAnalysis) {
		d.recheck(d.r.NextAnalysis)
		return
	}
	var live map[int]*ABVisitors
	complete := false
	if d.in.ABVisitors != nil {
		live, complete = d.in.ABVisitors(d.r.AB.Salt)
	}
	if !complete {
		// A leader that has not yet had every proxy's report (a new one)
		// would judge part of the figures: wait for them.
		d.r.NextAnalysis = d.now.Add(abRetry)
		d.recheck(d.r.NextAnalysis)
		d.r.Reason = "A/B: waiting for every proxy's visitor figures before the next analysis"
		return
	}
	stable, rev := d.r.StableRevision, d.r.Revision
	merged := map[int]*ABVisitors{stable: {}, rev: {}}
	for _, s := range d.r.AB.Sketches {
		m := merged[s.Revision]
		if m == nil {
			continue
		}
		// Written by this code: a sketch that does not decode is a
		// corrupt Raft entry.
		for _, part := range []struct {
			to  *sketch.HyperLogLog
			raw []byte
		}{{&m.Visitors, s.Visitors}, {&m.Converted, s.Converted}} {
			h, err := sketch.Decode(part.raw)
			if err != nil {
				panic(fmt.Sprintf("rollout %s/%s: stored A/B sketch of revision %d: %v", d.svc.Namespace, d.svc.Name, s.Revision, err))
			}
			part.to.Merge(h)
		}
	}
	for r, v := range live {
		if m := merged[r]; m != nil && v != nil {
			m.Visitors.Merge(&v.Visitors)
			m.Converted.Merge(&v.Converted)
		}
	}
	variant := func(r int) ABVariant {
		return ABVariant{Visitors: merged[r].Visitors.Count(), Conversions: merged[r].Converted.Count()}
	}
	cfg := ABConfig{Confidence: spec.ConfidenceOrDefault().Fraction(), MinDetectableLift: spec.MinDetectableLiftOrDefault().Fraction()}
	if spec.MinSample != nil {
		cfg.MinSample = int64(*spec.MinSample)
	}
	res := AnalyzeAB(cfg, variant(stable), variant(rev), d.r.AB.LooksDone)
	d.r.AB.LooksDone = res.LooksDone
	d.r.AB.Last = abAnalysis(res, stable, rev, d.now)
	d.r.AB.Sketches = nil
	for _, r := range []int{stable, rev} {
		v, _ := merged[r].Visitors.MarshalBinary() // never fails
		c, _ := merged[r].Converted.MarshalBinary()
		d.r.AB.Sketches = append(d.r.AB.Sketches, api.ABSketch{Revision: r, Visitors: v, Converted: c})
	}
	d.events = append(d.events, Event{Type: api.EventAnalysisRun,
		Message: fmt.Sprintf("%s/%s: A/B analysis: %s: %s", d.svc.Namespace, d.svc.Name, res.Verdict, res.Message)})
	d.r.Reason = "A/B experiment: " + string(res.Verdict) + ": " + res.Message
	if res.Verdict == ABInconclusive {
		d.r.NextAnalysis = d.now.Add(interval)
		d.recheck(d.r.NextAnalysis)
		return
	}
	d.r.AB.Verdict = string(res.Verdict)
	d.r.NextAnalysis = time.Time{}
	d.events = append(d.events, Event{Type: EventABVerdict,
		Message: fmt.Sprintf("A/B %s/%s: %s", d.svc.Namespace, d.svc.Name, abSummary(d.r.AB.Last))})
}

// abAnalysis is an analysis as the rollout state keeps it.
func abAnalysis(res ABResult, a, b int, now time.Time) *api.ABAnalysis {
	est := func(e Estimate) api.ABEstimate { return api.ABEstimate{Value: e.Value, Low: e.Low, High: e.High} }
	out := &api.ABAnalysis{
		Time: now, Verdict: string(res.Verdict), Message: res.Message,
		A:          api.ABVariantFigures{Revision: a, Visitors: res.A.Visitors, Conversions: res.A.Conversions, Rate: est(res.A.Rate)},
		B:          api.ABVariantFigures{Revision: b, Visitors: res.B.Visitors, Conversions: res.B.Conversions, Rate: est(res.B.Rate)},
		Difference: est(res.Difference), PValue: res.PValue, MinSample: res.MinSample,
		Look: res.Look, Alpha: res.Alpha, LooksDone: res.LooksDone, NextLook: res.NextLook,
	}
	if res.Lift != nil {
		l := est(*res.Lift)
		out.Lift = &l
	}
	return out
}

// abSummary is a verdict with its figures: "B wins: conversion B 15.2%
// [13.1, 17.4] vs A 10.1% [8.8, 11.6], lift +50% [+28, +76], p=0.0004,
// n=2013/1987 (B/A)".
func abSummary(a *api.ABAnalysis) string {
	rate := func(v api.ABVariantFigures) string {
		return fmt.Sprintf("%.1f%% [%.1f, %.1f]", 100*v.Rate.Value, 100*v.Rate.Low, 100*v.Rate.High)
	}
	lift := "n/a (a variant has no conversion)"
	if a.Lift != nil {
		lift = fmt.Sprintf("%+.0f%% [%+.0f, %+.0f]", 100*a.Lift.Value, 100*a.Lift.Low, 100*a.Lift.High)
	}
	return fmt.Sprintf("%s: conversion B %s vs A %s, lift %s, p=%.2g, n=%d/%d (B/A)",
		a.Verdict, rate(a.B), rate(a.A), lift, a.PValue, a.B.Visitors, a.A.Visitors)
}

// abRoutes gives a running experiment's route table its rules and its
// A/B route; other rollouts keep t as it is.
func abRoutes(svc *api.Service, r *api.Rollout, t api.RouteTable) api.RouteTable {
	spec := svc.Spec.Rollout.AB
	if !r.Active() || r.Strategy != api.RolloutAB || r.AB == nil || r.StepTime.IsZero() || spec == nil {
		return t
	}
	for _, m := range spec.Match {
		t.Rules = append(t.Rules, api.RouteRule{Match: m, Backend: r.Revision})
	}
	t.AB = &api.ABRoute{Salt: r.AB.Salt, A: r.StableRevision, B: r.Revision, Split: spec.SplitOrDefault(),
		Cookie: ABCookie(svc.Name), UserHeader: spec.UserHeader, Goal: spec.Goal}
	return t
}
