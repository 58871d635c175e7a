package scheduler

import (
	"context"
	"strconv"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/scheduler/state"
)

// stateWith builds a store by applying commands through the FSM.
type stateBuilder struct {
	t     *testing.T
	fsm   *state.FSM
	index uint64
}

func newStateBuilder(t *testing.T) *stateBuilder {
	return &stateBuilder{t: t, fsm: state.NewFSM(state.NewStore(), nil)}
}

func (b *stateBuilder) apply(ct state.CommandType, body any) any {
	b.t.Helper()
	data, err := state.Encode(ct, body)
	if err != nil {
		b.t.Fatal(err)
	}
	b.index++
	res := b.fsm.ApplyCommand(b.index, ct, data[1:])
	if err, ok := res.(error); ok {
		b.t.Fatalf("apply %s: %v", ct, err)
	}
	return res
}

func (b *stateBuilder) node(name string, cpu api.CPU, mem api.Memory) {
	b.apply(state.CmdRegisterNode, &state.RegisterNode{Name: name, Registration: api.NodeRegistration{Capacity: api.Resources{CPU: cpu, Memory: mem}}})
}

func onePlacement(id, node string, cpu api.CPU) *state.Plan {
	return &state.Plan{EvalID: "e-" + id, Namespace: "default", Service: "svc-" + id, Revision: 1,
		Resources: api.Resources{CPU: cpu, Memory: 1 << 20},
		Place:     []state.Placement{{ID: id, Node: node}},
		Eval:      &state.EvalOutcome{Status: api.EvalComplete, Placed: 1}}
}

func TestPlanApplierRefusesWhatNoLongerFits(t *testing.T) {
	b := newStateBuilder(t)
	b.node("n1", 1000, 1<<30)
	ov := newOverlay(b.fsm.Store().Snapshot())

	// Two workers planned from the same snapshot; each plan fits alone.
	first, refused := ov.evaluate(onePlacement("a1", "n1", 600))
	if refused != 0 || len(first.Place) != 1 || first.Eval == nil {
		t.Fatalf("first plan: refused %d, kept %v", refused, first.Place)
	}
	second, refused := ov.evaluate(onePlacement("a2", "n1", 600))
	if refused != 1 || len(second.Place) != 0 {
		t.Fatalf("second plan: refused %d, kept %v; want it refused", refused, second.Place)
	}
	if second.Eval != nil {
		t.Fatal("a refused plan must leave its evaluation pending for a retry")
	}
}

func TestPlanApplierRefusesPlacementsOnNodesThatCannotTakeThem(t *testing.T) {
	b := newStateBuilder(t)
	b.node("down", 4000, 1<<30)
	b.node("ineligible", 4000, 1<<30)
	b.node("ok", 4000, 1<<30)
	b.apply(state.CmdNodeStatus, &state.NodeStatus{Name: "down", Status: api.NodeDown})
	b.apply(state.CmdNodeEligibility, &state.NodeEligibility{Name: "ineligible", Eligible: false})
	b.apply(state.CmdApplyPlans, &state.ApplyPlans{Plans: []*state.Plan{onePlacement("taken", "ok", 10)}})

	for _, tc := range []struct{ id, node string }{
		{"x1", "down"}, {"x2", "ineligible"}, {"x3", "missing"}, {"taken", "ok"},
	} {
		ov := newOverlay(b.fsm.Store().Snapshot())
		if _, refused := ov.evaluate(onePlacement(tc.id, tc.node, 10)); refused != 1 {
			t.Errorf("placement %s on %s: refused %d, want 1", tc.id, tc.node, refused)
		}
	}
}

func TestPlanApplierCountsStopsBeforePlacements(t *testing.T) {
	b := newStateBuilder(t)
	b.node("n1", 1000, 1<<30)
	b.apply(state.CmdApplyPlans, &state.ApplyPlans{Plans: []*state.Plan{onePlacement("old", "n1", 800)}})
	ov := newOverlay(b.fsm.Store().Snapshot())
	plan := onePlacement("new", "n1", 800)
	plan.Stop = []state.Stop{{ID: "old", Reason: "replaced"}}
	out, refused := ov.evaluate(plan)
	if refused != 0 || len(out.Place) != 1 || len(out.Stop) != 1 {
		t.Fatalf("refused %d, out %+v", refused, out)
	}
}

func TestPlanApplierKeepsHostPortsUnique(t *testing.T) {
	b := newStateBuilder(t)
	b.node("n1", 4000, 1<<30)
	withPort := func(id string) *state.Plan {
		p := onePlacement(id, "n1", 10)
		p.HostPorts = []int{80}
		return p
	}
	b.apply(state.CmdApplyPlans, &state.ApplyPlans{Plans: []*state.Plan{withPort("a1")}})
	ov := newOverlay(b.fsm.Store().Snapshot())
	if _, refused := ov.evaluate(withPort("a2")); refused != 1 {
		t.Fatalf("second allocation with host port 80 on n1: refused %d, want 1", refused)
	}
	freed := withPort("a3")
	freed.Stop = []state.Stop{{ID: "a1"}}
	if _, refused := newOverlay(b.fsm.Store().Snapshot()).evaluate(freed); refused != 0 {
		t.Fatalf("port freed by a stop in the same plan: refused %d, want 0", refused)
	}
}

// TestConcurrentPlansNeverOverCommitANode drives the real applier on a
// one-server cluster: many workers' plans race for one small node.
func TestConcurrentPlansNeverOverCommitANode(t *testing.T) {
	c := startCluster(t, 1, nil)
	leader := waitLeader(t, c)
	client := clientFor(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.RegisterNode(ctx, "small", api.NodeRegistration{Capacity: api.Resources{CPU: 1000, Memory: 1 << 30}}); err != nil {
		t.Fatal(err)
	}
	results := make(chan planResult, 10)
	for i := 0; i < 10; i++ {
		go func() {
			results <- leader.currentPlans().submit(ctx, onePlacement(string(rune('a'+i))+"-alloc", "small", 300))
		}()
	}
	accepted, refused := 0, 0
	for i := 0; i < 10; i++ {
		r := <-results
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		refused += r.Refused
		accepted += 1 - r.Refused
	}
	if accepted != 3 || refused != 7 {
		t.Fatalf("accepted %d refused %d, want 3 and 7 (1000m fits three 300m)", accepted, refused)
	}
	n := leader.Store().Snapshot().Node(nil, "small")
	if n.Allocated.CPU != 900 || n.Allocations != 3 {
		t.Fatalf("node allocated %v with %d allocations", n.Allocated, n.Allocations)
	}
}

func TestBigPlansCommitInPartsThatEachKeepTheInvariants(t *testing.T) {
	small := func(id string) *state.Plan { return onePlacement(id, "n1", 10) }
	big := onePlacement("b-0", "n1", 10)
	for i := 1; i < 5000; i++ {
		big.Place = append(big.Place, state.Placement{ID: "b-" + strconv.Itoa(i), Node: "n1"})
	}
	for i := 0; i < 10; i++ {
		big.Stop = append(big.Stop, state.Stop{ID: "old-" + strconv.Itoa(i)})
	}
	big.Rollout, big.RolloutIndex = &api.Rollout{Namespace: "default", Service: big.Service}, 7
	big.RolloutEvents = []state.RolloutEvent{{Type: "RolloutStarted"}}
	big.Canceled = []string{"e-superseded"}

	entries := splitPlans([]*state.Plan{small("a"), small("b"), big, small("c")}, 2000)
	if len(entries) != 5 {
		t.Fatalf("%d entries, want 5: the two small plans, the big one's 3 parts, the last small one", len(entries))
	}
	if len(entries[0].plans) != 2 || len(entries[4].plans) != 1 {
		t.Fatalf("small plans share an entry while there is room: %d, %d", len(entries[0].plans), len(entries[4].plans))
	}
	var placed []state.Placement
	var stops int
	for i, e := range entries[1:4] {
		if len(e.plans) != 1 {
			t.Fatalf("part %d shares its entry with %d plans", i, len(e.plans)-1)
		}
		part := e.plans[0]
		if w := len(part.Place) + len(part.Stop); w > 2000 {
			t.Fatalf("part %d has %d writes, want at most 2000", i, w)
		}
		if i > 0 && len(part.Stop) > 0 {
			t.Fatalf("part %d stops allocations: stops go first", i)
		}
		if (part.Rollout != nil || len(part.RolloutEvents) > 0) != (i == 0) {
			t.Fatalf("part %d: rollout state %v; only the first part carries it", i, part.Rollout)
		}
		if (part.Eval != nil || len(part.Canceled) > 0) != (i == 2) {
			t.Fatalf("part %d: evaluation outcome %v; only the last part carries it", i, part.Eval)
		}
		if part.RolloutIndex != 7 || part.EvalID != big.EvalID || part.Resources != big.Resources {
			t.Fatalf("part %d lost what every part needs: %+v", i, part)
		}
		placed = append(placed, part.Place...)
		stops += len(part.Stop)
	}
	if len(placed) != 5000 || stops != 10 {
		t.Fatalf("parts place %d and stop %d, want 5000 and 10", len(placed), stops)
	}
	for i, pl := range placed {
		if pl.ID != "b-"+strconv.Itoa(i) {
			t.Fatalf("placement %d is %s: parts keep the plan's order", i, pl.ID)
		}
	}
	if got := entries[1].afterRollout; len(got) != 2 || got[0] != entries[2].plans[0] || got[1] != entries[3].plans[0] {
		t.Fatalf("after the part storing the rollout state: %v, want the 2 later parts", got)
	}
}

// TestABigPlanIsCommittedInPartsAndPlacesEverything drives the real
// applier: a plan five times an entry's bound places every allocation,
// over several Raft entries.
func TestABigPlanIsCommittedInPartsAndPlacesEverything(t *testing.T) {
	c := startCluster(t, 1, nil)
	leader := waitLeader(t, c)
	client := clientFor(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := client.RegisterNode(ctx, "big", api.NodeRegistration{Capacity: api.Resources{CPU: 1_000_000, Memory: 1 << 40}}); err != nil {
		t.Fatal(err)
	}
	before := leader.Store().Snapshot().LatestIndex()
	plan := onePlacement("p-0", "big", 10)
	for i := 1; i < 5*maxWritesPerEntry; i++ {
		plan.Place = append(plan.Place, state.Placement{ID: "p-" + strconv.Itoa(i), Node: "big"})
	}
	r := leader.currentPlans().submit(ctx, plan)
	if r.Err != nil || r.Refused != 0 {
		t.Fatalf("submit: refused %d, %v", r.Refused, r.Err)
	}
	snap := leader.Store().Snapshot()
	if n := snap.Node(nil, "big"); n.Allocations != 5*maxWritesPerEntry {
		t.Fatalf("%d allocations on the node, want %d", n.Allocations, 5*maxWritesPerEntry)
	}
	if entries := r.Index - before; entries < 5 {
		t.Fatalf("the plan took %d Raft entries, want at least 5", entries)
	}
}
