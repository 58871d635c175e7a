package scheduler

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"flotilla/api"
)

// A drain moves a service's replicas off its node a batch at a time, as
// Nomad's migrate block does by default: each replica keeps running
// until its replacement, placed elsewhere first, is ready, and at most
// drainBatch of a service's replicas are between the two at once. A
// service whose replicas all ran on the drained node keeps serving
// throughout, where stopping them all at once took it to none ready.

// migration is what one plan does to one revision's replicas on draining
// nodes.
type migration struct {
	// held counts the draining replicas that still hold a place among
	// the revision's desired replicas: those whose replacement is not
	// placed yet (one being placed counts its replica, not itself).
	held int
	// start are the draining replicas whose replacement this plan places.
	start []*api.Allocation
}

// migrateDeadline is how long a draining replica waits for its
// replacement to become ready (Nomad's healthy_deadline): after that it
// stops anyway, so that a replacement that never gets ready cannot hold
// a drain forever.
const migrateDeadline = 5 * time.Minute

// drainBatch is how many of a revision's replicas on draining nodes move
// at once: a quarter of its desired replicas (Kubernetes' default
// maxUnavailable), at least one.
func drainBatch(desired int) int { return max(1, (desired+3)/4) }

// planMigrations decides, for each revision's replicas on draining nodes
// (draining; desired more than 0), which stop now (their replacement is
// ready, or failed, or has not got ready within migrateDeadline, or a
// scale down has no place for them) through stop, which stop now and are
// replaced as they stop (those not serving: not running and ready)
// through replace, and which start moving; keep are the revision's other
// replicas meant to run. followUp is when a replacement that is not ready
// yet reaches its deadline (zero when none waits, or now is).
func planMigrations(allocs []*api.Allocation, draining, keep map[int][]*api.Allocation, desired map[int]int, now time.Time,
	stop, replace func(a *api.Allocation, reason string)) (out map[int]migration, followUp time.Time) {
	out = map[int]migration{}
	if len(draining) == 0 {
		return out, followUp
	}
	// The newest replacement of each replica.
	replacement := map[string]*api.Allocation{}
	for _, a := range allocs {
		if p := a.PreviousAllocation; p != "" {
			if cur := replacement[p]; cur == nil || a.CreateIndex > cur.CreateIndex {
				replacement[p] = a
			}
		}
	}
	// Revisions in order: the stops go into the plan in the order they
	// are decided, and a plan replays the same from the same state.
	for _, rev := range slices.Sorted(maps.Keys(draining)) {
		list := draining[rev]
		kept := map[string]bool{}
		for _, a := range keep[rev] {
			kept[a.ID] = true
		}
		var waiting []*api.Allocation
		var moving [][2]*api.Allocation // a replica and its replacement, not ready yet
		for _, d := range list {
			r := replacement[d.ID]
			serving := d.Status == api.AllocRunning && d.Ready
			switch {
			case r == nil && !serving:
				// It serves nothing: nothing is lost if it stops first
				// and its replacement starts as it would have.
				replace(d, fmt.Sprintf("node %s is draining", d.Node))
			case r == nil:
				waiting = append(waiting, d)
			case kept[r.ID] && !serving:
				stop(d, fmt.Sprintf("node %s is draining; replaced by %s on %s", d.Node, r.ID, r.Node))
			case kept[r.ID] && r.Status == api.AllocRunning && r.Ready:
				stop(d, fmt.Sprintf("node %s is draining; replaced by %s on %s, ready", d.Node, r.ID, r.Node))
			case kept[r.ID] && !now.IsZero() && !now.Before(r.CreateTime.Add(migrateDeadline)):
				stop(d, fmt.Sprintf("node %s is draining; its replacement %s on %s is not ready after %s", d.Node, r.ID, r.Node, migrateDeadline))
			case kept[r.ID]:
				moving = append(moving, [2]*api.Allocation{d, r}) // its replacement is starting
				if at := r.CreateTime.Add(migrateDeadline); !now.IsZero() && (followUp.IsZero() || at.Before(followUp)) {
					followUp = at
				}
			default:
				// The replacement failed, stopped or is itself leaving:
				// its own replacement (or this one's, after a crash loop's
				// delay) takes the place.
				stop(d, fmt.Sprintf("node %s is draining; its replacement %s is %s", d.Node, r.ID, r.Status))
			}
		}
		// A scale down (or a rollout's step) with fewer places than
		// replicas: the draining ones go first, without replacement,
		// then those moving, with their replacement (the rest is the
		// caller's, among keep).
		excess := len(keep[rev]) + len(waiting) - desired[rev]
		if n := min(max(excess, 0), len(waiting)); n > 0 {
			for _, d := range waiting[:n] {
				stop(d, fmt.Sprintf("node %s is draining; revision %d needs %d replicas", d.Node, rev, desired[rev]))
			}
			waiting, excess = waiting[n:], excess-n
		}
		if n := min(max(excess, 0), len(moving)); n > 0 {
			gone := map[string]bool{}
			for _, pair := range moving[:n] {
				for _, a := range pair {
					stop(a, fmt.Sprintf("node %s is draining; revision %d needs %d replicas", pair[0].Node, rev, desired[rev]))
					gone[a.ID] = true
				}
			}
			keep[rev] = slices.DeleteFunc(keep[rev], func(a *api.Allocation) bool { return gone[a.ID] })
			moving = moving[n:]
		}
		m := migration{held: len(waiting)}
		if n := drainBatch(desired[rev]) - len(moving); n > 0 {
			m.start = waiting[:min(n, len(waiting))]
		}
		out[rev] = m
	}
	return out, followUp
}
