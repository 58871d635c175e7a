package state

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"flotilla/api"
)

// times returns r added n times.
func times(r api.Resources, n int) api.Resources {
	var out api.Resources
	for i := 0; i < n; i++ {
		out = out.Add(r)
	}
	return out
}

func allocIDs(allocs []*api.Allocation) []string {
	out := make([]string, len(allocs))
	for i, a := range allocs {
		out[i] = a.ID
	}
	sort.Strings(out)
	return out
}

func checkUsage(t *testing.T, h *harness, node string, count int) {
	t.Helper()
	n := h.node(node)
	if want := times(webResources, count); n.Allocated != want || n.Allocations != count {
		t.Errorf("node %s: allocated %v in %d allocations, want %v in %d", node, n.Allocated, n.Allocations, want, count)
	}
}

func TestApplyPlansPlacementsCreatePendingAllocationsAndUseNodes(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.registerNode("n2", nil)
	res := h.upsert(decodeSpec(t, webYAML))
	capacity := h.snap().Index(IndexCapacity)
	events := h.lastEventID()

	plan := placePlan("web", res.EvalID, "a1@n1", "a2@n1", "a3@n2")
	plan.HostPorts = []int{8080}
	plan.Place[2].Previous = "old-1"
	h.plans(plan)

	snap := h.snap()
	for _, a := range snap.Allocations(nil) {
		if a.Status != api.AllocPending || a.DesiredStatus != api.DesiredRun || a.Ready {
			t.Errorf("%s: %s/%s ready=%v, want pending, desired run, not ready", a.ID, a.Status, a.DesiredStatus, a.Ready)
		}
		if a.Resources != webResources || a.Revision != 1 || a.EvalID != res.EvalID || a.ServiceKey() != "default/web" {
			t.Errorf("%s: resources %v revision %d eval %s service %s", a.ID, a.Resources, a.Revision, a.EvalID, a.ServiceKey())
		}
		if !reflect.DeepEqual(a.HostPorts, []int{8080}) {
			t.Errorf("%s: host ports %v, want [8080]", a.ID, a.HostPorts)
		}
		if a.CreateIndex != h.index || a.ModifyIndex != h.index || !a.CreateTime.Equal(entryTime(h.index)) {
			t.Errorf("%s: indexes %d/%d time %v, want %d at %v", a.ID, a.CreateIndex, a.ModifyIndex, a.CreateTime, h.index, entryTime(h.index))
		}
	}
	if got := snap.Allocation(nil, "a3").PreviousAllocation; got != "old-1" {
		t.Errorf("a3 replaces %q, want old-1", got)
	}
	if got := allocIDs(snap.AllocationsByNode(nil, "n1")); !reflect.DeepEqual(got, []string{"a1", "a2"}) {
		t.Errorf("n1 holds %v, want [a1 a2]", got)
	}
	if got := allocIDs(snap.AllocationsByService(nil, "default", "web")); !reflect.DeepEqual(got, []string{"a1", "a2", "a3"}) {
		t.Errorf("web has %v, want [a1 a2 a3]", got)
	}
	if got := allocIDs(snap.AllocationsByPrefix("a")); len(got) != 3 {
		t.Errorf("prefix a matches %v, want 3", got)
	}
	checkUsage(t, h, "n1", 2)
	checkUsage(t, h, "n2", 1)
	// Usage is summed from allocations when read: placing does not
	// rewrite the node object.
	if n := h.node("n1"); n.ModifyIndex == h.index {
		t.Errorf("n1 ModifyIndex = %d: placing rewrote the node", n.ModifyIndex)
	}
	if got := snap.Index(IndexCapacity); got != capacity {
		t.Errorf("capacity index moved from %d to %d on placement", capacity, got)
	}
	if got := snap.Index(tableAllocs); got != h.index {
		t.Errorf("Index(allocs) = %d, want %d", got, h.index)
	}
	if evs := h.eventsSince(events); len(evs) != 1 || evs[0].Type != api.EventAllocationsPlaced {
		t.Errorf("events = %v, want [AllocationsPlaced]", eventTypes(evs))
	}
	if e := h.eval(res.EvalID); e.Status != api.EvalPending {
		t.Errorf("evaluation = %s, want still pending (the plan carries no outcome)", e.Status)
	}
}

func TestApplyPlansStopsMarkDesiredStopAndFreeUsage(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.place("web", "e1", "a1@n1", "a2@n1")
	h.report("n1", running("a1"))
	capacity := h.snap().Index(IndexCapacity)
	events := h.lastEventID()

	h.stop("web", Stop{ID: "a1", Reason: "scaled down"}, Stop{ID: "missing", Reason: "gone"})
	stopped := h.index

	a := h.alloc("a1")
	if a.DesiredStatus != api.DesiredStop || a.DesiredReason != "scaled down" || a.Status != api.AllocRunning {
		t.Errorf("a1 = desired %s (%q), status %s; want stop, scaled down, still running", a.DesiredStatus, a.DesiredReason, a.Status)
	}
	if a.ModifyIndex != stopped {
		t.Errorf("a1 ModifyIndex = %d, want %d", a.ModifyIndex, stopped)
	}
	checkUsage(t, h, "n1", 1)
	if got := h.snap().Index(IndexCapacity); got != stopped || got == capacity {
		t.Errorf("capacity index = %d, want %d (an allocation stopped)", got, stopped)
	}
	if evs := h.eventsSince(events); len(evs) != 1 || evs[0].Type != api.EventAllocationStopped {
		t.Errorf("events = %v, want [AllocationsStopped]", eventTypes(evs))
	}

	// Stopping it again changes nothing and frees nothing more.
	h.stop("web", Stop{ID: "a1", Reason: "again"})
	if a := h.alloc("a1"); a.ModifyIndex != stopped || a.DesiredReason != "scaled down" {
		t.Errorf("second stop rewrote a1: %+v", a)
	}
	checkUsage(t, h, "n1", 1)
	if got := h.snap().Index(IndexCapacity); got != stopped {
		t.Errorf("capacity index = %d after a no-op stop, want %d", got, stopped)
	}
}

func TestApplyPlansLostStopsMarkAllocationsLost(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.place("web", "e1", "a1@n1", "a2@n1")
	h.report("n1", running("a1"), withStatus("a2", api.AllocComplete))
	h.nodeStatus("n1", api.NodeDown)
	events := h.lastEventID()

	h.stop("web", Stop{ID: "a1", Reason: "node n1 down", Lost: true}, Stop{ID: "a2", Reason: "node n1 down", Lost: true})

	a1 := h.alloc("a1")
	if a1.Status != api.AllocLost || a1.Ready || a1.DesiredStatus != api.DesiredStop || a1.StatusMessage != "node n1 down" {
		t.Errorf("a1 = %s ready=%v desired %s %q; want lost, not ready, stop, with the reason", a1.Status, a1.Ready, a1.DesiredStatus, a1.StatusMessage)
	}
	if a2 := h.alloc("a2"); a2.Status != api.AllocComplete || a2.DesiredStatus != api.DesiredStop {
		t.Errorf("a2 = %s desired %s; a finished allocation stays complete (desired stop)", a2.Status, a2.DesiredStatus)
	}
	checkUsage(t, h, "n1", 0)
	evs := h.eventsSince(events)
	if len(evs) != 1 || evs[0].Type != api.EventAllocationsLost || !strings.Contains(evs[0].Message, "on n1") {
		t.Errorf("events = %+v, want one AllocationsLost naming n1", evs)
	}
}

func TestApplyPlansRecordsEvaluationOutcome(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	res := h.upsert(decodeSpec(t, webYAML))
	events := h.lastEventID()

	plan := placePlan("web", res.EvalID, "a1@n1", "a2@n1")
	plan.Eval = &EvalOutcome{Status: api.EvalBlocked, Description: "1 unplaced", Placed: 2, Unplaced: 1, PlacementFailure: "insufficient memory on 3 nodes"}
	h.plans(plan)
	failedAt := h.index

	e := h.eval(res.EvalID)
	if e.Status != api.EvalBlocked || e.StatusDescription != "1 unplaced" || e.Placed != 2 || e.Unplaced != 1 ||
		e.PlacementFailure != "insufficient memory on 3 nodes" || e.ModifyIndex != failedAt || !e.ModifyTime.Equal(entryTime(failedAt)) {
		t.Errorf("evaluation = %+v, want the outcome recorded at %d", e, failedAt)
	}
	svc := h.snap().Service(nil, "default", "web")
	if svc.Unplaced != 1 || svc.PlacementFailure != "insufficient memory on 3 nodes" || svc.ModifyIndex != failedAt {
		t.Errorf("service = unplaced %d %q at %d, want 1 with the failure at %d", svc.Unplaced, svc.PlacementFailure, svc.ModifyIndex, failedAt)
	}
	got := eventTypes(h.eventsSince(events))
	if want := []string{api.EventAllocationsPlaced, api.EventPlacementFailed}; !reflect.DeepEqual(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}

	// The same shortfall again leaves the service as it is.
	second := h.upsert(decodeSpec(t, strings.Replace(webYAML, "replicas: 3", "replicas: 4", 1)))
	serviceAt := h.index
	h.plans(&Plan{EvalID: second.EvalID, Namespace: "default", Service: "web", Revision: 1, Eval: &EvalOutcome{Status: api.EvalBlocked, Unplaced: 1, PlacementFailure: "insufficient memory on 3 nodes"}})
	if svc := h.snap().Service(nil, "default", "web"); svc.ModifyIndex != serviceAt {
		t.Errorf("service ModifyIndex = %d, want %d (same shortfall)", svc.ModifyIndex, serviceAt)
	}

	// A later evaluation that places everything clears it.
	third := h.upsert(decodeSpec(t, strings.Replace(webYAML, "replicas: 3", "replicas: 2", 1)))
	events = h.lastEventID()
	h.plans(&Plan{EvalID: third.EvalID, Namespace: "default", Service: "web", Revision: 1, Eval: &EvalOutcome{Status: api.EvalComplete}})
	svc = h.snap().Service(nil, "default", "web")
	if svc.Unplaced != 0 || svc.PlacementFailure != "" || svc.ModifyIndex != h.index {
		t.Errorf("service = unplaced %d %q at %d, want cleared at %d", svc.Unplaced, svc.PlacementFailure, svc.ModifyIndex, h.index)
	}
	if e := h.eval(third.EvalID); e.Status != api.EvalComplete {
		t.Errorf("evaluation = %s, want complete", e.Status)
	}
	if evs := h.eventsSince(events); hasEvent(evs, api.EventPlacementFailed) {
		t.Errorf("events = %v, want no PlacementFailed once all is placed", eventTypes(evs))
	}
}

func TestApplyPlansCancelsSupersededEvaluations(t *testing.T) {
	h := newHarness(t)
	first := h.upsert(decodeSpec(t, webYAML))
	second := h.upsert(decodeSpec(t, strings.Replace(webYAML, "replicas: 3", "replicas: 4", 1)))
	done := h.upsert(decodeSpec(t, strings.Replace(webYAML, "replicas: 3", "replicas: 5", 1)))
	h.plans(&Plan{EvalID: done.EvalID, Namespace: "default", Service: "web", Revision: 1, Eval: &EvalOutcome{Status: api.EvalComplete}})
	completedAt := h.index
	last := h.upsert(decodeSpec(t, strings.Replace(webYAML, "replicas: 3", "replicas: 6", 1)))

	h.plans(&Plan{EvalID: last.EvalID, Namespace: "default", Service: "web", Revision: 1,
		Canceled: []string{first.EvalID, second.EvalID, done.EvalID, "missing"},
		Eval:     &EvalOutcome{Status: api.EvalComplete}})

	for _, id := range []string{first.EvalID, second.EvalID} {
		e := h.eval(id)
		if e.Status != api.EvalCanceled || e.StatusDescription != "superseded by "+last.EvalID || e.ModifyIndex != h.index {
			t.Errorf("evaluation %s = %s %q at %d, want canceled, superseded by %s", id, e.Status, e.StatusDescription, e.ModifyIndex, last.EvalID)
		}
	}
	if e := h.eval(done.EvalID); e.Status != api.EvalComplete || e.ModifyIndex != completedAt {
		t.Errorf("finished evaluation = %s at %d, want it left complete at %d", e.Status, e.ModifyIndex, completedAt)
	}
	if e := h.eval(last.EvalID); e.Status != api.EvalComplete {
		t.Errorf("superseding evaluation = %s, want complete", e.Status)
	}
}

func TestApplyPlansFinishesDrainWhenNothingIsLeftRunning(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.place("web", "e1", "a1@n1", "a2@n1")
	h.drain("n1", true)
	if n := h.node("n1"); n.Status != api.NodeDraining {
		t.Fatalf("status = %s, want draining", n.Status)
	}
	events := h.lastEventID()

	// Neither allocation ever started: stopping them ends the drain.
	h.stop("web", Stop{ID: "a1", Reason: "node drained"}, Stop{ID: "a2", Reason: "node drained"})

	n := h.node("n1")
	if n.Status != api.NodeReady || n.Eligible || n.Allocations != 0 || n.Allocated != (api.Resources{}) {
		t.Errorf("node = %s eligible=%v usage %v (%d), want ready, ineligible, empty", n.Status, n.Eligible, n.Allocated, n.Allocations)
	}
	if evs := h.eventsSince(events); !hasEvent(evs, api.EventNodeDrained) {
		t.Errorf("events = %v, want NodeDrained", eventTypes(evs))
	}
}

func TestGCDeletesOnlyTerminalAllocationsAndEvaluations(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	pending := h.upsert(decodeSpec(t, webYAML)).EvalID
	h.place("web", pending, "run@n1", "done@n1", "failed@n1", "stopped@n1", "pending@n1")
	h.report("n1", running("run"), withStatus("done", api.AllocComplete), withStatus("failed", api.AllocFailed))
	h.stop("web", Stop{ID: "stopped", Reason: "scaled down"})

	evalWith := func(replicas, status string) string {
		id := h.upsert(decodeSpec(t, strings.Replace(webYAML, "replicas: 3", "replicas: "+replicas, 1))).EvalID
		h.plans(&Plan{EvalID: id, Namespace: "default", Service: "web", Revision: 1, Eval: &EvalOutcome{Status: status}})
		return id
	}
	complete := evalWith("4", api.EvalComplete)
	blocked := evalWith("5", api.EvalBlocked)
	failed := evalWith("6", api.EvalFailed)
	canceled := h.upsert(decodeSpec(t, strings.Replace(webYAML, "replicas: 3", "replicas: 7", 1))).EvalID
	h.plans(&Plan{EvalID: "x", Namespace: "default", Service: "web", Canceled: []string{canceled}})
	failureEvals := h.snap().Evaluations(nil)
	usage := h.node("n1")

	var allEvals []string
	for _, e := range failureEvals {
		allEvals = append(allEvals, e.ID)
	}
	h.ok(CmdGC, &GC{
		Allocations: []string{"run", "done", "failed", "stopped", "pending", "missing"},
		Evaluations: append(allEvals, "missing"),
	})

	snap := h.snap()
	if got := allocIDs(snap.Allocations(nil)); !reflect.DeepEqual(got, []string{"pending", "run"}) {
		t.Errorf("allocations left = %v, want [pending run]", got)
	}
	var left []string
	for _, e := range snap.Evaluations(nil) {
		if e.Terminal() {
			t.Errorf("terminal evaluation %s (%s) survived GC", e.ID, e.Status)
		}
		left = append(left, e.ID)
	}
	sort.Strings(left)
	want := []string{blocked}
	for _, e := range failureEvals {
		if e.Status == api.EvalPending {
			want = append(want, e.ID)
		}
	}
	sort.Strings(want)
	if !reflect.DeepEqual(left, want) {
		t.Errorf("evaluations left = %v, want %v (pending and blocked)", left, want)
	}
	for _, id := range []string{complete, failed, canceled} {
		if snap.Evaluation(nil, id) != nil {
			t.Errorf("evaluation %s survived GC", id)
		}
	}
	if n := h.node("n1"); n.Allocated != usage.Allocated || n.Allocations != usage.Allocations {
		t.Errorf("GC changed node usage from %v (%d) to %v (%d)", usage.Allocated, usage.Allocations, n.Allocated, n.Allocations)
	}
	checkUsage(t, h, "n1", 2)
}

func TestPlacementsCarryTheirRevisionsIndexWhichARecreatedServiceChanges(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	first := h.upsert(decodeSpec(t, webYAML))
	h.place("web", first.EvalID, "a1@n1")
	rev1 := h.snap().Revision("default", "web", 1)
	if a := h.snap().Allocation(nil, "a1"); a.RevisionIndex == 0 || a.RevisionIndex != rev1.CreateIndex {
		t.Fatalf("a1 has revision index %d, want revision 1's create index %d", a.RevisionIndex, rev1.CreateIndex)
	}
	h.ok(CmdDeleteService, &DeleteService{Namespace: "default", Name: "web", Time: h.next()})
	again := h.upsert(decodeSpec(t, webYAML))
	h.place("web", again.EvalID, "a2@n1")
	a1, a2 := h.snap().Allocation(nil, "a1"), h.snap().Allocation(nil, "a2")
	if a2.Revision != a1.Revision || a2.RevisionIndex <= a1.RevisionIndex {
		t.Fatalf("re-created service: a1 revision %d@%d, a2 %d@%d: want the same number at a later index", a1.Revision, a1.RevisionIndex, a2.Revision, a2.RevisionIndex)
	}
}
