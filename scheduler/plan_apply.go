package scheduler

import (
	"context"
	"fmt"
	"time"

	"flotilla/scheduler/placement"
	"flotilla/scheduler/state"
)

// Batching bounds of the plan applier: one Raft entry carries up to this
// many plans or placements.
const (
	maxPlansPerEntry      = 64
	maxPlacementsPerEntry = 50_000
)

type planRequest struct {
	ctx       context.Context
	plan      *state.Plan
	submitted time.Time
	done      chan planResult
}

// planResult tells a worker how its plan fared: Refused placements no
// longer fit the newest state, and the worker tries again from Index.
type planResult struct {
	Index   uint64
	Refused int
	Err     error
}

// planApplier is the single writer of plans on the leader. Workers compute
// plans from snapshots concurrently; the applier re-checks each one against
// the newest state plus the plans ahead of it in the same batch (optimistic
// concurrency), so no node is ever over-committed, and commits a batch of
// plans as one Raft entry.
type planApplier struct {
	s     *Server
	queue chan *planRequest
}

func newPlanApplier(s *Server) *planApplier {
	return &planApplier{s: s, queue: make(chan *planRequest, 4*maxPlansPerEntry)}
}

// submit queues a plan and waits for its result.
func (p *planApplier) submit(ctx context.Context, plan *state.Plan) planResult {
	req := &planRequest{ctx: ctx, plan: plan, submitted: time.Now(), done: make(chan planResult, 1)}
	select {
	case p.queue <- req:
	case <-ctx.Done():
		return planResult{Err: ctx.Err()}
	}
	select {
	case r := <-req.done:
		return r
	case <-ctx.Done():
		return planResult{Err: ctx.Err()}
	}
}

func (p *planApplier) run(ctx context.Context) {
	for {
		var first *planRequest
		select {
		case <-ctx.Done():
			return
		case first = <-p.queue:
		}
		batch := []*planRequest{first}
		placements := len(first.plan.Place)
	fill:
		for len(batch) < maxPlansPerEntry && placements < maxPlacementsPerEntry {
			select {
			case r := <-p.queue:
				batch = append(batch, r)
				placements += len(r.plan.Place)
			default:
				break fill
			}
		}
		p.applyBatch(batch)
	}
}

func (p *planApplier) applyBatch(batch []*planRequest) {
	// A worker that gave up (its term ended) must not see its plan applied.
	live := batch[:0]
	for _, r := range batch {
		if r.ctx.Err() != nil {
			r.done <- planResult{Err: r.ctx.Err()}
			continue
		}
		live = append(live, r)
	}
	batch = live
	if len(batch) == 0 {
		return
	}
	snap := p.s.store.Snapshot()
	ov := newOverlay(snap)
	results := make([]planResult, len(batch))
	var accepted []*state.Plan
	for i, r := range batch {
		plan, refused := ov.evaluate(r.plan)
		results[i].Refused = refused
		if len(plan.Place)+len(plan.Stop) > 0 || plan.Eval != nil || len(plan.Canceled) > 0 {
			accepted = append(accepted, plan)
		}
		p.s.metrics.planPlacements.Add(float64(len(plan.Place)))
		p.s.metrics.planRefused.Add(float64(refused))
	}
	index := snap.LatestIndex()
	var err error
	if len(accepted) > 0 {
		_, index, err = p.s.apply(state.CmdApplyPlans, &state.ApplyPlans{Plans: accepted, Time: p.s.now()})
		if err != nil {
			err = fmt.Errorf("commit %d plans: %w", len(accepted), err)
		}
	}
	for i, r := range batch {
		results[i].Index, results[i].Err = index, err
		p.s.metrics.planLatency.Observe(time.Since(r.submitted).Seconds())
		r.done <- results[i]
	}
}

// overlay is the newest state plus what the batch so far has accepted.
type overlay struct {
	snap    *state.Snapshot
	nodes   map[string]*placement.Node
	stopped map[string]bool
}

func newOverlay(snap *state.Snapshot) *overlay {
	return &overlay{snap: snap, nodes: map[string]*placement.Node{}, stopped: map[string]bool{}}
}

// node returns a node with its committed usage, less what the batch
// stopped, plus what it placed; nil when the node does not exist.
func (o *overlay) node(name string) *placement.Node {
	if n, ok := o.nodes[name]; ok {
		return n
	}
	n := o.snap.NodeWithoutUsage(name)
	if n == nil {
		return nil
	}
	// Usage from the same snapshot as the allocations the batch stops, so
	// that nothing is given back twice.
	u := o.snap.NodeUsage(name, nil)
	pn := &placement.Node{Name: n.Name, Status: n.Status, Eligible: n.Eligible, Labels: n.Labels,
		Capacity: n.Capacity, Allocated: u.Resources, HostPorts: u.HostPorts}
	o.nodes[name] = pn
	return pn
}

// evaluate returns the part of a plan that still fits and how many
// placements it refused. A plan with refusals leaves its evaluation pending
// for the worker to retry.
func (o *overlay) evaluate(in *state.Plan) (*state.Plan, int) {
	out := *in
	out.Place, out.Stop = nil, nil
	for _, st := range in.Stop {
		a := o.snap.Allocation(nil, st.ID)
		if a == nil || o.stopped[a.ID] {
			continue
		}
		o.stopped[a.ID] = true
		out.Stop = append(out.Stop, st)
		if on := o.node(a.Node); on != nil && !a.Terminal() {
			on.Allocated = on.Allocated.Sub(a.Resources)
			for _, port := range a.HostPorts {
				delete(on.HostPorts, port)
			}
		}
	}
	refused := 0
	for _, pl := range in.Place {
		_, resources, hostPorts := in.PlacementRevision(pl)
		req := &placement.Request{Resources: resources, HostPorts: hostPorts}
		on := o.node(pl.Node)
		if on == nil || o.snap.Allocation(nil, pl.ID) != nil || placement.Check(on, req) != "" {
			refused++
			continue
		}
		on.Allocated = on.Allocated.Add(resources)
		for _, port := range hostPorts {
			if on.HostPorts == nil {
				on.HostPorts = map[int]bool{}
			}
			on.HostPorts[port] = true
		}
		out.Place = append(out.Place, pl)
	}
	if refused > 0 {
		out.Eval = nil
	}
	return &out, refused
}
