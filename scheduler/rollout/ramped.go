package rollout

import (
	"sort"

	"flotilla/api"
	"flotilla/internal/text"
)

// rampedBounds resolves maxSurge (rounded up) and maxUnavailable (rounded
// down) against the replica count, as Kubernetes does; when both come to
// 0, one replica may surge so that the rollout can move.
func rampedBounds(cfg *api.RampedRollout, replicas int) (surge, unavailable int) {
	if cfg == nil {
		cfg = &api.RampedRollout{} // the defaults: maxSurge 25%
	}
	surge = cfg.MaxSurgeOrDefault().Resolve(replicas, true)
	unavailable = min(cfg.MaxUnavailableOrDefault().Resolve(replicas, false), replicas)
	if surge == 0 && unavailable == 0 {
		surge = 1
	}
	return surge, unavailable
}

// ramped replaces the old revisions' replicas in waves: new replicas are
// added while the total stays within replicas+maxSurge, and old ones are
// stopped while the available ones (ready for minReady) stay at least
// replicas-maxUnavailable. Old replicas that are not available go first,
// and revisions between the stable one and the new one before the stable
// one.
func (d *decider) ramped() map[int]int {
	cfg := d.spec.Ramped
	if cfg == nil && promotedShadow(d.r) {
		// A promoted shadow ramps up with the defaults, held to the
		// rollout's progress deadline, and goes back to the stable
		// revision when it fails (as its abort does).
		cfg = &api.RampedRollout{ProgressDeadline: new(d.spec.ProgressDeadlineOrDefault()), AutoRollback: true}
	}
	replicas := d.svc.Replicas
	surge, unavailable := rampedBounds(cfg, replicas)
	target := d.r.Revision

	newActive := len(d.active[target])
	newAvail := d.available(target)
	olds := d.oldRevisions()
	oldActive, oldAvail := 0, 0
	availBy := map[int]int{}
	for _, rev := range olds {
		oldActive += len(d.active[rev])
		availBy[rev] = d.available(rev)
		oldAvail += availBy[rev]
	}
	d.r.Steps = replicas
	if newAvail > d.r.Step {
		d.r.ProgressTime = d.now
		d.event(api.EventRolloutStep, "%d of %s of revision %d available", newAvail, text.Count(replicas, "replica"), target)
	}
	d.r.Step = min(newAvail, replicas)
	d.r.Weights = readyShares(d, append([]int{target}, olds...))

	if newAvail >= replicas && oldActive == 0 {
		return d.complete("revision %d rolled out: %d of %s available", target, newAvail, text.Count(replicas, "replica"))
	}
	// Validation refuses a deadline of 0; one that got here anyway is no
	// deadline rather than a failure at once.
	if cfg != nil && cfg.ProgressDeadlineOrDefault() > 0 && !d.r.Paused {
		deadline := d.r.ProgressTime.Add(cfg.ProgressDeadlineOrDefault().Std())
		if !d.now.Before(deadline) {
			return d.failRamped(cfg, newAvail, replicas)
		}
		d.recheck(deadline)
	}
	current := d.currentCounts()
	if d.r.Paused {
		d.r.Phase = api.PhasePaused
		return current
	}
	d.r.Phase = api.PhaseProgressing

	// Old replicas that are not available serve nothing: they go first.
	// Of the available ones, as many as keep replicas-maxUnavailable
	// available.
	desired := map[int]int{}
	removable := max(0, min(newAvail+oldAvail-(replicas-unavailable), oldAvail))
	oldDesired := 0
	for _, rev := range olds {
		keep := availBy[rev]
		cut := min(keep, removable)
		removable -= cut
		desired[rev] = keep - cut
		oldDesired += desired[rev]
	}
	// New replicas fill what is left below replicas+maxSurge.
	newDesired := newActive
	if newActive < replicas {
		if up := min(replicas+surge-(newActive+oldDesired), replicas-newActive); up > 0 {
			newDesired += up
		}
	}
	desired[target] = min(newDesired, replicas)
	if newAvail >= replicas && oldDesired == 0 {
		// This very plan stops the last old replicas.
		return d.complete("revision %d rolled out: %d of %s available", target, newAvail, text.Count(replicas, "replica"))
	}
	if d.r.Reason == "" || desired[target] != newActive {
		d.r.Reason = rampedReason(newAvail, replicas, target)
	}
	return desired
}

func rampedReason(avail, replicas, rev int) string {
	return "ramping: " + itoa(avail) + " of " + itoa(replicas) + " replicas of revision " + itoa(rev) + " available"
}

// failRamped ends a ramped rollout that made no progress within its
// deadline: back to the stable revision with autoRollback, else frozen
// where it stands.
func (d *decider) failRamped(cfg *api.RampedRollout, avail, replicas int) map[int]int {
	reason := "no progress within progressDeadline " + cfg.ProgressDeadlineOrDefault().String() + ": " +
		itoa(avail) + " of " + itoa(replicas) + " replicas of revision " + itoa(d.r.Revision) + " available"
	if cfg.AutoRollback {
		return d.abort(api.EventRolloutFailed, api.PhaseFailed, "%s; rolled back to revision %d", reason, d.r.StableRevision)
	}
	d.r.Phase = api.PhaseFailed
	d.r.EndTime = d.now
	d.event(api.EventRolloutFailed, "%s; left as it is (autoRollback is off)", reason)
	return d.currentCounts()
}

// failedRamped holds an aborted or failed ramped rollout: rolled back to
// the stable revision (an abort, or autoRollback) within the same bounds as
// the way forward, or frozen where it stands.
func (d *decider) failedRamped() map[int]int {
	if d.r.Phase == api.PhaseAborted || d.spec.Ramped == nil || d.spec.Ramped.AutoRollback {
		return d.rampBack()
	}
	return d.currentCounts()
}

// rampBack returns the replicas to the stable revision in waves, as a
// rollout of it would: the new revision's ready replicas keep serving
// until enough of the stable one are available again, so an abort or a
// rollback never drops the service to what the stable revision had left.
func (d *decider) rampBack() map[int]int {
	replicas, stable := d.svc.Replicas, d.r.StableRevision
	surge, unavailable := rampedBounds(d.spec.Ramped, replicas)
	stableActive, stableAvail := len(d.active[stable]), d.available(stable)
	desired := map[int]int{}
	var others []int
	for rev := range d.active {
		if rev != stable {
			others = append(others, rev)
		}
	}
	sort.Ints(others)
	othersAvail, othersDesired := 0, 0
	for _, rev := range others {
		othersAvail += d.available(rev)
	}
	removable := max(0, min(stableAvail+othersAvail-(replicas-unavailable), othersAvail))
	for _, rev := range others {
		keep := d.available(rev)
		cut := min(keep, removable)
		removable -= cut
		desired[rev] = keep - cut
		othersDesired += desired[rev]
	}
	up := min(replicas+surge-(stableActive+othersDesired), replicas-stableActive)
	desired[stable] = min(stableActive+max(up, 0), replicas)
	if stableActive > replicas {
		desired[stable] = replicas
	}
	d.r.Weights = readyShares(d, append([]int{stable}, others...))
	if othersDesired == 0 {
		d.r.Weights = map[int]int{stable: 100}
	}
	return desired
}

// currentCounts holds a paused or frozen ramped rollout where it stands:
// the new revision keeps its replicas (at most the count), and the old
// ones are kept between replicas minus the new available ones and that
// plus maxSurge; the stable
// revision makes up for what failed or what the count gained, and old
// revisions give back first what it lost. So a held rollout still follows
// scaling and replaces crashed replicas.
func (d *decider) currentCounts() map[int]int {
	replicas, target, stable := d.svc.Replicas, d.r.Revision, d.r.StableRevision
	surge, _ := rampedBounds(d.spec.Ramped, replicas)
	out := map[int]int{}
	newCount := min(len(d.active[target]), replicas)
	out[target] = newCount
	olds := d.oldRevisions()
	oldTotal := 0
	for _, rev := range olds {
		out[rev] = len(d.active[rev])
		oldTotal += out[rev]
	}
	floor := max(replicas-min(d.available(target), newCount), 0)
	switch {
	case oldTotal < floor:
		out[stable] += floor - oldTotal
	case oldTotal > floor+surge:
		excess := oldTotal - floor - surge
		for _, rev := range olds { // in-between revisions first, stable last
			cut := min(out[rev], excess)
			out[rev] -= cut
			excess -= cut
		}
	}
	return out
}

// oldRevisions lists the revisions with allocations other than the new
// one: revisions between the stable and the new one first (newest first),
// the stable one last.
func (d *decider) oldRevisions() []int {
	var out []int
	for rev := range d.active {
		if rev != d.r.Revision && rev != d.r.StableRevision {
			out = append(out, rev)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(out)))
	if d.r.StableRevision != d.r.Revision {
		out = append(out, d.r.StableRevision)
	}
	return out
}

// readyShares splits 100% between revisions by their ready replicas, as
// the proxies do when any ready replica may serve.
func readyShares(d *decider, revs []int) map[int]int {
	total := 0
	counts := make([]int, len(revs))
	for i, rev := range revs {
		counts[i] = d.ready(rev)
		total += counts[i]
	}
	out := map[int]int{}
	if total == 0 {
		return out
	}
	left := 100
	last := -1
	for i, rev := range revs {
		if counts[i] == 0 {
			continue
		}
		out[rev] = counts[i] * 100 / total
		left -= out[rev]
		last = rev
	}
	if last >= 0 {
		out[last] += left
	}
	return out
}
