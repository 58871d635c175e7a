package scheduler

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/scheduler/state"
)

// fakeState is a hand-made State for computePlan.
type fakeState struct {
	services  map[string]*api.Service
	nodes     []*api.Node
	allocs    []*api.Allocation
	rollouts  map[string]*api.Rollout
	revisions map[string]*api.Revision // "ns/name/rev"
}

func (f *fakeState) Rollout(_ WatchSet, ns, name string) *api.Rollout { return f.rollouts[ns+"/"+name] }
func (f *fakeState) Revision(ns, name string, rev int) *api.Revision {
	return f.revisions[fmt.Sprintf("%s/%s/%d", ns, name, rev)]
}

func (f *fakeState) Service(_ WatchSet, ns, name string) *api.Service { return f.services[ns+"/"+name] }
func (f *fakeState) NodesWithoutUsage(WatchSet) []*api.Node           { return f.nodes }
func (f *fakeState) LatestIndex() uint64                              { return 100 }
func (f *fakeState) AllocationsByService(_ WatchSet, ns, name string) []*api.Allocation {
	var out []*api.Allocation
	for _, a := range f.allocs {
		if a.Namespace == ns && a.Service == name {
			out = append(out, a)
		}
	}
	return out
}
func (f *fakeState) CurrentUsage(node string) state.Usage {
	var u state.Usage
	for _, a := range f.allocs {
		if a.Node != node || a.Terminal() {
			continue
		}
		u.Add(a)
	}
	return u
}

func testService(t *testing.T, replicas, revision int, extra string) *api.Service {
	t.Helper()
	doc := fmt.Sprintf("kind: Service\nname: web\nimage: demo\nreplicas: %d\nresources: {cpu: 250m, memory: 64Mi}\n%s", replicas, extra)
	specs, err := api.DecodeServices("test", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return &api.Service{Name: "web", Namespace: "default", Revision: revision, Replicas: replicas, Spec: specs[0]}
}

func testNodes(n int, status string) []*api.Node {
	var out []*api.Node
	for i := 1; i <= n; i++ {
		out = append(out, &api.Node{Name: fmt.Sprintf("n%d", i), Status: status, Eligible: true,
			Capacity: api.Resources{CPU: 2000, Memory: 1 << 30}, Labels: map[string]string{"zone": fmt.Sprintf("z%d", i%3)}})
	}
	return out
}

func alloc(id, node string, revision int, status string) *api.Allocation {
	return &api.Allocation{ID: id, Namespace: "default", Service: "web", Node: node, Revision: revision,
		DesiredStatus: api.DesiredRun, Status: status, Resources: api.Resources{CPU: 250, Memory: 64 << 20}}
}

func placedPerNode(planPlace []string) map[string]int {
	out := map[string]int{}
	for _, n := range planPlace {
		out[n]++
	}
	return out
}

func TestComputePlanSpreadsANewServiceEvenly(t *testing.T) {
	st := (&fakeState{services: map[string]*api.Service{"default/web": testService(t, 10, 1, "")}, nodes: testNodes(5, api.NodeReady)})
	plan := computePlan(st, eval("e1", "web"), planContext{})
	if len(plan.Place) != 10 || plan.Eval.Status != api.EvalComplete || plan.Eval.Placed != 10 {
		t.Fatalf("placed %d, outcome %+v", len(plan.Place), plan.Eval)
	}
	var nodes []string
	for _, p := range plan.Place {
		nodes = append(nodes, p.Node)
	}
	for n, c := range placedPerNode(nodes) {
		if c != 2 {
			t.Fatalf("node %s got %d replicas, want 2 each: %v", n, c, nodes)
		}
	}
	ids := map[string]bool{}
	for _, p := range plan.Place {
		if ids[p.ID] || len(p.ID) != 16 {
			t.Fatalf("bad or duplicate allocation ID %q", p.ID)
		}
		ids[p.ID] = true
	}
}

func TestComputePlanIsReproducible(t *testing.T) {
	st := (&fakeState{services: map[string]*api.Service{"default/web": testService(t, 7, 1, "")}, nodes: testNodes(200, api.NodeReady)})
	a, b := computePlan(st, eval("e1", "web"), planContext{}), computePlan(st, eval("e1", "web"), planContext{})
	if fmt.Sprint(a.Place) != fmt.Sprint(b.Place) {
		t.Fatalf("same evaluation, different plans:\n%v\n%v", a.Place, b.Place)
	}
}

func TestComputePlanHonoursConstraints(t *testing.T) {
	svc := testService(t, 6, 1, "placement: {constraints: [\"zone != z1\"]}\n")
	st := (&fakeState{services: map[string]*api.Service{"default/web": svc}, nodes: testNodes(5, api.NodeReady)})
	plan := computePlan(st, eval("e1", "web"), planContext{})
	for _, p := range plan.Place {
		if p.Node == "n1" || p.Node == "n4" { // zone z1
			t.Fatalf("placed on %s, which the constraint excludes", p.Node)
		}
	}
	if len(plan.Place) != 6 {
		t.Fatalf("placed %d, want 6", len(plan.Place))
	}
}

func TestComputePlanExplainsWhatCannotBePlaced(t *testing.T) {
	svc := testService(t, 3, 1, "")
	svc.Spec.Resources.Memory = 4 << 30
	st := (&fakeState{services: map[string]*api.Service{"default/web": svc}, nodes: testNodes(5, api.NodeReady)})
	plan := computePlan(st, eval("e1", "web"), planContext{})
	if len(plan.Place) != 0 || plan.Eval.Status != api.EvalBlocked || plan.Eval.Unplaced != 3 {
		t.Fatalf("plan %+v outcome %+v", plan.Place, plan.Eval)
	}
	if !strings.Contains(plan.Eval.PlacementFailure, "insufficient memory on 5 nodes") {
		t.Fatalf("failure = %q", plan.Eval.PlacementFailure)
	}
}

func TestComputePlanStopsEverythingOfADeletedService(t *testing.T) {
	st := &fakeState{nodes: testNodes(2, api.NodeReady), allocs: []*api.Allocation{
		alloc("a1", "n1", 1, api.AllocRunning), alloc("a2", "n2", 1, api.AllocPending),
	}}
	plan := computePlan(st, eval("e1", "web"), planContext{})
	if len(plan.Stop) != 2 || len(plan.Place) != 0 || plan.Eval.Status != api.EvalComplete {
		t.Fatalf("plan stop=%v place=%v", plan.Stop, plan.Place)
	}
}

func TestComputePlanReplacesAllocations(t *testing.T) {
	tests := []struct {
		name       string
		nodeStatus string
		status     string
		revision   int
		wantLost   bool
		wantPrev   bool
		wantReason string
	}{
		{"on a down node they are lost", api.NodeDown, api.AllocRunning, 1, true, true, "node n1 is down"},
		{"failed ones are replaced", api.NodeReady, api.AllocFailed, 1, false, true, "allocation failed on n1"},
		{"old revisions are replaced", api.NodeReady, api.AllocRunning, 0, false, false, "replaced by revision 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := testNodes(3, api.NodeReady)
			nodes[0].Status = tt.nodeStatus
			a := alloc("a1", "n1", tt.revision, tt.status)
			st := (&fakeState{services: map[string]*api.Service{"default/web": testService(t, 1, 1, "")}, nodes: nodes, allocs: []*api.Allocation{a}})
			plan := computePlan(st, eval("e1", "web"), planContext{})
			if len(plan.Stop) != 1 || plan.Stop[0].ID != "a1" || plan.Stop[0].Lost != tt.wantLost || plan.Stop[0].Reason != tt.wantReason {
				t.Fatalf("stop = %+v", plan.Stop)
			}
			if len(plan.Place) != 1 {
				t.Fatalf("place = %+v, want one replacement", plan.Place)
			}
			if tt.wantPrev != (plan.Place[0].Previous == "a1") {
				t.Fatalf("previous = %q", plan.Place[0].Previous)
			}
			if tt.nodeStatus != api.NodeReady || tt.status == api.AllocFailed {
				if plan.Place[0].Node == "n1" {
					t.Fatalf("replacement placed back on n1")
				}
			}
		})
	}
}

func TestComputePlanScalesDownTheLeastUsefulFirst(t *testing.T) {
	allocs := []*api.Allocation{
		alloc("run-n1-a", "n1", 1, api.AllocRunning), alloc("run-n1-b", "n1", 1, api.AllocRunning),
		alloc("run-n2", "n2", 1, api.AllocRunning), alloc("pending-n3", "n3", 1, api.AllocPending),
	}
	for i, a := range allocs {
		a.CreateIndex = uint64(i + 1)
	}
	st := (&fakeState{services: map[string]*api.Service{"default/web": testService(t, 2, 1, "")}, nodes: testNodes(3, api.NodeReady), allocs: allocs})
	plan := computePlan(st, eval("e1", "web"), planContext{})
	var stopped []string
	for _, s := range plan.Stop {
		stopped = append(stopped, s.ID)
	}
	sort.Strings(stopped)
	// The pending one goes first, then one of the two on the busiest node.
	if len(stopped) != 2 || stopped[0] != "pending-n3" || stopped[1] != "run-n1-b" {
		t.Fatalf("stopped %v, want [pending-n3 run-n1-b]", stopped)
	}
	if len(plan.Place) != 0 {
		t.Fatalf("placed %v while scaling down", plan.Place)
	}
}

func TestComputePlanCountsCapacityFreedByItsOwnStops(t *testing.T) {
	// One node with room for exactly two replicas: the new revision fits
	// only because the plan stops the old one.
	nodes := testNodes(1, api.NodeReady)
	nodes[0].Capacity = api.Resources{CPU: 500, Memory: 128 << 20}
	allocs := []*api.Allocation{alloc("old1", "n1", 1, api.AllocRunning), alloc("old2", "n1", 1, api.AllocRunning)}
	st := (&fakeState{services: map[string]*api.Service{"default/web": testService(t, 2, 2, "")}, nodes: nodes, allocs: allocs})
	plan := computePlan(st, eval("e1", "web"), planContext{})
	if len(plan.Stop) != 2 || len(plan.Place) != 2 || plan.Eval.Unplaced != 0 {
		t.Fatalf("stop %v place %v outcome %+v", plan.Stop, plan.Place, plan.Eval)
	}
}

func TestComputePlanKeepsHostPortsApart(t *testing.T) {
	svc := testService(t, 3, 1, "ports: [{name: http, port: 8080, hostPort: 80}]\n")
	st := (&fakeState{services: map[string]*api.Service{"default/web": svc}, nodes: testNodes(2, api.NodeReady)})
	plan := computePlan(st, eval("e1", "web"), planContext{})
	if len(plan.Place) != 2 || plan.Eval.Unplaced != 1 || !strings.Contains(plan.Eval.PlacementFailure, "port 80 in use") {
		t.Fatalf("place %v outcome %+v", plan.Place, plan.Eval)
	}
	if plan.Place[0].Node == plan.Place[1].Node {
		t.Fatalf("two replicas with host port 80 on %s", plan.Place[0].Node)
	}
}

func TestComputePlanReplacesAllocationsOfADeletedServiceOfTheSameName(t *testing.T) {
	// web was deleted and applied again before the delete's evaluation ran:
	// the new service is at revision 1 again, like the old allocations.
	svc := testService(t, 1, 1, "")
	svc.CreateIndex = 50
	old := alloc("old", "n1", 1, api.AllocRunning)
	old.CreateIndex = 20
	st := &fakeState{services: map[string]*api.Service{"default/web": svc}, nodes: testNodes(2, api.NodeReady), allocs: []*api.Allocation{old}}
	plan := computePlan(st, eval("e1", "web"), planContext{})
	if len(plan.Stop) != 1 || plan.Stop[0].ID != "old" || len(plan.Place) != 1 {
		t.Fatalf("stop %+v place %+v: the old service's allocation must be replaced", plan.Stop, plan.Place)
	}
}

// A crash loop: the first failed allocation is replaced at once; each
// further failure in a row waits longer (5s, 10s, ...) before its
// replacement is placed, and the evaluation asks to be run again then.
func TestComputePlanBacksOffReplacementsOfACrashLoop(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	failed := func(id, prev string, at time.Time) *api.Allocation {
		a := alloc(id, "n1", 1, api.AllocFailed)
		// As the FSM records them: when it failed, and how many failed
		// allocations in a row it replaced.
		a.PreviousAllocation, a.FinishTime, a.ModifyTime = prev, at, at
		if prev != "" {
			a.FailuresBefore = 1
		}
		return a
	}
	svc := testService(t, 1, 1, "")
	st := &fakeState{services: map[string]*api.Service{"default/web": svc}, nodes: testNodes(3, api.NodeReady)}

	// One failure: replaced at once, elsewhere.
	st.allocs = []*api.Allocation{failed("f1", "", now)}
	plan := computePlan(st, eval("e1", "web"), planContext{Now: now})
	if len(plan.Place) != 1 || plan.Place[0].Previous != "f1" || plan.Place[0].Node == "n1" || !plan.Eval.FollowUpAt.IsZero() {
		t.Fatalf("first failure: place %+v outcome %+v, want an immediate replacement off n1", plan.Place, plan.Eval)
	}

	// Its replacement failed too: the next one waits 5s. (The count is
	// carried on the allocation, so it holds once f1 is forgotten.)
	st.allocs = []*api.Allocation{failed("f2", "f1", now)}
	plan = computePlan(st, eval("e2", "web"), planContext{Now: now.Add(time.Second)})
	if len(plan.Place) != 0 || !plan.Eval.FollowUpAt.Equal(now.Add(5*time.Second)) || len(plan.Stop) != 1 {
		t.Fatalf("second failure: place %+v stop %+v outcome %+v, want nothing placed, f2 stopped, a follow-up at +5s", plan.Place, plan.Stop, plan.Eval)
	}
	if !strings.Contains(plan.Eval.Description, "crash loop backoff") {
		t.Fatalf("description %q", plan.Eval.Description)
	}
	// Once stopped (which moves its ModifyTime, not its FinishTime), it
	// still waits its turn, and then is replaced.
	st.allocs[0].DesiredStatus, st.allocs[0].DesiredReason = api.DesiredStop, "allocation failed on n1"
	st.allocs[0].ModifyTime = now.Add(time.Second)
	if plan = computePlan(st, eval("e3", "web"), planContext{Now: now.Add(4 * time.Second)}); len(plan.Place) != 0 {
		t.Fatalf("placed %+v before the delay ended", plan.Place)
	}
	plan = computePlan(st, eval("e4", "web"), planContext{Now: now.Add(5 * time.Second)})
	if len(plan.Place) != 1 || plan.Place[0].Previous != "f2" {
		t.Fatalf("after the delay: %+v, want f2 replaced", plan.Place)
	}

	for n, want := range map[int]time.Duration{1: 0, 2: 5 * time.Second, 3: 10 * time.Second, 4: 20 * time.Second, 12: 5 * time.Minute} {
		if got := rescheduleDelay(n); got != want {
			t.Errorf("rescheduleDelay(%d) = %s, want %s", n, got, want)
		}
	}
}

// Two clusters that replay the same history make different allocation
// IDs: their IDs derive from each cluster's own ID.
func TestAllocationIDsDifferAcrossClusters(t *testing.T) {
	st := &fakeState{services: map[string]*api.Service{"default/web": testService(t, 3, 1, "")}, nodes: testNodes(3, api.NodeReady)}
	a := computePlan(st, eval("e1", "web"), planContext{ClusterID: 1})
	b := computePlan(st, eval("e1", "web"), planContext{ClusterID: 2})
	again := computePlan(st, eval("e1", "web"), planContext{ClusterID: 1})
	for i := range a.Place {
		if a.Place[i].ID == b.Place[i].ID {
			t.Fatalf("placement %d has ID %s in both clusters", i, a.Place[i].ID)
		}
		if a.Place[i].ID != again.Place[i].ID {
			t.Fatalf("the same cluster made %s then %s: not reproducible", a.Place[i].ID, again.Place[i].ID)
		}
	}
}

// What a deleted service of the same name left (its delete superseded
// before it ran) is stopped and neither replaced nor counted: its failures
// put no crash-loop delay on the new service.
func TestComputePlanIgnoresWhatADeletedServiceLeft(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	svc := testService(t, 2, 1, "")
	svc.CreateIndex = 50
	old1 := alloc("old1", "n1", 1, api.AllocFailed)
	old1.CreateIndex, old1.ModifyTime = 10, now
	old2 := alloc("old2", "n2", 1, api.AllocFailed)
	old2.CreateIndex, old2.ModifyTime, old2.PreviousAllocation = 11, now, "old1"
	st := &fakeState{services: map[string]*api.Service{"default/web": svc}, nodes: testNodes(3, api.NodeReady), allocs: []*api.Allocation{old1, old2}}
	plan := computePlan(st, eval("e1", "web"), planContext{Now: now})
	if len(plan.Place) != 2 || !plan.Eval.FollowUpAt.IsZero() {
		t.Fatalf("place %+v outcome %+v, want both replicas placed at once", plan.Place, plan.Eval)
	}
	for _, p := range plan.Place {
		if p.Previous != "" {
			t.Fatalf("placement %+v links to the old service's allocation", p)
		}
	}
	if len(plan.Stop) != 2 {
		t.Fatalf("stop %+v, want the two leftovers stopped", plan.Stop)
	}
}
