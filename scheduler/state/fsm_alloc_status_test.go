package state

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"flotilla/api"
)

func TestAllocStatusOnlyMovesForward(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		want     string
	}{
		{api.AllocPending, api.AllocStarting, api.AllocStarting},
		{api.AllocPending, api.AllocRunning, api.AllocRunning},
		{api.AllocPending, api.AllocComplete, api.AllocComplete},
		{api.AllocPending, api.AllocFailed, api.AllocFailed},
		{api.AllocStarting, api.AllocRunning, api.AllocRunning},
		{api.AllocStarting, api.AllocPending, api.AllocStarting},
		{api.AllocRunning, api.AllocComplete, api.AllocComplete},
		{api.AllocRunning, api.AllocFailed, api.AllocFailed},
		{api.AllocRunning, api.AllocStarting, api.AllocStarting}, // a restart
		{api.AllocRunning, api.AllocPending, api.AllocRunning},
		{api.AllocComplete, api.AllocRunning, api.AllocComplete},
		{api.AllocComplete, api.AllocStarting, api.AllocComplete},
		{api.AllocComplete, api.AllocFailed, api.AllocComplete},
		{api.AllocFailed, api.AllocRunning, api.AllocFailed},
		{api.AllocFailed, api.AllocComplete, api.AllocFailed},
		{api.AllocLost, api.AllocRunning, api.AllocLost},
		{api.AllocLost, api.AllocComplete, api.AllocLost},
		// Agents never report lost; unknown words are ignored.
		{api.AllocRunning, api.AllocLost, api.AllocRunning},
		{api.AllocRunning, "exploded", api.AllocRunning},
		{api.AllocPending, "", api.AllocPending},
	} {
		t.Run(tc.from+"→"+tc.to, func(t *testing.T) {
			h := newHarness(t)
			h.registerNode("n1", nil)
			h.place("web", "e1", "a1@n1")
			switch tc.from {
			case api.AllocPending:
			case api.AllocLost:
				h.stop("web", Stop{ID: "a1", Reason: "node down", Lost: true})
			default:
				h.report("n1", withStatus("a1", tc.from))
			}
			if got := h.alloc("a1").Status; got != tc.from {
				t.Fatalf("setup: status %s, want %s", got, tc.from)
			}
			before := h.alloc("a1")

			h.report("n1", api.AllocStatusUpdate{ID: "a1", Status: tc.to, Message: "reported"})

			a := h.alloc("a1")
			if a.Status != tc.want {
				t.Fatalf("%s → %s gave %s, want %s", tc.from, tc.to, a.Status, tc.want)
			}
			if tc.want == tc.from && tc.to != tc.from && !reflect.DeepEqual(a, before) {
				t.Errorf("an ignored report rewrote the allocation:\nbefore %+v\nafter  %+v", before, a)
			}
		})
	}
}

func TestAllocStatusFromWrongNodeIsIgnored(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.registerNode("n2", nil)
	h.place("web", "e1", "a1@n1")
	before := h.alloc("a1")

	h.report("n2", running("a1"), running("missing"))

	if a := h.alloc("a1"); !reflect.DeepEqual(a, before) {
		t.Errorf("n2's report changed n1's allocation: %+v", a)
	}
}

func TestAllocStatusRecordsReportedFields(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.place("web", "e1", "a1@n1")

	h.report("n1", api.AllocStatusUpdate{ID: "a1", Status: api.AllocRunning, Message: "up", Ready: true, Address: "10.1.0.7", Restarts: 2})

	a := h.alloc("a1")
	if a.Status != api.AllocRunning || a.StatusMessage != "up" || !a.Ready || a.Address != "10.1.0.7" || a.Restarts != 2 {
		t.Errorf("allocation = %+v, want the report's fields", a)
	}
	if a.ModifyIndex != h.index || !a.ModifyTime.Equal(entryTime(h.index)) || a.CreateIndex != 2 {
		t.Errorf("indexes %d/%d at %v, want created at 2, modified at %d", a.CreateIndex, a.ModifyIndex, a.ModifyTime, h.index)
	}

	// The same report again is no write.
	reported := h.index
	h.report("n1", api.AllocStatusUpdate{ID: "a1", Status: api.AllocRunning, Message: "up", Ready: true, Address: "10.1.0.7", Restarts: 2})
	if a := h.alloc("a1"); a.ModifyIndex != reported {
		t.Errorf("identical report moved ModifyIndex to %d", a.ModifyIndex)
	}
	if got := h.snap().Index(tableAllocs); got != reported {
		t.Errorf("Index(allocs) = %d, want %d", got, reported)
	}
}

func TestAllocStatusReadyOnlyWhileRunning(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.place("web", "e1", "a1@n1")
	for _, step := range []struct {
		status string
		ready  bool
		want   bool
	}{
		{api.AllocStarting, true, false},
		{api.AllocRunning, false, false},
		{api.AllocRunning, true, true},
		{api.AllocStarting, true, false}, // restarting
		{api.AllocRunning, true, true},
		{api.AllocComplete, true, false},
	} {
		h.report("n1", api.AllocStatusUpdate{ID: "a1", Status: step.status, Ready: step.ready})
		if a := h.alloc("a1"); a.Status != step.status || a.Ready != step.want {
			t.Errorf("report %s ready=%v: got %s ready=%v, want ready=%v", step.status, step.ready, a.Status, a.Ready, step.want)
		}
	}
}

func TestAllocStatusFailureMakesOneEvaluationPerServicePerBatch(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.place("web", "e1", "web-1@n1", "web-2@n1", "web-3@n1")
	h.place("api", "e2", "api-1@n1")
	h.stop("web", Stop{ID: "web-3", Reason: "scaled down"})
	h.report("n1", running("web-1"), running("web-2"), running("web-3"), running("api-1"))
	before := h.index
	events := h.lastEventID()
	h.evals = nil

	h.report("n1",
		withStatus("web-1", api.AllocFailed),
		withStatus("api-1", api.AllocFailed),
		withStatus("web-2", api.AllocFailed),
		withStatus("web-3", api.AllocFailed), // told to stop: nothing to replace
	)

	evals := h.evalsCreatedAfter(before)
	want := []string{"alloc-failure default/web", "alloc-failure default/api"}
	if got := evalTriggers(evals); len(got) != 2 {
		t.Fatalf("evaluations = %v, want one per service: %v", got, want)
	}
	if got := evalTriggers(h.evals); !reflect.DeepEqual(got, want) {
		t.Errorf("eval hook heard %v, want %v (in report order)", got, want)
	}
	for _, e := range evals {
		if e.Node != "n1" || e.Status != api.EvalPending {
			t.Errorf("evaluation %s: node %q %s, want pending for n1", e.ID, e.Node, e.Status)
		}
	}
	evs := h.eventsSince(events)
	failures := 0
	for _, e := range evs {
		if e.Type == api.EventAllocationFailed {
			failures++
			if e.Node != "n1" || e.Allocation == "" {
				t.Errorf("failure event without node or allocation: %+v", e)
			}
		}
	}
	if failures != 4 {
		t.Errorf("%d AllocationFailed events, want 4 (one per allocation)", failures)
	}

	// A failed allocation reported failed again is final: nothing new.
	again := h.index
	h.report("n1", withStatus("web-1", api.AllocFailed))
	if got := h.evalsCreatedAfter(again); len(got) != 0 {
		t.Errorf("a repeated failure made %v", evalTriggers(got))
	}
}

func TestAllocStatusTerminalFreesNodeUsageOnce(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.place("web", "e1", "a1@n1", "a2@n1", "a3@n1")
	h.report("n1", running("a1"), running("a2"), running("a3"))
	checkUsage(t, h, "n1", 3)

	capacity := h.snap().Index(IndexCapacity)
	h.report("n1", withStatus("a1", api.AllocComplete))
	checkUsage(t, h, "n1", 2)
	if got := h.snap().Index(IndexCapacity); got != h.index || got == capacity {
		t.Errorf("capacity index = %d, want %d (an allocation finished)", got, h.index)
	}

	// Stopped by the scheduler first, then reported complete: freed once.
	h.stop("web", Stop{ID: "a2", Reason: "scaled down"})
	checkUsage(t, h, "n1", 1)
	capacity = h.snap().Index(IndexCapacity)
	h.report("n1", withStatus("a2", api.AllocComplete))
	checkUsage(t, h, "n1", 1)
	if got := h.snap().Index(IndexCapacity); got != capacity {
		t.Errorf("capacity index moved to %d for an allocation already stopped", got)
	}

	// Failed, then stopped: freed once too.
	h.report("n1", withStatus("a3", api.AllocFailed))
	checkUsage(t, h, "n1", 0)
	h.stop("web", Stop{ID: "a3", Reason: "replaced"})
	checkUsage(t, h, "n1", 0)
	h.report("n1", withStatus("a3", api.AllocComplete))
	checkUsage(t, h, "n1", 0)
}

func TestAllocStatusLastCompletionFinishesDrain(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.place("web", "e1", "a1@n1", "a2@n1")
	h.report("n1", running("a1"), running("a2"))
	h.drain("n1", true)
	h.stop("web", Stop{ID: "a1", Reason: "node drain"}, Stop{ID: "a2", Reason: "node drain"})
	if n := h.node("n1"); n.Status != api.NodeDraining {
		t.Fatalf("status = %s while allocations still run, want draining", n.Status)
	}

	h.report("n1", withStatus("a1", api.AllocComplete))
	if n := h.node("n1"); n.Status != api.NodeDraining {
		t.Fatalf("status = %s with a2 still running, want draining", n.Status)
	}
	events := h.lastEventID()

	h.report("n1", withStatus("a2", api.AllocComplete))

	n := h.node("n1")
	if n.Status != api.NodeReady || n.Eligible || n.StatusMessage != "drained" || n.ModifyIndex != h.index {
		t.Errorf("node = %s eligible=%v %q at %d, want ready, ineligible, drained at %d", n.Status, n.Eligible, n.StatusMessage, n.ModifyIndex, h.index)
	}
	if got := eventTypes(h.eventsSince(events)); !reflect.DeepEqual(got, []string{api.EventNodeDrained}) {
		t.Errorf("events = %v, want [NodeDrained]", got)
	}
}

// A service whose allocations keep failing is told unhealthy once, when
// the third failure within the window comes, with the last failure's cause.
func TestCrashLoopMakesOneServiceUnhealthyEvent(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.place("web", "e1", "a1@n1", "a2@n1", "a3@n1", "a4@n1")
	for i, id := range []string{"a1", "a2", "a3", "a4"} {
		h.report("n1", api.AllocStatusUpdate{ID: id, Status: api.AllocFailed, Message: fmt.Sprintf("exited with code 1 (%d)", i+1)})
	}
	var unhealthy []*api.Event
	for _, e := range h.events() {
		if e.Type == api.EventServiceUnhealthy {
			unhealthy = append(unhealthy, e)
		}
	}
	if len(unhealthy) != 1 || !strings.Contains(unhealthy[0].Message, "crash loop: 3 allocations failed") || !strings.Contains(unhealthy[0].Message, "exited with code 1 (3)") {
		t.Fatalf("ServiceUnhealthy events = %+v, want one at the third failure", unhealthy)
	}
	if n := CrashLoop(h.snap().AllocationsByService(nil, "default", "web"), h.next()); n != 4 {
		t.Fatalf("CrashLoop = %d, want 4", n)
	}
	if n := CrashLoop(h.snap().AllocationsByService(nil, "default", "web"), h.next().Add(CrashLoopWindow)); n != 0 {
		t.Fatalf("CrashLoop after the window = %d, want 0", n)
	}
}

// A replacement of a failed allocation counts the failures in a row before
// it, so that the crash-loop backoff survives the GC of old allocations;
// a failure records when it happened, which stopping it later leaves
// alone.
func TestReplacementsCountTheFailuresBeforeThem(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.place("web", "e1", "a1@n1")
	h.report("n1", api.AllocStatusUpdate{ID: "a1", Status: api.AllocFailed, Message: "exited with code 1"})
	failedAt := h.alloc("a1").FinishTime
	if failedAt.IsZero() {
		t.Fatal("a failed allocation has no FinishTime")
	}
	next := placePlan("web", "e2", "a2@n1")
	next.Place[0].Previous = "a1"
	next.Stop = []Stop{{ID: "a1", Reason: "allocation failed on n1"}}
	h.plans(next)
	if got := h.alloc("a1").FinishTime; !got.Equal(failedAt) {
		t.Fatalf("stopping it moved FinishTime from %v to %v", failedAt, got)
	}
	h.report("n1", api.AllocStatusUpdate{ID: "a2", Status: api.AllocFailed, Message: "exited with code 1"})
	third := placePlan("web", "e3", "a3@n1")
	third.Place[0].Previous = "a2"
	h.plans(third)
	if a2, a3 := h.alloc("a2"), h.alloc("a3"); a2.FailuresBefore != 1 || a3.FailuresBefore != 2 {
		t.Fatalf("failures before: a2 %d, a3 %d; want 1 and 2", a2.FailuresBefore, a3.FailuresBefore)
	}
}

// A drain stops a replica once its replacement is ready (scheduler's
// migrate.go): the replacement turning ready is evaluated, as a rollout's
// replica is.
func TestAReplacementOfADrainingReplicaTurningReadyIsEvaluated(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.registerNode("n2", nil)
	h.upsertIn(rampedYAML)
	h.place("web", "e1", "a1@n1")
	h.report("n1", running("a1"))
	h.drain("n1", true)
	next := placePlan("web", "e2", "a2@n2")
	next.Place[0].Previous = "a1"
	h.plans(next)

	before := h.index
	h.report("n2", running("a2"))
	if got := evalTriggers(h.evalsCreatedAfter(before)); !slices.Contains(got, "alloc-health default/web") {
		t.Fatalf("evaluations after the replacement turned ready: %v, want alloc-health default/web", got)
	}
	// Once the drained replica is stopped, readiness changes are not
	// looked at (no rollout runs).
	h.stop("web", Stop{ID: "a1", Reason: "node n1 is draining; replaced"})
	before = h.index
	notReady := running("a2")
	notReady.Ready = false
	h.report("n2", notReady)
	if got := evalTriggers(h.evalsCreatedAfter(before)); slices.Contains(got, "alloc-health default/web") {
		t.Fatalf("evaluations after a readiness change with no drain or rollout: %v, want none for health", got)
	}
}
