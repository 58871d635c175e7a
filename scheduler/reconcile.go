package scheduler

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"flotilla/api"
	"flotilla/internal/seeded"
	"flotilla/internal/text"
	"flotilla/scheduler/placement"
	"flotilla/scheduler/rollout"
	"flotilla/scheduler/state"
)

// State is what scheduling reads: a consistent snapshot.
type State interface {
	Service(ws WatchSet, namespace, name string) *api.Service
	// Rollout is the service's rollout state; Revision one stored
	// revision (a rollout places older revisions too).
	Rollout(ws WatchSet, namespace, name string) *api.Rollout
	Revision(namespace, name string, revision int) *api.Revision
	// NodesWithoutUsage lists the nodes; CurrentUsage gives one node's
	// usage, for the nodes a placement actually looks at.
	NodesWithoutUsage(ws WatchSet) []*api.Node
	CurrentUsage(node string) state.Usage
	AllocationsByService(ws WatchSet, namespace, name string) []*api.Allocation
	LatestIndex() uint64
}

// WatchSet is memdb's; scheduling never watches, so it passes nil.
type WatchSet = state.WatchSet

// planContext is what a plan needs besides the state: the time, and the
// traffic figures a canary analysis reads (nil when there are none).
type planContext struct {
	// ClusterID seeds allocation IDs (0 in tests).
	ClusterID uint64
	Now       time.Time
	Figures   func(namespace, name string, window time.Duration) []api.TrafficFigures
	// ABVisitors are the A/B experiments' visitors (abstats.go); nil when
	// there are none.
	ABVisitors func(namespace, name, salt string) (map[int]*rollout.ABVisitors, bool)
	// Diffs are the shadow rollouts' merged comparison figures (shadow.go);
	// nil when there are none.
	Diffs func(svc *api.Service, r *api.Rollout) *api.DiffReport
}

// computePlan brings one service's allocations in line with its spec, its
// rollout and the nodes: the rollout controller says how many replicas
// each revision should run (and moves the rollout on); this replaces
// allocations on down, draining or vanished nodes and failed ones, stops
// those of revisions beyond their count, and places what is missing. It is
// level-triggered: the evaluation only names the service, the snapshot
// says everything else.
func computePlan(snap State, eval *api.Evaluation, pc planContext) *state.Plan {
	plan := &state.Plan{EvalID: eval.ID, Namespace: eval.Namespace, Service: eval.Service}
	svc := snap.Service(nil, eval.Namespace, eval.Service)
	allocs := snap.AllocationsByService(nil, eval.Namespace, eval.Service)
	nodes := snap.NodesWithoutUsage(nil)
	byName := make(map[string]*api.Node, len(nodes))
	for _, n := range nodes {
		byName[n.Name] = n
	}

	if svc == nil {
		for _, a := range allocs {
			if a.DesiredStatus == api.DesiredRun {
				plan.Stop = append(plan.Stop, state.Stop{ID: a.ID, Reason: "service deleted"})
			}
		}
		plan.Eval = &state.EvalOutcome{Status: api.EvalComplete, Stopped: len(plan.Stop)}
		return plan
	}

	plan.Revision = svc.Revision
	plan.Resources = svc.Spec.Resources
	plan.HostPorts = hostPorts(svc.Spec)

	current := snap.Rollout(nil, svc.Namespace, svc.Name)
	var figures func(time.Duration) []api.TrafficFigures
	if pc.Figures != nil {
		figures = func(w time.Duration) []api.TrafficFigures { return pc.Figures(svc.Namespace, svc.Name, w) }
	}
	var abVisitors func(salt string) (map[int]*rollout.ABVisitors, bool)
	if pc.ABVisitors != nil {
		abVisitors = func(salt string) (map[int]*rollout.ABVisitors, bool) {
			return pc.ABVisitors(svc.Namespace, svc.Name, salt)
		}
	}
	var diffs func(r *api.Rollout) *api.DiffReport
	if pc.Diffs != nil {
		diffs = func(r *api.Rollout) *api.DiffReport { return pc.Diffs(svc, r) }
	}
	decision := rollout.Decide(rollout.Input{Service: svc, Rollout: current, Allocs: allocs, Figures: figures, ABVisitors: abVisitors, Diffs: diffs, Now: pc.Now})
	if current != nil {
		// Whatever the plan does was decided from this rollout state: a
		// person's action since (a pause, an abort) drops it.
		plan.RolloutIndex = current.ModifyIndex
	}
	if current == nil || !reflect.DeepEqual(current, decision.Rollout) {
		plan.Rollout = decision.Rollout
		for _, e := range decision.Events {
			plan.RolloutEvents = append(plan.RolloutEvents, state.RolloutEvent{Type: e.Type, Message: e.Message})
		}
	}
	desired := decision.Desired
	ro := decision.Rollout

	// replacing lists stopped allocations whose replacement should record
	// them as previous, per revision; avoid names the node a failed one
	// ran on.
	type replaced struct {
		id, avoid string
		notBefore time.Time // a crash loop's replacement waits
	}
	replacedAlready := map[string]bool{}
	for _, a := range allocs {
		if a.PreviousAllocation != "" {
			replacedAlready[a.PreviousAllocation] = true
		}
	}
	// failedReplacement is the replacement record of a failed allocation:
	// the n-th failure in a row waits rescheduleDelay(n) from its failure.
	failedReplacement := func(a *api.Allocation) replaced {
		r := replaced{id: a.ID, avoid: a.Node}
		if !pc.Now.IsZero() {
			failedAt := a.FinishTime
			if failedAt.IsZero() {
				failedAt = a.ModifyTime // recorded before FinishTime existed
			}
			r.notBefore = failedAt.Add(rescheduleDelay(a.FailuresBefore + 1))
		}
		return r
	}
	keep := map[int][]*api.Allocation{}
	draining := map[int][]*api.Allocation{}
	replacing := map[int][]replaced{}
	stopping := map[string]bool{}
	stop := func(a *api.Allocation, reason string, lost bool) {
		plan.Stop = append(plan.Stop, state.Stop{ID: a.ID, Reason: reason, Lost: lost})
		stopping[a.ID] = true
	}
	for _, a := range allocs {
		n := byName[a.Node]
		if a.CreateIndex < svc.CreateIndex {
			// Left from a deleted service of the same name whose delete
			// was superseded before it ran: revision numbers start again,
			// and nothing of it is replaced or counted.
			if a.DesiredStatus == api.DesiredRun {
				stop(a, "service was deleted and created again", n == nil || n.Status == api.NodeDown)
			} else if !a.TerminalStatus() && (n == nil || n.Status == api.NodeDown) {
				stop(a, fmt.Sprintf("node %s is down", a.Node), true)
			}
			continue
		}
		if a.DesiredStatus != api.DesiredRun {
			// Already told to stop, but nobody will ever report that it did.
			if !a.TerminalStatus() && (n == nil || n.Status == api.NodeDown) {
				stop(a, fmt.Sprintf("node %s is down", a.Node), true)
			}
			// A failed allocation whose replacement waits out its delay.
			if a.Status == api.AllocFailed && !replacedAlready[a.ID] && strings.HasPrefix(a.DesiredReason, failedReason) {
				replacing[a.Revision] = append(replacing[a.Revision], failedReplacement(a))
			}
			continue
		}
		switch {
		case n == nil:
			stop(a, fmt.Sprintf("node %s is gone", a.Node), true)
			replacing[a.Revision] = append(replacing[a.Revision], replaced{id: a.ID})
		case n.Status == api.NodeDown:
			stop(a, fmt.Sprintf("node %s is down", a.Node), true)
			replacing[a.Revision] = append(replacing[a.Revision], replaced{id: a.ID})
		case a.TerminalStatus():
			stop(a, fmt.Sprintf("allocation %s on %s", a.Status, a.Node), false)
			if a.Status == api.AllocFailed {
				replacing[a.Revision] = append(replacing[a.Revision], failedReplacement(a))
			}
		case n.Status == api.NodeDraining && desired[a.Revision] > 0:
			draining[a.Revision] = append(draining[a.Revision], a) // migrate.go
		case n.Status == api.NodeDraining:
			stop(a, fmt.Sprintf("node %s is draining", a.Node), false)
		case desired[a.Revision] == 0:
			stop(a, stopReason(ro, a.Revision), false)
		default:
			keep[a.Revision] = append(keep[a.Revision], a)
		}
	}

	// Replicas on draining nodes move a batch at a time: each stops once
	// its replacement is ready (migrate.go).
	migrations, migrationDeadline := planMigrations(allocs, draining, keep, desired, pc.Now, func(a *api.Allocation, reason string) {
		stop(a, reason, false)
	}, func(a *api.Allocation, reason string) {
		stop(a, reason, false)
		replacing[a.Revision] = append(replacing[a.Revision], replaced{id: a.ID})
	})

	// Each revision spreads over the nodes by its own replicas (as each
	// Kubernetes ReplicaSet does): counted together, a rollout's new
	// replicas went to the nodes with the fewest of both, the old ones
	// left the nodes with the most (the same nodes), and a ramped rollout
	// of 2 per node over 3 nodes ended 3, 3 and 0.
	perNode, perRev := map[string]int{}, map[int]map[string]int{}
	for rev, list := range keep {
		perRev[rev] = map[string]int{}
		for _, a := range list {
			perNode[a.Node]++
			perRev[rev][a.Node]++
		}
	}
	revs := make([]int, 0, len(desired))
	for rev := range desired {
		revs = append(revs, rev)
	}
	// The newest revision first: what a rollout adds goes before what it
	// keeps.
	sort.Sort(sort.Reverse(sort.IntSlice(revs)))
	for _, rev := range revs {
		list := keep[rev]
		if len(list) <= desired[rev]-migrations[rev].held {
			continue
		}
		// Stop the least useful first: not yet running or not ready, then
		// from the nodes with the most replicas of the revision, then of
		// the service, then the newest.
		onNode := perRev[rev]
		sort.SliceStable(list, func(i, j int) bool {
			ui, uj := useful(list[i]), useful(list[j])
			if ui != uj {
				return ui < uj
			}
			if ni, nj := onNode[list[i].Node], onNode[list[j].Node]; ni != nj {
				return ni > nj
			}
			if perNode[list[i].Node] != perNode[list[j].Node] {
				return perNode[list[i].Node] > perNode[list[j].Node]
			}
			return list[i].CreateIndex > list[j].CreateIndex
		})
		excess := len(list) - (desired[rev] - migrations[rev].held)
		for _, a := range list[:excess] {
			stop(a, scaleReason(svc, ro, rev, desired[rev]), false)
			perNode[a.Node]--
			onNode[a.Node]--
		}
		keep[rev] = list[excess:]
	}

	outcome := &state.EvalOutcome{Status: api.EvalComplete, Stopped: len(plan.Stop)}
	plan.Eval = outcome

	// Usage leaves out what this plan stops: its resources are free for
	// the placements of the same plan; what it places is added.
	freed := map[string][]*api.Allocation{}
	for _, a := range allocs {
		if stopping[a.ID] && !a.Terminal() {
			freed[a.Node] = append(freed[a.Node], a)
		}
	}
	placed := map[string]api.Resources{}
	placedPorts := map[string][]int{}
	ids := newIDs(pc.ClusterID, eval.ID, snap.LatestIndex())
	var failures []string
	delayed := 0
	for _, rev := range revs {
		m := migrations[rev]
		missing := desired[rev] - len(keep[rev]) - m.held
		if missing <= 0 && len(m.start) == 0 {
			continue
		}
		missing = max(missing, 0)
		spec := svc.Spec
		if rev != svc.Revision {
			r := snap.Revision(svc.Namespace, svc.Name, rev)
			if r == nil {
				outcome.Unplaced += missing
				failures = append(failures, fmt.Sprintf("revision %d is no longer stored", rev))
				continue
			}
			spec = r.Spec
			plan.Others = append(plan.Others, state.PlanRevision{Revision: rev, Resources: spec.Resources, HostPorts: hostPorts(spec)})
		}
		ports := hostPorts(spec)
		placer := placement.New(placementNodes(nodes, perRev[rev]), placement.Request{
			Resources: spec.Resources, HostPorts: ports,
			Constraints: spec.Placement.Constraints, Strategy: spec.Placement.Strategy,
		}, seeded.Hash(eval.ID)+uint64(rev)) // the placer's shuffle derives from the evaluation, so a run replays
		placer.SetLoader(func(n *placement.Node) {
			u := snap.CurrentUsage(n.Name)
			for _, a := range freed[n.Name] {
				u.Resources = u.Resources.Sub(a.Resources)
				for _, p := range a.HostPorts {
					delete(u.HostPorts, p)
				}
			}
			u.Resources = u.Resources.Add(placed[n.Name])
			if len(placedPorts[n.Name]) > 0 {
				hp := make(map[int]bool, len(u.HostPorts)+len(placedPorts[n.Name]))
				for p := range u.HostPorts {
					hp[p] = true
				}
				for _, p := range placedPorts[n.Name] {
					hp[p] = true
				}
				u.HostPorts = hp
			}
			n.Allocated, n.HostPorts = u.Resources, u.HostPorts
		})
		place := func(prev replaced) bool {
			n, ok := placer.Place(prev.avoid)
			if !ok {
				return false
			}
			pl := state.Placement{ID: ids(), Node: n.Name, Previous: prev.id}
			if rev != svc.Revision {
				pl.Revision = rev
			}
			plan.Place = append(plan.Place, pl)
			perNode[n.Name]++
			if perRev[rev] == nil {
				perRev[rev] = map[string]int{}
			}
			perRev[rev][n.Name]++
			placed[n.Name] = placed[n.Name].Add(spec.Resources)
			placedPorts[n.Name] = append(placedPorts[n.Name], ports...)
			return true
		}
		candidates := replacing[rev]
		sort.SliceStable(candidates, func(i, j int) bool { return candidates[i].notBefore.Before(candidates[j].notBefore) })
		full := false
		for i := 0; i < missing; i++ {
			var prev replaced
			if i < len(candidates) {
				prev = candidates[i]
			}
			if prev.notBefore.After(pc.Now) {
				// A crash loop: this replacement waits; look again then.
				delayed++
				if outcome.FollowUpAt.IsZero() || prev.notBefore.Before(outcome.FollowUpAt) {
					outcome.FollowUpAt = prev.notBefore
				}
				continue
			}
			if !place(prev) {
				outcome.Unplaced += missing - i
				failures = append(failures, placer.Failure().String())
				full = true
				break
			}
		}
		// The migrations this plan starts: a replacement in surge, while
		// the replica it replaces keeps running on its draining node.
		// Without room for it, the replica stops now (what a drain did
		// before it moved replicas in batches), unplaced.
		for _, a := range m.start {
			if !full && place(replaced{id: a.ID}) {
				continue
			}
			if !full {
				failures = append(failures, placer.Failure().String())
				full = true
			}
			stop(a, fmt.Sprintf("node %s is draining; no room for its replacement", a.Node), false)
			outcome.Unplaced++
		}
	}
	if outcome.Unplaced > 0 {
		outcome.Status = api.EvalBlocked
		outcome.PlacementFailure = strings.Join(failures, "; ")
	}
	if delayed > 0 {
		verb := "waits"
		if delayed > 1 {
			verb = "wait"
		}
		outcome.Description = fmt.Sprintf("%d replacement%s of failed allocations %s until %s (crash loop backoff)",
			delayed, text.Plural(delayed), verb, outcome.FollowUpAt.UTC().Format(time.RFC3339))
	}
	if at := migrationDeadline; !at.IsZero() && (outcome.FollowUpAt.IsZero() || at.Before(outcome.FollowUpAt)) {
		outcome.FollowUpAt = at
	}
	outcome.Placed, outcome.Stopped = len(plan.Place), len(plan.Stop)
	return plan
}

// failedReason starts the stop reason of a failed allocation.
const failedReason = "allocation failed"

// Replacements of allocations that keep failing wait longer each time, as
// Nomad's exponential reschedule policy does: the first replacement goes
// at once, the n-th in a row waits rescheduleBase·2^(n-2), up to
// rescheduleMax.
const (
	rescheduleBase = 5 * time.Second
	rescheduleMax  = 5 * time.Minute
)

func rescheduleDelay(failuresInARow int) time.Duration {
	if failuresInARow <= 1 {
		return 0
	}
	d := rescheduleBase
	for i := 2; i < failuresInARow && d < rescheduleMax; i++ {
		d *= 2
	}
	return min(d, rescheduleMax)
}

// useful ranks an allocation for keeping: ready beats running beats
// starting.
func useful(a *api.Allocation) int {
	switch {
	case a.Status == api.AllocRunning && a.Ready:
		return 2
	case a.Status == api.AllocRunning:
		return 1
	}
	return 0
}

func hostPorts(spec api.ServiceSpec) []int {
	var out []int
	for _, p := range spec.Ports {
		if p.HostPort != 0 {
			out = append(out, p.HostPort)
		}
	}
	return out
}

// stopReason says why a revision the rollout no longer runs stops.
func stopReason(r *api.Rollout, rev int) string {
	switch {
	case r == nil || r.Phase == api.PhaseCompleted:
		if r != nil {
			return fmt.Sprintf("replaced by revision %d", r.Revision)
		}
		return fmt.Sprintf("revision %d is not served", rev)
	case r.Phase == api.PhaseAborted || r.Phase == api.PhaseFailed:
		return fmt.Sprintf("rollout of revision %d %s; back to revision %d", r.Revision, r.Phase, r.StableRevision)
	}
	return fmt.Sprintf("superseded by the rollout of revision %d", r.Revision)
}

// scaleReason says why replicas of a revision stop.
func scaleReason(svc *api.Service, r *api.Rollout, rev, to int) string {
	if r != nil && r.Active() {
		return fmt.Sprintf("%s rollout of revision %d: revision %d down to %d", r.Strategy, r.Revision, rev, to)
	}
	return fmt.Sprintf("scaled down to %d", svc.Replicas)
}

// placementNodes builds the placer's view of the nodes: usage is loaded
// later, only for the nodes the placer looks at.
func placementNodes(nodes []*api.Node, perNode map[string]int) []*placement.Node {
	out := make([]*placement.Node, len(nodes))
	for i, n := range nodes {
		out[i] = &placement.Node{
			Name: n.Name, Status: n.Status, Eligible: n.Eligible, Labels: n.Labels,
			Capacity: n.Capacity, ServiceReplicas: perNode[n.Name],
		}
	}
	return out
}

// newIDs makes allocation IDs unique to the cluster, the evaluation and
// the state it was computed from (a retry sees a newer index and makes new
// IDs). The cluster's ID keeps two clusters (two labs, a cluster built
// again on the same machines) from making the same IDs, whose containers
// an agent could otherwise mistake for its own.
func newIDs(clusterID uint64, evalID string, index uint64) func() string {
	var n uint64
	seed := evalID
	if clusterID != 0 {
		seed = strconv.FormatUint(clusterID, 16) + "/" + evalID
	}
	return func() string {
		n++
		return state.DeriveID(seed, index, n)
	}
}
