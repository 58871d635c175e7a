package scheduler

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

// drainWorld is a service of replicas replicas, all running and ready on
// n1, which drains; n2 and n3 take the replacements.
func drainWorld(t *testing.T, replicas int) *fakeState {
	t.Helper()
	nodes := testNodes(3, api.NodeReady)
	nodes[0].Status, nodes[0].Eligible = api.NodeDraining, false
	st := &fakeState{services: map[string]*api.Service{"default/web": testService(t, replicas, 1, "")}, nodes: nodes}
	for i := range replicas {
		a := alloc(fmt.Sprintf("old%d", i), "n1", 1, api.AllocRunning)
		a.Ready, a.CreateIndex = true, uint64(i+1)
		st.allocs = append(st.allocs, a)
	}
	return st
}

// applyPlacements adds a plan's placements as allocations in status,
// created at created.
func applyPlacements(st *fakeState, places []placeRecord, status string, ready bool, created time.Time) []*api.Allocation {
	var out []*api.Allocation
	for i, p := range places {
		a := alloc(p.id, p.node, 1, status)
		a.Ready, a.PreviousAllocation, a.CreateTime, a.CreateIndex = ready, p.previous, created, uint64(100+len(st.allocs)+i)
		st.allocs = append(st.allocs, a)
		out = append(out, a)
	}
	return out
}

type placeRecord struct{ id, node, previous string }

// A drain moves a service's replicas a batch at a time (a quarter of
// them, at least one), each replica running until its replacement is
// ready: a service whose replicas all run on the drained node never
// drops below its ready count.
func TestADrainMovesABatchAtATimeAndStopsEachReplicaOnceItsReplacementIsReady(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	st := drainWorld(t, 4)
	stopped := map[string]string{}
	for round := 0; round < 20 && len(stopped) < 4; round++ {
		plan := computePlan(st, eval(fmt.Sprintf("e%d", round), "web"), planContext{Now: now})
		var places []placeRecord
		for _, p := range plan.Place {
			if p.Previous == "" || !strings.HasPrefix(p.Previous, "old") || p.Node == "n1" {
				t.Fatalf("round %d: placed %+v, want replacements of n1's replicas elsewhere", round, p)
			}
			places = append(places, placeRecord{p.ID, p.Node, p.Previous})
		}
		if len(places) > 1 {
			t.Fatalf("round %d: %d replacements started at once, want a batch of 1 (4 replicas)", round, len(places))
		}
		for _, s := range plan.Stop {
			stopped[s.ID] = s.Reason
			for _, a := range st.allocs {
				if a.ID == s.ID {
					a.DesiredStatus = api.DesiredStop
				}
			}
		}
		// Ready replicas of the service, after the plan: never fewer than 4.
		ready := 0
		for _, a := range st.allocs {
			if a.DesiredStatus == api.DesiredRun && a.Ready {
				ready++
			}
		}
		if ready < 4 {
			t.Fatalf("round %d: %d ready replicas left, want 4 throughout the drain; stopped %v", round, ready, stopped)
		}
		// The replacement starts (not ready): the next plan waits for it.
		started := applyPlacements(st, places, api.AllocStarting, false, now)
		if len(started) > 0 {
			if again := computePlan(st, eval("wait", "web"), planContext{Now: now}); len(again.Place) != 0 || len(again.Stop) != 0 {
				t.Fatalf("round %d: while the replacement starts, plan place=%v stop=%v, want nothing", round, again.Place, again.Stop)
			} else if want := now.Add(migrateDeadline); !again.Eval.FollowUpAt.Equal(want) {
				t.Fatalf("follow-up at %v, want the replacement's deadline %v", again.Eval.FollowUpAt, want)
			}
		}
		for _, a := range started {
			a.Status, a.Ready = api.AllocRunning, true
		}
	}
	if len(stopped) != 4 {
		t.Fatalf("stopped %v, want all 4 of n1's replicas", stopped)
	}
	for id, reason := range stopped {
		if !strings.HasPrefix(id, "old") || !strings.Contains(reason, "node n1 is draining; replaced by ") || !strings.HasSuffix(reason, ", ready") {
			t.Errorf("stopped %s: %q, want n1's replicas, each replaced by a ready one", id, reason)
		}
	}
}

func TestADrainBatchIsAQuarterOfTheReplicas(t *testing.T) {
	for replicas, want := range map[int]int{1: 1, 4: 1, 5: 2, 8: 2, 12: 3} {
		plan := computePlan(drainWorld(t, replicas), eval("e1", "web"), planContext{})
		if len(plan.Place) != want || len(plan.Stop) != 0 {
			t.Errorf("%d replicas: placed %d and stopped %d at first, want %d placed (in surge) and none stopped", replicas, len(plan.Place), len(plan.Stop), want)
		}
	}
}

// A replacement that does not get ready within migrateDeadline, or that
// fails, does not hold the drain: the replica stops.
func TestADrainDoesNotWaitForeverForAReplacement(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, status string
		created      time.Time
		want         string
	}{
		{"not ready after the deadline", api.AllocRunning, now.Add(-migrateDeadline), "not ready after 5m0s"},
		{"failed", api.AllocFailed, now, "its replacement new0 is failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := drainWorld(t, 1)
			applyPlacements(st, []placeRecord{{"new0", "n2", "old0"}}, tc.status, false, tc.created)
			plan := computePlan(st, eval("e1", "web"), planContext{Now: now})
			reason := ""
			for _, s := range plan.Stop {
				if s.ID == "old0" {
					reason = s.Reason
				}
			}
			if !strings.Contains(reason, tc.want) {
				t.Fatalf("stop = %+v, want old0 stopped with a reason saying %q", plan.Stop, tc.want)
			}
		})
	}
}

// Without room elsewhere for a replacement, the drain stops the replica
// as before (the drain completes; the replica is unplaced and says why).
func TestADrainWithoutRoomStopsTheReplica(t *testing.T) {
	st := drainWorld(t, 2)
	for _, n := range st.nodes[1:] {
		n.Capacity.Memory = 32 << 20 // less than a replica
	}
	plan := computePlan(st, eval("e1", "web"), planContext{})
	if len(plan.Place) != 0 || len(plan.Stop) != 1 || !strings.Contains(plan.Stop[0].Reason, "no room for its replacement") {
		t.Fatalf("place=%v stop=%+v, want one replica (the batch) stopped for want of room", plan.Place, plan.Stop)
	}
	if plan.Eval.Unplaced != 1 || plan.Eval.Status != api.EvalBlocked || plan.Eval.Stopped != 1 {
		t.Fatalf("outcome %+v, want 1 unplaced, blocked, 1 stopped", plan.Eval)
	}
}

// Scaled down during a drain, the draining replicas go first, without
// replacement.
func TestADrainScaledDownStopsTheDrainingReplicasFirst(t *testing.T) {
	st := drainWorld(t, 4)
	st.services["default/web"].Replicas = 2
	st.services["default/web"].Spec.Replicas = new(2)
	plan := computePlan(st, eval("e1", "web"), planContext{})
	if len(plan.Stop) != 2 || len(plan.Place) != 1 {
		t.Fatalf("stop=%+v place=%+v, want 2 of n1's 4 stopped and one of the other 2 moving", plan.Stop, plan.Place)
	}
	for _, s := range plan.Stop {
		if !strings.Contains(s.Reason, "revision 1 needs 2 replicas") {
			t.Errorf("stop %+v: want the scale down's reason", s)
		}
	}
}

// A scale down that leaves no place for a replica being moved stops it
// with its replacement, in the same plan: nothing else would look again.
func TestADrainScaledDownStopsAMovingReplicaWithItsReplacement(t *testing.T) {
	st := drainWorld(t, 2) // old0 and old1 on n1
	for i, n := range []string{"n2", "n3"} {
		a := alloc(fmt.Sprintf("other%d", i), n, 1, api.AllocRunning)
		a.Ready = true
		st.allocs = append(st.allocs, a)
	}
	applyPlacements(st, []placeRecord{{"new0", "n2", "old0"}}, api.AllocStarting, false, time.Time{})
	st.services["default/web"].Replicas = 2
	st.services["default/web"].Spec.Replicas = new(2)
	plan := computePlan(st, eval("e1", "web"), planContext{})
	var stopped []string
	for _, s := range plan.Stop {
		stopped = append(stopped, s.ID)
	}
	slices.Sort(stopped)
	if want := []string{"new0", "old0", "old1"}; !slices.Equal(stopped, want) || len(plan.Place) != 0 {
		t.Fatalf("stopped %v, placed %v; want %v stopped (n1's replicas and the one moving's replacement), nothing placed", stopped, plan.Place, want)
	}
}

// A replica on a draining node that serves nothing (starting, or not
// ready) stops at once and is replaced, outside the batch: waiting for
// its replacement would keep nothing serving.
func TestADrainStopsAReplicaThatServesNothingAtOnce(t *testing.T) {
	st := drainWorld(t, 2)
	st.allocs[0].Status, st.allocs[0].Ready = api.AllocStarting, false
	plan := computePlan(st, eval("e1", "web"), planContext{})
	if len(plan.Stop) != 1 || plan.Stop[0].ID != "old0" || plan.Stop[0].Reason != "node n1 is draining" {
		t.Fatalf("stop = %+v, want old0 (starting) stopped at once", plan.Stop)
	}
	previous := map[string]bool{}
	for _, p := range plan.Place {
		previous[p.Previous] = true
	}
	if len(plan.Place) != 2 || !previous["old0"] || !previous["old1"] {
		t.Fatalf("place = %+v, want old0's replacement and old1's (the batch, old1 running meanwhile)", plan.Place)
	}
}
