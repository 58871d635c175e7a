package scheduler

import (
	"fmt"
	"hash/fnv"
	"sort"

	"flotilla/api"
	"flotilla/scheduler/placement"
	"flotilla/scheduler/state"
)

// State is what scheduling reads: a consistent snapshot.
type State interface {
	Service(ws WatchSet, namespace, name string) *api.Service
	// NodesWithoutUsage lists the nodes; CurrentUsage gives one node's
	// usage, for the nodes a placement actually looks at.
	NodesWithoutUsage(ws WatchSet) []*api.Node
	CurrentUsage(node string) state.Usage
	AllocationsByService(ws WatchSet, namespace, name string) []*api.Allocation
	LatestIndex() uint64
}

// WatchSet is memdb's; scheduling never watches, so it passes nil.
type WatchSet = state.WatchSet

// computePlan brings one service's allocations in line with its spec and the
// nodes: it replaces allocations on down, draining or vanished nodes and
// failed ones, stops those of old revisions or beyond the replica count, and
// places what is missing. It is level-triggered: the evaluation only names
// the service, the snapshot says everything else.
func computePlan(snap State, eval *api.Evaluation) *state.Plan {
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
	for _, p := range svc.Spec.Ports {
		if p.HostPort != 0 {
			plan.HostPorts = append(plan.HostPorts, p.HostPort)
		}
	}

	// replacing lists stopped allocations whose replacement should record
	// them as previous; avoid names the node a failed one ran on.
	type replaced struct{ id, avoid string }
	var keep []*api.Allocation
	var replacing []replaced
	stopping := map[string]bool{}
	stop := func(a *api.Allocation, reason string, lost bool) {
		plan.Stop = append(plan.Stop, state.Stop{ID: a.ID, Reason: reason, Lost: lost})
		stopping[a.ID] = true
	}
	for _, a := range allocs {
		n := byName[a.Node]
		if a.DesiredStatus != api.DesiredRun {
			// Already told to stop, but nobody will ever report that it did.
			if !a.TerminalStatus() && (n == nil || n.Status == api.NodeDown) {
				stop(a, fmt.Sprintf("node %s is down", a.Node), true)
			}
			continue
		}
		switch {
		case n == nil:
			stop(a, fmt.Sprintf("node %s is gone", a.Node), true)
			replacing = append(replacing, replaced{id: a.ID})
		case n.Status == api.NodeDown:
			stop(a, fmt.Sprintf("node %s is down", a.Node), true)
			replacing = append(replacing, replaced{id: a.ID})
		case a.TerminalStatus():
			stop(a, fmt.Sprintf("allocation %s on %s", a.Status, a.Node), false)
			if a.Status == api.AllocFailed {
				replacing = append(replacing, replaced{id: a.ID, avoid: a.Node})
			}
		case n.Status == api.NodeDraining:
			stop(a, fmt.Sprintf("node %s is draining", a.Node), false)
			replacing = append(replacing, replaced{id: a.ID})
		case a.CreateIndex < svc.CreateIndex:
			// Left from a deleted service of the same name whose delete
			// was superseded before it ran: revision numbers start again.
			stop(a, "service was deleted and created again", false)
		case a.Revision != svc.Revision:
			stop(a, fmt.Sprintf("replaced by revision %d", svc.Revision), false)
		default:
			keep = append(keep, a)
		}
	}

	replicas := svc.Replicas
	perNode := map[string]int{}
	for _, a := range keep {
		perNode[a.Node]++
	}
	if len(keep) > replicas {
		// Stop the least useful first: not yet running, then from the
		// nodes with the most replicas, then the newest.
		sort.SliceStable(keep, func(i, j int) bool {
			ri, rj := keep[i].Status == api.AllocRunning, keep[j].Status == api.AllocRunning
			if ri != rj {
				return !ri
			}
			if perNode[keep[i].Node] != perNode[keep[j].Node] {
				return perNode[keep[i].Node] > perNode[keep[j].Node]
			}
			return keep[i].CreateIndex > keep[j].CreateIndex
		})
		for _, a := range keep[:len(keep)-replicas] {
			stop(a, fmt.Sprintf("scaled down to %d", replicas), false)
			perNode[a.Node]--
		}
		keep = keep[len(keep)-replicas:]
	}

	outcome := &state.EvalOutcome{Status: api.EvalComplete, Stopped: len(plan.Stop)}
	plan.Eval = outcome
	missing := replicas - len(keep)
	if missing <= 0 {
		return plan
	}

	placer := placement.New(placementNodes(nodes, perNode), placement.Request{
		Resources: svc.Spec.Resources, HostPorts: plan.HostPorts,
		Constraints: svc.Spec.Placement.Constraints, Strategy: svc.Spec.Placement.Strategy,
	}, seed(eval.ID))
	// Usage leaves out what this plan stops: its resources are free for
	// the placements of the same plan.
	freed := map[string][]*api.Allocation{}
	for _, a := range allocs {
		if stopping[a.ID] && !a.Terminal() {
			freed[a.Node] = append(freed[a.Node], a)
		}
	}
	placer.SetLoader(func(n *placement.Node) {
		u := snap.CurrentUsage(n.Name)
		for _, a := range freed[n.Name] {
			u.Resources = u.Resources.Sub(a.Resources)
			for _, p := range a.HostPorts {
				delete(u.HostPorts, p)
			}
		}
		n.Allocated, n.HostPorts = u.Resources, u.HostPorts
	})
	ids := newIDs(eval.ID, snap.LatestIndex())
	for i := 0; i < missing; i++ {
		var prev replaced
		if i < len(replacing) {
			prev = replacing[i]
		}
		n, ok := placer.Place(prev.avoid)
		if !ok {
			outcome.Unplaced = missing - i
			outcome.PlacementFailure = placer.Failure().String()
			outcome.Status = api.EvalBlocked
			break
		}
		plan.Place = append(plan.Place, state.Placement{ID: ids(), Node: n.Name, Previous: prev.id})
	}
	outcome.Placed = len(plan.Place)
	return plan
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

// seed derives the placer's shuffle from the evaluation, so a run replays.
func seed(evalID string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(evalID))
	return h.Sum64()
}

// newIDs makes allocation IDs unique to the evaluation and the state it
// was computed from (a retry sees a newer index and makes new IDs).
func newIDs(evalID string, index uint64) func() string {
	var n uint64
	return func() string {
		n++
		return state.DeriveID(evalID, index, n)
	}
}
