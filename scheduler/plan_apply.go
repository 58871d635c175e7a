package scheduler

import (
	"context"
	"fmt"
	"time"

	"flotilla/scheduler/placement"
	"flotilla/scheduler/state"
)

// Batching bounds of the plan applier: a batch re-checked together holds
// up to maxPlansPerEntry plans or maxPlacementsPerBatch placements, and
// is committed in Raft entries of at most maxWritesPerEntry placements
// and stops. A plan of 100,000 placements in one 6 MB entry took seconds
// to apply on every server, which starved Raft's heartbeats; 1,000 take
// about 25 ms, and the agents' reports commit in between. Past a few
// thousand writes an entry, memdb's radix trees stop tracking which watch
// channels the transaction touched (8,192 at most) and walk the whole tree
// at commit instead: 100,000 placements in entries of 2,000 took 5.7 s to
// apply, in entries of 1,000 2.5 s (MaxWritesPerEntry in state).
const (
	maxPlansPerEntry      = 64
	maxPlacementsPerBatch = 50_000
	maxWritesPerEntry     = state.MaxWritesPerEntry
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
		for len(batch) < maxPlansPerEntry && placements < maxPlacementsPerBatch {
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
	// The entries are appended without waiting for each to commit (a
	// Raft round trip each, a hundred of them for 100,000 placements):
	// they commit in order, so the last part of a plan, which completes
	// its evaluation, never commits without the parts before it. Only a
	// part that stores its plan's rollout state is waited for, since the
	// parts after it check against that state's index.
	entries := splitPlans(accepted, maxWritesPerEntry)
	var waits []func() (any, uint64, error)
	wait := func() {
		for i, w := range waits {
			if _, idx, werr := w(); werr != nil && err == nil {
				// The entries before stay committed: each is whole, and
				// the workers plan again from the newest state.
				err = fmt.Errorf("commit %d plans (an entry of %d): %w", len(accepted), len(entries), werr)
			} else if werr == nil && i == len(waits)-1 {
				index = idx
			}
		}
		waits = waits[:0]
	}
	for _, e := range entries {
		waits = append(waits, p.s.applyAsync(state.CmdApplyPlans, &state.ApplyPlans{Plans: e.plans, Time: p.s.now()}))
		if len(e.afterRollout) == 0 {
			continue
		}
		wait()
		if err != nil {
			break
		}
		// The rest of the plan checks against the rollout state this
		// entry stored: a person's action since still drops it.
		for _, rest := range e.afterRollout {
			rest.RolloutIndex = index
		}
	}
	wait()
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

// planEntry is the plans one Raft entry carries; afterRollout are later
// parts of a plan whose rollout state this entry stores.
type planEntry struct {
	plans        []*state.Plan
	afterRollout []*state.Plan
}

// planWrites is what a plan costs an entry: its placements and stops, at
// least 1 (an evaluation's outcome alone).
func planWrites(p *state.Plan) int {
	return max(1, len(p.Place)+len(p.Stop))
}

// splitPlans packs plans into entries of at most size writes, splitting
// a plan bigger than that into parts of its own entries. Each part is a
// plan that keeps every invariant once applied alone: its stops come
// first (never more running than the whole plan would leave), the rollout
// state with the first part, and the evaluation's outcome (and what it
// superseded) with the last, so the evaluation stays pending, and a new
// leader plans the remainder again, until every part is in.
func splitPlans(plans []*state.Plan, size int) []planEntry {
	var entries []planEntry
	room := 0
	for _, p := range plans {
		w := planWrites(p)
		if w <= size {
			if w > room {
				entries = append(entries, planEntry{})
				room = size
			}
			last := &entries[len(entries)-1]
			last.plans = append(last.plans, p)
			room -= w
			continue
		}
		parts := splitPlan(p, size)
		for i, part := range parts {
			e := planEntry{plans: []*state.Plan{part}}
			if i == 0 && part.Rollout != nil {
				e.afterRollout = parts[1:]
			}
			entries = append(entries, e)
		}
		room = 0
	}
	return entries
}

// splitPlan cuts a plan into parts of at most size placements and stops.
func splitPlan(p *state.Plan, size int) []*state.Plan {
	var parts []*state.Plan
	stops, places := p.Stop, p.Place
	for len(stops)+len(places) > 0 {
		part := *p
		n := min(size, len(stops))
		part.Stop, stops = stops[:n:n], stops[n:]
		m := min(size-n, len(places))
		part.Place, places = places[:m:m], places[m:]
		if len(part.Stop) == 0 {
			part.Stop = nil
		}
		if len(part.Place) == 0 {
			part.Place = nil
		}
		parts = append(parts, &part)
	}
	for i, part := range parts {
		if i > 0 {
			part.Rollout, part.RolloutEvents = nil, nil
		}
		if i < len(parts)-1 {
			part.Eval, part.Canceled = nil, nil
		}
	}
	return parts
}
