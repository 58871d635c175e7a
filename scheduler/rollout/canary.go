package rollout

import (
	"time"

	"flotilla/api"
	"flotilla/internal/text"
)

// canaryReplicas is how many replicas of the new revision a weight needs:
// its share of the replica count, at least one; all of them at 100%. A
// service scaled to zero runs none: a canary replica would take every
// request while the stable revision sleeps (no proxy holds a request, and
// wakes it, while one replica is ready); the wake brings both up.
func canaryReplicas(weight, replicas int) int {
	if weight >= 100 || replicas == 0 {
		return replicas
	}
	return max(1, (replicas*weight+99)/100)
}

// canary shifts traffic to the new revision in steps of weight set in the
// proxies (not by replica ratio). Each step first scales the new revision
// to its share, then sets the weight, then waits for its pause (timed or
// manual) and, with analysis, for a passing verdict. The stable revision
// keeps every replica until the end, so that an abort only moves traffic.
// After the last step the new revision is scaled to the full count, gets
// all traffic, and the stable revision stops.
func (d *decider) canary() map[int]int {
	steps := d.spec.Canary.Steps
	replicas, rev, stable := d.svc.Replicas, d.r.Revision, d.r.StableRevision
	d.r.Steps = len(steps)
	d.r.Phase = api.PhaseProgressing
	if d.r.PromoteFull && d.r.PromoteTime.IsZero() {
		d.r.PromoteTime = d.now
		d.event(api.EventRolloutPromoted, "promoted fully by hand at step %d/%d: revision %d scales to %s and takes all traffic",
			d.r.Step, len(steps), rev, text.Count(replicas, "replica"))
	}
	if !d.r.PromoteTime.IsZero() {
		return d.finishCanary()
	}
	if d.r.Step == 0 {
		d.r.Step, d.r.StepTime = 1, time.Time{}
	}
	k := d.r.Step
	step := steps[k-1]
	need := canaryReplicas(step.Weight, replicas)
	desired := map[int]int{stable: replicas, rev: need}
	if d.r.StepTime.IsZero() {
		if avail := d.available(rev); avail < need {
			if failed, m := d.awaitReady("step "+itoa(k)+"/"+itoa(len(steps)), avail, need); failed {
				return m
			}
			d.r.Reason = "step " + itoa(k) + "/" + itoa(len(steps)) + ": waiting for " + itoa(need) +
				" replica" + text.Plural(need) + " of revision " + itoa(rev) + " to be ready (" + itoa(avail) + " ready)"
			if d.r.Paused {
				d.r.Phase = api.PhasePaused
			}
			return desired
		}
		d.r.Weights = map[int]int{rev: step.Weight}
		if step.Weight < 100 {
			d.r.Weights[stable] = 100 - step.Weight
		}
		d.r.StepTime = d.now
		d.r.NextAnalysis, d.r.PauseUntil = time.Time{}, time.Time{}
		if step.Pause != nil && !step.Pause.Manual {
			d.r.PauseUntil = d.now.Add(step.Pause.Duration.Std())
		}
		d.event(api.EventRolloutStep, "step %d/%d: %d%% of traffic to revision %d (%d replica%s)",
			k, len(steps), step.Weight, rev, need, text.Plural(need))
	}
	if aborted, m := d.analyze(); aborted {
		return m
	}
	where := "step " + itoa(k) + "/" + itoa(len(steps)) + ": " + itoa(step.Weight) + "% to revision " + itoa(rev)
	promoted := d.r.Promote
	switch {
	case promoted:
		d.r.Promote = false
	case d.r.Paused:
		d.r.Phase = api.PhasePaused
		d.r.Reason = where + "; paused by hand (`flotilla rollout resume " + d.svc.Name + "`)"
		return desired
	case step.Pause != nil && step.Pause.Manual:
		d.r.Phase = api.PhasePaused
		d.r.Reason = where + "; paused until `flotilla rollout promote " + d.svc.Name + "`"
		return desired
	case step.Pause != nil && d.now.Before(d.r.PauseUntil):
		d.recheck(d.r.PauseUntil)
		d.r.Reason = where + "; pause ends at " + d.r.PauseUntil.UTC().Format(time.RFC3339)
		return desired
	}
	if !promoted && d.spec.Analysis != nil && !d.passedThisStep() {
		d.r.Reason = where + "; waiting for a passing analysis"
		if n := len(d.r.Analysis); n > 0 && d.r.Analysis[n-1].Step == k {
			d.r.Reason += " (last: " + d.r.Analysis[n-1].Verdict + ")"
		}
		return desired
	}
	if k == len(steps) {
		d.r.PromoteTime = d.now
		d.event(api.EventRolloutPromoted, "all %d steps done: revision %d scales to %s and takes all traffic", len(steps), rev, text.Count(replicas, "replica"))
		return d.finishCanary()
	}
	d.r.Step = k + 1
	d.r.StepTime, d.r.PauseUntil, d.r.NextAnalysis = time.Time{}, time.Time{}, time.Time{}
	return d.canary()
}

// finishCanary scales the new revision to the full count; once all of it
// is ready it takes all traffic and the stable revision stops.
func (d *decider) finishCanary() map[int]int {
	replicas, rev, stable := d.svc.Replicas, d.r.Revision, d.r.StableRevision
	d.r.NextAnalysis, d.r.PauseUntil = time.Time{}, time.Time{}
	if avail := d.available(rev); avail < replicas {
		if failed, m := d.awaitReady("the promotion", avail, replicas); failed {
			return m
		}
		d.r.Reason = "promoting: " + itoa(avail) + " of " + itoa(replicas) + " replicas of revision " + itoa(rev) + " ready"
		return map[int]int{stable: replicas, rev: replicas}
	}
	d.r.Step = d.r.Steps
	return d.complete("revision %d promoted: all traffic, %s; stable revision %d stopped", rev, text.Count(replicas, "replica"), stable)
}
