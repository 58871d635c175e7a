package rollout

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

func TestNewRollout(t *testing.T) {
	spec := mustSpec(t, "replicas: 4\nrollout: {strategy: canary, canary: {steps: [{weight: 10}, {weight: 100}]}}\n")
	svc := &api.Service{Name: "web", Namespace: "default", Revision: 1, Replicas: 4, Spec: spec}
	first := New(svc, nil, epoch)
	if first.Phase != api.PhaseCompleted || first.StableRevision != 1 || !reflect.DeepEqual(first.Weights, map[int]int{1: 100}) {
		t.Fatalf("first rollout = %+v, want completed at revision 1", first)
	}
	svc.Revision = 2
	second := New(svc, first, epoch)
	if second.Phase != api.PhaseProgressing || second.StableRevision != 1 || second.Revision != 2 || second.Steps != 2 {
		t.Fatalf("second = %+v, want revision 2 over 1, 2 steps, progressing", second)
	}
	// A third apply while the second runs supersedes it: revision 1 is
	// still what is known to work.
	svc.Revision = 3
	third := New(svc, second, epoch)
	if third.StableRevision != 1 || !strings.Contains(third.Reason, "supersedes the rollout of revision 2") {
		t.Fatalf("third = %+v, want stable 1 and a reason naming the superseded rollout", third)
	}
	// After an abort the stable revision stays the old one too.
	aborted := *second
	aborted.Phase = api.PhaseAborted
	svc.Revision = 4
	if r := New(svc, &aborted, epoch); r.StableRevision != 1 {
		t.Fatalf("after an abort: stable %d, want 1", r.StableRevision)
	}
}

func TestRampedRollsOutInWavesWithinBounds(t *testing.T) {
	w := newWorld(t, 4, "{ramped: {maxSurge: 1, maxUnavailable: 1, minReady: 5s}}")
	w.update()
	for i := 0; i < 40 && w.ro.Active(); i++ {
		w.decide()
		if total := w.running(1) + w.running(2); total > 5 {
			t.Fatalf("%d replicas run, more than replicas+maxSurge 5", total)
		}
		if ready := w.readyCount(1) + w.readyCount(2); ready < 3 {
			t.Fatalf("%d replicas ready, fewer than replicas-maxUnavailable 3", ready)
		}
		w.readyAll(2)
		w.advance(5 * time.Second)
	}
	w.wantPhase(api.PhaseCompleted)
	w.wantRunning(1, 0)
	w.wantRunning(2, 4)
	w.wantWeights(map[int]int{2: 100})
	if got := w.eventTypes(); got[len(got)-1] != api.EventRolloutCompleted {
		t.Fatalf("events = %v, want the last to be RolloutCompleted", got)
	}
}

// The evaluation that stops the last old replicas completes the rollout:
// nothing else would look at the service again (a stopped replica that
// finishes makes no evaluation).
func TestRampedCompletesInThePlanThatStopsTheLastOldReplica(t *testing.T) {
	w := newWorld(t, 2, "{ramped: {maxSurge: 2, maxUnavailable: 0}}")
	w.update()
	w.decide()
	w.wantRunning(2, 2)
	w.readyAll(2)
	w.decide()
	w.wantRunning(1, 0)
	w.wantPhase(api.PhaseCompleted)
	w.wantWeights(map[int]int{2: 100})
}

func TestRampedMinReadyHoldsTheNextWave(t *testing.T) {
	w := newWorld(t, 2, "{ramped: {maxSurge: 1, maxUnavailable: 0, minReady: 10s}}")
	w.update()
	w.decide()
	w.wantRunning(2, 1)
	w.readyAll(2)
	w.decide()
	// Ready but not for minReady: no old replica may go yet.
	w.wantRunning(1, 2)
	if want := w.now.Add(10 * time.Second); !w.ro.RecheckAt.Equal(want) {
		t.Fatalf("recheck at %v, want %v (when minReady is met)", w.ro.RecheckAt, want)
	}
	w.advance(10 * time.Second)
	w.decide()
	w.wantRunning(1, 1)
	w.wantRunning(2, 2)
}

func TestRampedProgressDeadlineRollsBack(t *testing.T) {
	w := newWorld(t, 3, "{ramped: {maxSurge: 1, maxUnavailable: 0, progressDeadline: 1m, autoRollback: true}}")
	w.update()
	w.decide()
	w.wantRunning(2, 1)
	w.advance(59 * time.Second)
	w.decide()
	w.wantPhase(api.PhaseProgressing)
	if !w.ro.RecheckAt.Equal(epoch.Add(time.Minute)) {
		t.Fatalf("recheck at %v, want the deadline", w.ro.RecheckAt)
	}
	w.advance(time.Second)
	w.decide()
	w.wantPhase(api.PhaseFailed)
	w.wantRunning(2, 0)
	w.wantRunning(1, 3)
	w.wantWeights(map[int]int{1: 100})
	if !strings.Contains(w.ro.Reason, "progressDeadline 1m") || !strings.Contains(w.ro.Reason, "rolled back to revision 1") {
		t.Fatalf("reason %q, want the deadline and the rollback named", w.ro.Reason)
	}
	// Failed stays failed: the next evaluation keeps revision 1.
	w.decide()
	w.wantPhase(api.PhaseFailed)
	w.wantRunning(1, 3)
}

func TestRampedProgressDeadlineWithoutRollbackFreezes(t *testing.T) {
	w := newWorld(t, 3, "{ramped: {maxSurge: 1, maxUnavailable: 0, progressDeadline: 1m}}")
	w.update()
	w.decide()
	w.advance(time.Minute)
	w.decide()
	w.wantPhase(api.PhaseFailed)
	w.wantRunning(2, 1)
	w.wantRunning(1, 3)
	// Only revision 1 is ready: the routes send everything there.
	if got := Routes(w.svc, w.ro); len(got.Split) > 1 || (len(got.Split) == 1 && got.Split[0].Backend != 1) {
		t.Fatalf("frozen ramped routes = %+v, want revision 1's replicas", got)
	}
	// A held rollout still replaces a crashed replica and follows scaling.
	w.allocs[0].Status, w.allocs[0].Ready = api.AllocFailed, false
	w.decide()
	w.wantRunning(1, 3)
	w.svc.Replicas = 5 // revision 2 is not available: revision 1 carries all 5
	w.decide()
	w.wantRunning(1, 5)
	w.wantRunning(2, 1)
}

// An abort (or an automatic rollback) of a ramped rollout goes back in
// waves: the new revision's ready replicas keep serving until enough of
// the stable revision are available, never collapsing to what it had left.
func TestRampedAbortRampsBack(t *testing.T) {
	w := newWorld(t, 10, "{ramped: {maxSurge: 2, maxUnavailable: 0}}")
	w.update()
	for i := 0; i < 20 && w.running(2) < 8; i++ {
		w.decide()
		w.readyAll(2)
	}
	w.decide()
	if w.readyCount(2) < 8 {
		t.Fatalf("setup: %d of revision 2 ready", w.readyCount(2))
	}
	w.ro.Phase, w.ro.Weights = api.PhaseAborted, map[int]int{1: 100} // what the FSM does
	for i := 0; i < 30; i++ {
		w.decide()
		if ready := w.readyCount(1) + w.readyCount(2); ready < 10 {
			t.Fatalf("step %d of the way back: %d ready, want never fewer than 10", i, ready)
		}
		if got := Routes(w.svc, w.ro); w.running(2) > 0 && len(got.Split) != 0 {
			t.Fatalf("routes %+v while revision 2 still serves, want any ready replica", got)
		}
		w.readyAll(1)
	}
	w.wantRunning(2, 0)
	w.wantRunning(1, 10)
	w.wantWeights(map[int]int{1: 100})
	if got := Routes(w.svc, w.ro); len(got.Split) != 1 || got.Split[0].Backend != 1 {
		t.Fatalf("routes back on revision 1 only: %+v", got)
	}
}

// A blue-green rollout promoted but still waiting out scaleDownDelay
// serves green: a new apply then rolls out over green, not blue.
func TestNewApplyAfterABlueGreenPromotionKeepsGreen(t *testing.T) {
	w := newWorld(t, 2, "{strategy: blue-green, blueGreen: {scaleDownDelay: 1m}}")
	w.update()
	w.decide()
	w.readyAll(2)
	w.decide()
	w.ro.Promote = true
	w.decide()
	w.wantWeights(map[int]int{2: 100})
	w.update()
	if w.ro.StableRevision != 2 {
		t.Fatalf("stable %d after a new apply, want the promoted green 2", w.ro.StableRevision)
	}
}

func TestRampedPauseHoldsAndResumeGoesOn(t *testing.T) {
	w := newWorld(t, 4, "{ramped: {maxSurge: 1, maxUnavailable: 0}}")
	w.update()
	w.decide()
	w.ro.Paused = true
	w.readyAll(2)
	w.decide()
	w.wantPhase(api.PhasePaused)
	w.wantRunning(1, 4)
	w.wantRunning(2, 1)
	w.ro.Paused = false
	w.decide()
	w.wantPhase(api.PhaseProgressing)
	w.wantRunning(1, 3)
}

func TestBlueGreenManualPromotion(t *testing.T) {
	w := newWorld(t, 3, "{strategy: blue-green, blueGreen: {scaleDownDelay: 30s}}")
	w.update()
	w.decide()
	w.wantRunning(2, 3)
	w.wantRunning(1, 3)
	w.wantWeights(map[int]int{1: 100})
	if w.ro.Step != 0 {
		t.Fatalf("step %d before green is ready", w.ro.Step)
	}
	w.readyAll(2)
	w.decide()
	w.wantPhase(api.PhasePaused)
	w.wantWeights(map[int]int{1: 100})
	if !strings.Contains(w.ro.Reason, "flotilla rollout promote web") {
		t.Fatalf("reason %q, want it to say how to promote", w.ro.Reason)
	}
	w.advance(time.Hour)
	w.decide()
	w.wantPhase(api.PhasePaused) // nobody promoted
	w.ro.Promote = true
	w.decide()
	w.wantPhase(api.PhaseProgressing)
	w.wantWeights(map[int]int{2: 100})
	w.wantRunning(1, 3) // blue stays for scaleDownDelay
	if w.ro.Promote || w.ro.Step != 2 {
		t.Fatalf("after promotion: promote=%v step=%d, want false and 2", w.ro.Promote, w.ro.Step)
	}
	w.advance(29 * time.Second)
	w.decide()
	w.wantRunning(1, 3)
	w.advance(time.Second)
	w.decide()
	w.wantPhase(api.PhaseCompleted)
	w.wantRunning(1, 0)
	w.wantRunning(2, 3)
	want := []string{api.EventRolloutStep, api.EventRolloutPromoted, api.EventRolloutCompleted}
	if got := w.eventTypes(); !reflect.DeepEqual(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
}

func TestBlueGreenAutoPromotes(t *testing.T) {
	w := newWorld(t, 2, "{strategy: blue-green, blueGreen: {autoPromoteAfter: 20s, scaleDownDelay: 1s}}")
	w.update()
	w.decide()
	w.readyAll(2)
	w.decide()
	w.wantPhase(api.PhaseProgressing)
	if !w.ro.RecheckAt.Equal(w.now.Add(20 * time.Second)) {
		t.Fatalf("recheck %v, want the promotion time", w.ro.RecheckAt)
	}
	w.advance(20 * time.Second)
	w.decide()
	w.wantWeights(map[int]int{2: 100})
	w.wantRunning(1, 2)
	w.advance(time.Second)
	w.decide()
	w.wantPhase(api.PhaseCompleted)
	w.wantRunning(1, 0)
	w.wantWeights(map[int]int{2: 100})
}

func TestBlueGreenPromotesOnPassingAnalysis(t *testing.T) {
	w := newWorld(t, 2, "{strategy: blue-green, blueGreen: {scaleDownDelay: 5s}, analysis: {interval: 10s, maxErrorRate: 1%}}")
	w.update()
	w.decide()
	w.readyAll(2)
	w.decide()
	w.wantPhase(api.PhaseProgressing)
	w.advance(10 * time.Second)
	w.traffic(2, 10, 0, time.Millisecond) // too few to judge
	w.decide()
	w.wantWeights(map[int]int{1: 100})
	if n := len(w.ro.Analysis); n != 1 || w.ro.Analysis[0].Verdict != api.VerdictInconclusive {
		t.Fatalf("analysis = %+v, want one inconclusive run", w.ro.Analysis)
	}
	w.advance(10 * time.Second)
	w.traffic(2, 100, 0, time.Millisecond)
	w.decide()
	w.wantWeights(map[int]int{2: 100})
}

func TestCanaryTimedStepsPromote(t *testing.T) {
	w := newWorld(t, 10, "{strategy: canary, canary: {steps: [{weight: 10, pause: 30s}, {weight: 50, pause: 30s}, {weight: 100}]}}")
	w.update()
	w.decide()
	w.wantRunning(2, 1) // 10% of 10
	w.wantRunning(1, 10)
	w.wantWeights(map[int]int{1: 100}) // no weight before the canary is ready
	w.readyAll(2)
	w.decide()
	w.wantWeights(map[int]int{1: 90, 2: 10})
	if w.ro.Step != 1 || !w.ro.PauseUntil.Equal(w.now.Add(30*time.Second)) || !w.ro.RecheckAt.Equal(w.ro.PauseUntil) {
		t.Fatalf("step %d, pause until %v, recheck %v", w.ro.Step, w.ro.PauseUntil, w.ro.RecheckAt)
	}
	w.advance(30 * time.Second)
	w.decide()
	w.wantRunning(2, 5)
	w.wantWeights(map[int]int{1: 90, 2: 10}) // until the 5 are ready
	w.readyAll(2)
	w.decide()
	w.wantWeights(map[int]int{1: 50, 2: 50})
	w.advance(30 * time.Second)
	w.decide()
	w.wantRunning(2, 10)
	w.readyAll(2)
	w.decide()
	// Step 3 (100%) applies, it has no pause and no analysis: promoted.
	w.wantPhase(api.PhaseCompleted)
	w.wantWeights(map[int]int{2: 100})
	w.wantRunning(1, 0)
	w.wantRunning(2, 10)
	want := []string{api.EventRolloutStep, api.EventRolloutStep, api.EventRolloutStep, api.EventRolloutPromoted, api.EventRolloutCompleted}
	if got := w.eventTypes(); !reflect.DeepEqual(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
}

func TestCanaryManualPauseWaitsForPromote(t *testing.T) {
	w := newWorld(t, 4, "{strategy: canary, canary: {steps: [{weight: 25, pause: manual}, {weight: 100}]}}")
	w.update()
	w.decide()
	w.readyAll(2)
	w.decide()
	w.wantPhase(api.PhasePaused)
	w.advance(time.Hour)
	w.decide()
	w.wantPhase(api.PhasePaused)
	w.wantWeights(map[int]int{1: 75, 2: 25})
	w.ro.Promote = true
	w.decide()
	w.wantPhase(api.PhaseProgressing)
	w.wantRunning(2, 4)
	if w.ro.Promote {
		t.Fatal("promote not cleared once acted on")
	}
}

func TestCanaryPromoteFullSkipsTheSteps(t *testing.T) {
	w := newWorld(t, 4, "{strategy: canary, canary: {steps: [{weight: 25, pause: manual}, {weight: 50, pause: 1h}, {weight: 100}]}}")
	w.update()
	w.decide()
	w.readyAll(2)
	w.decide()
	w.ro.Promote, w.ro.PromoteFull = true, true
	w.decide()
	w.wantRunning(2, 4)
	w.wantWeights(map[int]int{1: 75, 2: 25}) // until all 4 are ready
	w.readyAll(2)
	w.decide()
	w.wantPhase(api.PhaseCompleted)
	w.wantWeights(map[int]int{2: 100})
}

func TestCanaryAnalysisAbortsOnErrorRate(t *testing.T) {
	w := newWorld(t, 6, "{strategy: canary, canary: {steps: [{weight: 20, pause: 1m}, {weight: 100}]}, analysis: {interval: 10s, maxErrorRate: 1%, failureLimit: 2}}")
	w.update()
	w.decide()
	w.readyAll(2)
	w.decide()
	start := w.now
	w.traffic(1, 800, 0, 2*time.Millisecond)
	w.traffic(2, 200, 60, 2*time.Millisecond)
	w.advance(10 * time.Second)
	w.decide()
	w.wantPhase(api.PhaseProgressing)
	if w.ro.Failures != 1 {
		t.Fatalf("failures = %d after one failed analysis", w.ro.Failures)
	}
	w.advance(10 * time.Second)
	w.decide()
	w.wantPhase(api.PhaseAborted)
	if w.now.Sub(start) > 20*time.Second {
		t.Fatalf("aborted %v after the first step, want within two intervals", w.now.Sub(start))
	}
	w.wantWeights(map[int]int{1: 100})
	w.wantRunning(2, 0)
	w.wantRunning(1, 6)
	for _, part := range []string{"errorRate", "30.0%", "0.0%", "maxErrorRate 1%"} {
		if part == "errorRate" {
			if m := w.ro.Analysis[len(w.ro.Analysis)-1].Metric; m != part {
				t.Errorf("metric %q, want %q", m, part)
			}
			continue
		}
		if !strings.Contains(w.ro.Reason, part) {
			t.Errorf("abort reason %q lacks %q", w.ro.Reason, part)
		}
	}
	if last := w.events[len(w.events)-1]; last.Type != api.EventRolloutAborted || last.Message != "default/web: "+w.ro.Reason {
		t.Fatalf("last event %+v, want RolloutAborted with the reason", last)
	}
}

func TestCanaryAnalysisAbortsOnLatency(t *testing.T) {
	w := newWorld(t, 4, "{strategy: canary, canary: {steps: [{weight: 25, pause: 1m}, {weight: 100}]}, analysis: {interval: 10s, maxP99Latency: 100ms, failureLimit: 1}}")
	w.update()
	w.decide()
	w.readyAll(2)
	w.decide()
	w.traffic(1, 300, 0, 2*time.Millisecond)
	w.traffic(2, 100, 0, 300*time.Millisecond)
	w.advance(10 * time.Second)
	w.decide()
	w.wantPhase(api.PhaseAborted)
	if !strings.Contains(w.ro.Reason, "maxP99Latency 100ms") || !strings.Contains(w.ro.Reason, "p99 latency of revision 2") {
		t.Fatalf("reason %q", w.ro.Reason)
	}
}

func TestCanaryHealthyAnalysisPromotesAndQuietWaits(t *testing.T) {
	w := newWorld(t, 4, "{strategy: canary, canary: {steps: [{weight: 25, pause: 10s}, {weight: 100}]}, analysis: {interval: 10s, maxErrorRate: 1%, maxP99Latency: 100ms}}")
	w.update()
	w.decide()
	w.readyAll(2)
	w.decide()
	// A quiet service: the pause is over but nothing was judged.
	w.advance(10 * time.Second)
	w.decide()
	w.wantPhase(api.PhaseProgressing)
	w.wantWeights(map[int]int{1: 75, 2: 25})
	if !strings.Contains(w.ro.Reason, "waiting for a passing analysis (last: inconclusive)") {
		t.Fatalf("reason %q", w.ro.Reason)
	}
	w.traffic(1, 300, 1, 3*time.Millisecond)
	w.traffic(2, 100, 0, 3*time.Millisecond)
	w.advance(10 * time.Second)
	w.decide()
	w.wantRunning(2, 4)
	w.readyAll(2)
	w.decide()
	// The last step's weight is applied; an analysis must pass there too.
	w.advance(10 * time.Second)
	w.traffic(2, 400, 0, 3*time.Millisecond)
	w.decide()
	w.wantPhase(api.PhaseCompleted)
}

// The autoscaler owns the total: when it scales a service in the middle of
// a canary step, the canary's replicas follow the step's weight of the new
// total, and the weights stay as they are.
func TestCanaryReplicasFollowTheAutoscaledTotal(t *testing.T) {
	w := newWorld(t, 5, "{strategy: canary, canary: {steps: [{weight: 20, pause: manual}, {weight: 100}]}}")
	w.update()
	w.decide()
	w.readyAll(2)
	w.decide()
	w.wantRunning(2, 1)
	w.wantWeights(map[int]int{1: 80, 2: 20})
	w.svc.Replicas = 10 // the autoscaler doubled the service
	w.decide()
	w.wantRunning(2, 2)
	w.wantRunning(1, 10)
	w.wantWeights(map[int]int{1: 80, 2: 20})
}

// A service scaled to zero runs no canary replica: one would take every
// request while the stable revision sleeps. Woken, both come up.
func TestCanaryOfAServiceAtZeroRunsNoCanaryReplica(t *testing.T) {
	w := newWorld(t, 5, "{strategy: canary, canary: {steps: [{weight: 20, pause: manual}, {weight: 100}]}}")
	w.svc.Replicas = 0
	w.update()
	w.decide()
	w.wantRunning(2, 0)
	w.wantRunning(1, 0)
	w.svc.Replicas = 5 // a proxy held a request: woken
	w.decide()
	w.wantRunning(2, 1)
	w.wantRunning(1, 5)
}

func TestCanaryStickyRoutes(t *testing.T) {
	w := newWorld(t, 4, "{strategy: canary, canary: {steps: [{weight: 25, pause: manual}, {weight: 100}], sticky: true}}")
	w.update()
	w.decide()
	w.readyAll(2)
	w.decide()
	got := Routes(w.svc, w.ro)
	want := api.RouteTable{Split: []api.WeightedBackend{{Backend: 1, Weight: 75}, {Backend: 2, Weight: 25}}, Sticky: &api.StickyRoute{Cookie: "flotilla-web"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("routes = %+v, want %+v", got, want)
	}
}

func TestRoutes(t *testing.T) {
	spec := mustSpec(t, "replicas: 2\nrollout: {ramped: {autoRollback: true}}\n")
	svc := &api.Service{Name: "web", Namespace: "default", Revision: 3, Replicas: 2, Spec: spec}
	for _, tc := range []struct {
		name string
		ro   *api.Rollout
		want []api.WeightedBackend
	}{
		{"no rollout", nil, []api.WeightedBackend{{Backend: 3, Weight: 100}}},
		{"completed", &api.Rollout{Strategy: api.RolloutRamped, Phase: api.PhaseCompleted, Revision: 3, Weights: map[int]int{3: 100}}, []api.WeightedBackend{{Backend: 3, Weight: 100}}},
		{"ramped running: any ready replica", &api.Rollout{Strategy: api.RolloutRamped, Phase: api.PhaseProgressing, Revision: 3, StableRevision: 2, Weights: map[int]int{2: 50, 3: 50}}, []api.WeightedBackend{}},
		{"ramped rolled back", &api.Rollout{Strategy: api.RolloutRamped, Phase: api.PhaseFailed, Revision: 3, StableRevision: 2, Weights: map[int]int{2: 100}}, []api.WeightedBackend{{Backend: 2, Weight: 100}}},
		{"canary aborted", &api.Rollout{Strategy: api.RolloutCanary, Phase: api.PhaseAborted, Revision: 3, StableRevision: 1, Weights: map[int]int{1: 100}}, []api.WeightedBackend{{Backend: 1, Weight: 100}}},
		{"canary at 0 and 100 leaves out 0", &api.Rollout{Strategy: api.RolloutCanary, Phase: api.PhaseProgressing, Revision: 3, StableRevision: 1, Weights: map[int]int{1: 0, 3: 100}}, []api.WeightedBackend{{Backend: 3, Weight: 100}}},
		{"stale rollout of an older revision", &api.Rollout{Strategy: api.RolloutCanary, Phase: api.PhaseProgressing, Revision: 2, Weights: map[int]int{1: 50, 2: 50}}, []api.WeightedBackend{{Backend: 3, Weight: 100}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Routes(svc, tc.ro).Split; !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("split = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPreviewNames(t *testing.T) {
	svc := &api.Service{Name: "web", Revision: 2}
	for _, tc := range []struct {
		strategy, phase, vip, want string
	}{
		{api.RolloutBlueGreen, api.PhasePaused, "127.64.0.9", "web-preview"},
		{api.RolloutCanary, api.PhaseProgressing, "127.64.0.9", "web-canary"},
		{api.RolloutRamped, api.PhaseProgressing, "127.64.0.9", ""},
		{api.RolloutCanary, api.PhaseCompleted, "127.64.0.9", ""},
		{api.RolloutCanary, api.PhaseProgressing, "", ""},
	} {
		name, ok := Preview(svc, &api.Rollout{Strategy: tc.strategy, Phase: tc.phase, Revision: 2, PreviewVIP: tc.vip})
		if name != tc.want || ok != (tc.want != "") {
			t.Errorf("%s %s vip %q: %q %v, want %q", tc.strategy, tc.phase, tc.vip, name, ok, tc.want)
		}
	}
}

func TestAbortedRolloutKeepsStable(t *testing.T) {
	w := newWorld(t, 3, "{strategy: canary, canary: {steps: [{weight: 50, pause: manual}, {weight: 100}]}}")
	w.update()
	w.decide()
	w.readyAll(2)
	w.decide()
	// What the FSM does on `rollout abort`.
	w.ro.Phase, w.ro.Weights = api.PhaseAborted, map[int]int{1: 100}
	w.decide()
	w.wantRunning(2, 0)
	w.wantRunning(1, 3)
	if w.ro.PreviewVIP != "" || w.ro.EndTime.IsZero() {
		t.Fatalf("after abort: preview %q end %v", w.ro.PreviewVIP, w.ro.EndTime)
	}
}

func TestAnalyze(t *testing.T) {
	pct := func(p float64) *api.Percent { v := api.Percent(p); return &v }
	cfg := &api.AnalysisConfig{Interval: api.Duration(10 * time.Second), MaxErrorRate: pct(5), MaxP99Latency: api.Duration(200 * time.Millisecond), FailureLimit: new(1)}
	fig := func(rev int, requests, errors uint64, latency time.Duration) api.TrafficFigures {
		var h api.Histogram
		for i := uint64(0); i < requests; i++ {
			h.Observe(latency)
		}
		return api.TrafficFigures{Revision: rev, Requests: requests, Errors: errors, Latency: h, P50Ms: h.Quantile(.5), P99Ms: h.Quantile(.99)}
	}
	for _, tc := range []struct {
		name            string
		canary, stable  api.TrafficFigures
		verdict, metric string
	}{
		{"too few requests", fig(2, MinSamples-1, 40, time.Second), fig(1, 1000, 0, time.Millisecond), api.VerdictInconclusive, "samples"},
		{"healthy", fig(2, 200, 1, 5*time.Millisecond), fig(1, 800, 4, 5*time.Millisecond), api.VerdictPass, ""},
		{"over maxErrorRate", fig(2, 200, 20, 5*time.Millisecond), fig(1, 800, 0, 5*time.Millisecond), api.VerdictFail, "errorRate"},
		{"over maxP99Latency", fig(2, 200, 0, 250*time.Millisecond), fig(1, 800, 0, 5*time.Millisecond), api.VerdictFail, "p99Latency"},
		{"worse errors than stable, under the threshold", fig(2, 2000, 80, 5*time.Millisecond), fig(1, 2000, 0, 5*time.Millisecond), api.VerdictFail, "errorsVsStable"},
		{"slower than stable, under the threshold", fig(2, 500, 0, 80*time.Millisecond), fig(1, 500, 0, 5*time.Millisecond), api.VerdictFail, "latencyVsStable"},
		{"slightly slower: not a margin that matters", fig(2, 5000, 0, 5100*time.Microsecond), fig(1, 5000, 0, 5*time.Millisecond), api.VerdictPass, ""},
		{"stable too quiet to compare", fig(2, 500, 0, 80*time.Millisecond), fig(1, 10, 0, 5*time.Millisecond), api.VerdictPass, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := Analyze(cfg, []api.TrafficFigures{tc.stable, tc.canary}, 2, 1, 1, epoch)
			if run.Verdict != tc.verdict || run.Metric != tc.metric {
				t.Fatalf("verdict %s/%s (%s), want %s/%s", run.Verdict, run.Metric, run.Message, tc.verdict, tc.metric)
			}
			if run.Canary.Requests != tc.canary.Requests || run.Stable.Requests != tc.stable.Requests {
				t.Fatalf("figures %+v / %+v", run.Canary, run.Stable)
			}
		})
	}
}

// scaleDownDelay 0 is a value: blue stops in the plan that promotes green.
// Left out, blue runs on for the default 30s.
func TestBlueGreenScaleDownDelay(t *testing.T) {
	for _, tc := range []struct {
		name, blueGreen string
		blueFor         time.Duration
	}{
		{"written 0s", "{scaleDownDelay: 0s}", 0},
		{"left out", "{}", 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, 3, "{strategy: blue-green, blueGreen: "+tc.blueGreen+"}")
			w.update()
			w.decide()
			w.readyAll(2)
			w.decide()
			w.ro.Promote = true
			w.decide()
			w.wantWeights(map[int]int{2: 100})
			w.wantRunning(2, 3)
			if tc.blueFor == 0 {
				w.wantPhase(api.PhaseCompleted)
				w.wantRunning(1, 0)
				if !strings.Contains(w.ro.Reason, "scaled down at once") {
					t.Fatalf("reason %q, want it to say blue stopped at once", w.ro.Reason)
				}
				want := []string{api.EventRolloutStep, api.EventRolloutPromoted, api.EventRolloutCompleted}
				if got := w.eventTypes(); !reflect.DeepEqual(got, want) {
					t.Fatalf("events = %v, want %v", got, want)
				}
				return
			}
			w.wantPhase(api.PhaseProgressing)
			w.wantRunning(1, 3)
			if !w.ro.RecheckAt.Equal(w.now.Add(tc.blueFor)) {
				t.Fatalf("recheck at %v, want blue's scale-down %s after promotion", w.ro.RecheckAt, tc.blueFor)
			}
			w.advance(tc.blueFor)
			w.decide()
			w.wantPhase(api.PhaseCompleted)
			w.wantRunning(1, 0)
		})
	}
}

// progressDeadline left out is the default 10m (a written 0 is refused by
// validation rather than read as "fail at once" or "no deadline").
func TestRampedProgressDeadlineLeftOutIsTenMinutes(t *testing.T) {
	w := newWorld(t, 3, "{ramped: {maxSurge: 1, maxUnavailable: 0}}")
	w.update()
	w.decide()
	if !w.ro.RecheckAt.Equal(epoch.Add(10 * time.Minute)) {
		t.Fatalf("recheck at %v, want the 10m deadline", w.ro.RecheckAt)
	}
	w.advance(10 * time.Minute)
	w.decide()
	w.wantPhase(api.PhaseFailed)
	if !strings.Contains(w.ro.Reason, "progressDeadline 10m") {
		t.Fatalf("reason %q, want the deadline named", w.ro.Reason)
	}
}

// failureLimit counts the failed runs that abort: 1 aborts at the first
// (Argo's failureLimit 0), and left out it is 2.
func TestAnalysisFailureLimit(t *testing.T) {
	for _, tc := range []struct {
		name, limit string
		abortsAfter int
	}{
		{"1", ", failureLimit: 1", 1},
		{"left out", "", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, 5, "{strategy: canary, canary: {steps: [{weight: 20, pause: 1m}, {weight: 100}]}, analysis: {interval: 10s, maxErrorRate: 1%"+tc.limit+"}}")
			w.update()
			w.decide()
			w.readyAll(2)
			w.decide()
			w.traffic(1, 800, 0, 2*time.Millisecond)
			w.traffic(2, 200, 60, 2*time.Millisecond)
			for run := 1; run <= tc.abortsAfter; run++ {
				w.advance(10 * time.Second)
				w.decide()
				if run < tc.abortsAfter {
					w.wantPhase(api.PhaseProgressing)
				}
			}
			w.wantPhase(api.PhaseAborted)
			if want := fmt.Sprintf("aborted after %d failed analyses (failureLimit %d)", tc.abortsAfter, tc.abortsAfter); !strings.Contains(w.ro.Reason, want) {
				t.Fatalf("reason %q, want %q", w.ro.Reason, want)
			}
		})
	}
}
