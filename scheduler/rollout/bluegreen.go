package rollout

import (
	"time"

	"flotilla/api"
	"flotilla/internal/text"
)

// blueGreen runs a full green set next to blue. SERVICE-preview reaches
// green while the service's VIP stays on blue; promotion (by hand, after
// autoPromoteAfter, or once an analysis passes when neither is set up)
// switches the VIP's route in one write, and blue keeps running for
// scaleDownDelay so that an abort is instant; with a scaleDownDelay of 0
// blue stops in the same plan as the promotion.
func (d *decider) blueGreen() map[int]int {
	cfg := d.spec.BlueGreen
	if cfg == nil {
		cfg = &api.BlueGreen{}
	}
	delay := cfg.ScaleDownDelayOrDefault()
	replicas, green, blue := d.svc.Replicas, d.r.Revision, d.r.StableRevision
	d.r.Steps = 2
	d.r.Phase = api.PhaseProgressing
	desired := map[int]int{blue: replicas, green: replicas}

	if !d.r.PromoteTime.IsZero() {
		d.r.Weights = map[int]int{green: 100}
		if !d.now.Before(d.r.ScaleDownAt) {
			return d.complete("revision %d promoted; blue revision %d scaled down after %s", green, blue, delay)
		}
		d.recheck(d.r.ScaleDownAt)
		return desired
	}
	d.r.Weights = map[int]int{blue: 100}
	if avail := d.available(green); avail < replicas {
		d.r.Step = 0
		if failed, m := d.awaitReady("green", avail, replicas); failed {
			return m
		}
		d.r.Reason = "starting green: " + itoa(avail) + " of " + itoa(replicas) + " replicas of revision " + itoa(green) + " ready"
		if d.r.Paused {
			d.r.Phase = api.PhasePaused
		}
		return desired
	}
	if d.r.Step == 0 {
		d.r.Step, d.r.StepTime = 1, d.now
		d.event(api.EventRolloutStep, "green revision %d ready (%s); %s-preview reaches it, %s still reaches blue revision %d",
			green, text.Count(replicas, "replica"), d.svc.Name, d.svc.Name, blue)
	}
	if aborted, m := d.analyze(); aborted {
		return m
	}
	analysis := d.spec.Analysis
	promote := ""
	switch {
	case d.r.Promote || d.r.PromoteFull:
		promote = "promoted by hand"
	case d.r.Paused:
		d.r.Phase = api.PhasePaused
		d.r.Reason = "paused by hand with green revision " + itoa(green) + " ready"
		return desired
	case cfg.AutoPromoteAfter != nil:
		at := d.r.StepTime.Add(cfg.AutoPromoteAfter.Std())
		if d.now.Before(at) {
			d.recheck(at)
			d.r.Reason = "green revision " + itoa(green) + " ready; promotes automatically at " + at.UTC().Format(time.RFC3339)
			return desired
		}
		promote = "promoted automatically after " + cfg.AutoPromoteAfter.String()
	case analysis != nil:
		if !d.passedThisStep() {
			d.r.Reason = "green revision " + itoa(green) + " ready; promotes once an analysis passes"
			return desired
		}
		promote = "promoted: analysis passed"
	default:
		d.r.Phase = api.PhasePaused
		d.r.Reason = "green revision " + itoa(green) + " ready; waiting for `flotilla rollout promote " + d.svc.Name + "`"
		return desired
	}
	d.r.Promote, d.r.PromoteFull = false, false
	d.r.PromoteTime, d.r.Step = d.now, 2
	d.r.ScaleDownAt = d.now.Add(delay.Std())
	d.r.Weights = map[int]int{green: 100}
	d.r.NextAnalysis = time.Time{}
	d.event(api.EventRolloutPromoted, "%s: %s now reaches revision %d; blue revision %d stops at %s",
		promote, d.svc.Name, green, blue, d.r.ScaleDownAt.UTC().Format(time.RFC3339))
	if delay <= 0 {
		return d.complete("revision %d promoted; blue revision %d scaled down at once (scaleDownDelay 0s)", green, blue)
	}
	d.recheck(d.r.ScaleDownAt)
	return desired
}

// passedThisStep reports whether the newest analysis of the current step
// passed.
func (d *decider) passedThisStep() bool {
	n := len(d.r.Analysis)
	if n == 0 {
		return false
	}
	last := d.r.Analysis[n-1]
	return last.Step == d.r.Step && !last.Time.Before(d.r.StepTime) && last.Verdict == api.VerdictPass
}
