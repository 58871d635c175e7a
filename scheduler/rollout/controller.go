package rollout

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"flotilla/api"
)

// Input is everything Decide looks at.
type Input struct {
	Service *api.Service
	// Rollout is the stored state; nil for a service that has none yet
	// (created before rollouts existed), which counts as completed.
	Rollout *api.Rollout
	Allocs  []*api.Allocation
	// Figures returns the traffic figures per revision over the last
	// window; nil when there are none (a follower, a test).
	Figures func(window time.Duration) []api.TrafficFigures
	// Diffs returns a shadow rollout's comparison figures, merged over the
	// proxies: those of its candidate revision since it began (r's
	// StartIndex); nil when there are none (shadow.go).
	Diffs func(r *api.Rollout) *api.DiffReport
	// ABVisitors returns an A/B experiment's visitor sketches per
	// revision, merged over the proxies, and whether every proxy's are in
	// (false on a leader too new to have them all); nil when there are
	// none (ab.go).
	ABVisitors func(salt string) (map[int]*ABVisitors, bool)
	Now        time.Time
}

// Event is a transition to record.
type Event struct {
	Type    string
	Message string
}

// Decision is what Decide wants.
type Decision struct {
	// Rollout is the next state; the caller stores it when it differs
	// from the input's.
	Rollout *api.Rollout
	// Desired is the number of replicas each revision should run;
	// revisions it does not name run none.
	Desired map[int]int
	Events  []Event
}

// MinSamples is how many requests the new revision must have served in an
// analysis window before a verdict other than inconclusive is given.
const MinSamples = 50

// maxAnalysisRuns is how many analysis runs a rollout keeps.
const maxAnalysisRuns = 10

// New is the rollout that starts when a service gets revision rev over
// the previous state prev (nil when the service is new). A rollout still
// running is superseded: its stable revision stays the stable one.
func New(svc *api.Service, prev *api.Rollout, now time.Time) *api.Rollout {
	r := &api.Rollout{
		Namespace: svc.Namespace, Service: svc.Name, Strategy: svc.Spec.Rollout.Strategy,
		Revision: svc.Revision, StableRevision: svc.Revision, StartTime: now, ProgressTime: now,
	}
	if prev == nil {
		r.Phase, r.Weights, r.EndTime = api.PhaseCompleted, map[int]int{svc.Revision: 100}, now
		r.Reason = fmt.Sprintf("revision %d created", svc.Revision)
		return r
	}
	r.StableRevision = prev.Revision
	promoted := prev.Strategy == api.RolloutBlueGreen && !prev.PromoteTime.IsZero()
	if prev.Phase != api.PhaseCompleted && !(promoted && prev.Active()) {
		// Superseded (or aborted): what served before it still does. A
		// blue-green rollout promoted but waiting out scaleDownDelay
		// already serves the new revision.
		r.StableRevision = prev.StableRevision
	}
	if r.StableRevision == r.Revision {
		r.Phase, r.Weights, r.EndTime = api.PhaseCompleted, map[int]int{svc.Revision: 100}, now
		r.Reason = fmt.Sprintf("revision %d is already the stable revision", svc.Revision)
		return r
	}
	r.Phase = api.PhaseProgressing
	r.Weights = map[int]int{r.StableRevision: 100}
	switch r.Strategy {
	case api.RolloutCanary:
		r.Steps = len(svc.Spec.Rollout.Canary.Steps)
	case api.RolloutBlueGreen:
		r.Steps = 2
	case api.RolloutRamped:
		r.Steps = svc.Replicas
	case api.RolloutAB:
		r.Steps, r.AB = 2, newABState(svc, now)
	case api.RolloutShadow:
		r.Steps = 2
	}
	r.Reason = fmt.Sprintf("rolling out revision %d over revision %d (%s)", r.Revision, r.StableRevision, r.Strategy)
	if prev.Active() && prev.Revision != r.StableRevision {
		r.Reason += fmt.Sprintf("; supersedes the rollout of revision %d", prev.Revision)
	}
	return r
}

// decider carries one decision being made.
type decider struct {
	in     Input
	svc    *api.Service
	spec   *api.RolloutSpec
	r      *api.Rollout // being changed
	now    time.Time
	events []Event
	// active lists the allocations meant to run, by revision.
	active map[int][]*api.Allocation
	// waited: the rollout waits for replicas of its new revision
	// (awaitReady).
	waited bool
}

// Decide returns what the service's rollout wants now.
func Decide(in Input) Decision {
	svc := in.Service
	var r api.Rollout
	if in.Rollout != nil && in.Rollout.Revision == svc.Revision {
		r = *in.Rollout
	} else {
		// No state yet, or it lags the service (never stored that way):
		// serve the newest revision as a finished rollout would.
		r = *New(svc, nil, in.Now)
	}
	r.Weights = copyWeights(r.Weights)
	r.Analysis = append([]api.AnalysisRun(nil), r.Analysis...)
	d := &decider{in: in, svc: svc, spec: &svc.Spec.Rollout, r: &r, now: in.Now, active: map[int][]*api.Allocation{}}
	for _, a := range in.Allocs {
		if a.DesiredStatus == api.DesiredRun && !a.TerminalStatus() && a.CreateIndex >= svc.CreateIndex {
			d.active[a.Revision] = append(d.active[a.Revision], a)
		}
	}
	r.RecheckAt = time.Time{}
	var desired map[int]int
	switch {
	case r.Phase == api.PhaseCompleted:
		desired = map[int]int{r.Revision: svc.Replicas}
		r.Weights = map[int]int{r.Revision: 100}
	case (r.Strategy == api.RolloutRamped || promotedShadow(&r)) && (r.Phase == api.PhaseAborted || r.Phase == api.PhaseFailed):
		desired = d.failedRamped()
	case r.Phase == api.PhaseAborted || r.Phase == api.PhaseFailed:
		desired = map[int]int{r.StableRevision: svc.Replicas}
		r.Weights = map[int]int{r.StableRevision: 100}
	default:
		switch r.Strategy {
		case api.RolloutBlueGreen:
			desired = d.blueGreen()
		case api.RolloutCanary:
			desired = d.canary()
		case api.RolloutAB:
			desired = d.ab()
		case api.RolloutShadow:
			desired = d.shadow()
		default:
			desired = d.ramped()
		}
	}
	if !d.waited {
		r.Waiting, r.WaitReady = "", 0
	}
	if !r.Active() {
		// The preview name goes with the rollout; its VIP is free again.
		r.PreviewVIP = ""
		if r.EndTime.IsZero() {
			r.EndTime = d.now
		}
	}
	return Decision{Rollout: &r, Desired: desired, Events: d.events}
}

// event records a transition and makes it the rollout's reason.
func (d *decider) event(typ, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	d.r.Reason = msg
	d.events = append(d.events, Event{Type: typ, Message: fmt.Sprintf("%s/%s: %s", d.svc.Namespace, d.svc.Name, msg)})
}

// recheck asks to look again at t (the earliest of all asks wins).
func (d *decider) recheck(t time.Time) {
	if t.IsZero() {
		return
	}
	if !t.After(d.now) {
		t = d.now.Add(time.Millisecond)
	}
	if d.r.RecheckAt.IsZero() || t.Before(d.r.RecheckAt) {
		d.r.RecheckAt = t
	}
}

// minReady is how long a replica must have been ready to count as
// available (ramped's minReady; 0 for the other strategies).
func (d *decider) minReady() time.Duration {
	if d.spec.Ramped != nil && d.r.Strategy == api.RolloutRamped {
		return d.spec.Ramped.MinReady.Std()
	}
	return 0
}

// available counts the allocations of rev that are ready and, for the
// revision being rolled out, have been for minReady, asking to look again
// when the next one will be.
func (d *decider) available(rev int) int {
	n := 0
	minReady := d.minReady()
	if rev != d.r.Revision {
		minReady = 0
	}
	for _, a := range d.active[rev] {
		if a.Status != api.AllocRunning || !a.Ready {
			continue
		}
		if minReady > 0 && !a.ReadyTime.IsZero() {
			if at := a.ReadyTime.Add(minReady); at.After(d.now) {
				d.recheck(at)
				continue
			}
		}
		n++
	}
	return n
}

// ready counts the ready allocations of rev, minReady or not.
func (d *decider) ready(rev int) int {
	n := 0
	for _, a := range d.active[rev] {
		if a.Status == api.AllocRunning && a.Ready {
			n++
		}
	}
	return n
}

// abort ends the rollout: traffic back to the stable revision at once
// and the new revision's replicas stopped.
func (d *decider) abort(typ, phase, format string, args ...any) map[int]int {
	d.r.Phase = phase
	d.r.Weights = map[int]int{d.r.StableRevision: 100}
	d.r.Paused, d.r.Promote, d.r.PromoteFull = false, false, false
	d.r.PauseUntil, d.r.NextAnalysis = time.Time{}, time.Time{}
	d.r.EndTime = d.now
	d.event(typ, format, args...)
	return map[int]int{d.r.StableRevision: d.svc.Replicas}
}

// complete ends the rollout with the new revision serving everything.
func (d *decider) complete(format string, args ...any) map[int]int {
	d.r.Phase = api.PhaseCompleted
	d.r.Weights = map[int]int{d.r.Revision: 100}
	d.r.Paused, d.r.Promote, d.r.PromoteFull = false, false, false
	d.r.PauseUntil, d.r.NextAnalysis, d.r.ScaleDownAt = time.Time{}, time.Time{}, time.Time{}
	d.r.EndTime = d.now
	d.event(api.EventRolloutCompleted, format, args...)
	return map[int]int{d.r.Revision: d.svc.Replicas}
}

func itoa(i int) string { return strconv.Itoa(i) }

func copyWeights(w map[int]int) map[int]int {
	out := make(map[int]int, len(w))
	for k, v := range w {
		out[k] = v
	}
	return out
}

// revisions lists the revisions in w, ascending.
func revisions(w map[int]int) []int {
	out := make([]int, 0, len(w))
	for k := range w {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}
