package rollout

import (
	"flotilla/api"
	"flotilla/internal/text"
)

// awaitReady is where a blue-green, canary, A/B or shadow rollout waits
// for replicas of its new revision to be ready: avail of need, for what
// (green, a canary step, the promotion). The wait's clock starts when it
// begins and starts again whenever more of them are ready than ever in it
// (a replica that crashes and comes back is no progress); once it has run
// for rollout.progressDeadline, the rollout fails and goes back to the
// stable revision, which still serves, and awaitReady returns what it
// wants then. A paused rollout's wait has no deadline, and resuming
// begins a new one; so does a new replica count to wait for (a scale).
func (d *decider) awaitReady(what string, avail, need int) (failed bool, desired map[int]int) {
	d.waited = true
	key := what + " (" + text.Count(need, "replica") + ")" // a new count is a new wait
	if d.r.Paused {
		key += " (paused)"
	}
	if d.r.Waiting != key || avail > d.r.WaitReady {
		d.r.Waiting, d.r.WaitReady, d.r.ProgressTime = key, avail, d.now
	}
	if d.r.Paused {
		return false, nil
	}
	deadline := d.spec.ProgressDeadlineOrDefault()
	if at := d.r.ProgressTime.Add(deadline.Std()); d.now.Before(at) {
		d.recheck(at)
		return false, nil
	}
	return true, d.abort(api.EventRolloutFailed, api.PhaseFailed,
		"no progress within progressDeadline %s: %d of %s of revision %d ready for %s; rolled back to revision %d",
		deadline, avail, text.Count(need, "replica"), d.r.Revision, what, d.r.StableRevision)
}
