package scheduler

import (
	"context"
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
