package rollout

import (
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

// wantFailureAfter checks that the rollout still progresses a second
// before d from now, and has failed at d.
func (w *world) wantFailureAfter(d time.Duration) {
	w.t.Helper()
	w.advance(d - time.Second)
	w.decide()
	w.wantPhase(api.PhaseProgressing)
	w.advance(time.Second)
	w.decide()
	w.wantPhase(api.PhaseFailed)
}

// crash makes one ready replica of rev not ready (it crashed, and its
// restart is not ready yet).
func (w *world) crash(rev int) {
	for _, a := range w.allocs {
		if a.Revision == rev && a.DesiredStatus == api.DesiredRun && a.Ready {
			a.Status, a.Ready = api.AllocStarting, false
			return
		}
	}
}

// A blue-green rollout whose green never all comes up fails at its
// progress deadline and goes back to blue, which served all along. One
// more green replica ready starts the clock again; one that crashes and
// comes back does not.
func TestBlueGreenWaitingForGreenFailsAtItsProgressDeadline(t *testing.T) {
	w := newWorld(t, 3, "{strategy: blue-green, progressDeadline: 2m, blueGreen: {scaleDownDelay: 30s}}")
	w.update()
	w.decide()
	w.wantRunning(2, 3)
	if !w.ro.RecheckAt.Equal(epoch.Add(2 * time.Minute)) {
		t.Fatalf("recheck at %v, want the deadline", w.ro.RecheckAt)
	}
	w.advance(time.Minute)
	w.ready(2, 1) // progress: the clock starts again
	w.decide()
	w.advance(30 * time.Second)
	w.crash(2)
	w.decide()
	w.advance(30 * time.Second)
	w.ready(2, 1) // back to one ready: no progress
	w.decide()
	w.advance(59 * time.Second) // 1m59s after the first green replica
	w.decide()
	w.wantPhase(api.PhaseProgressing)
	w.wantRunning(2, 3)
	w.advance(time.Second)
	w.decide()
	w.wantPhase(api.PhaseFailed)
	w.wantRunning(2, 0)
	w.wantRunning(1, 3)
	w.wantWeights(map[int]int{1: 100})
	for _, want := range []string{"progressDeadline 2m", "1 of 3 replicas of revision 2 ready for green", "rolled back to revision 1"} {
		if !strings.Contains(w.ro.Reason, want) {
			t.Errorf("reason %q, want %q in it", w.ro.Reason, want)
		}
	}
	if got := w.eventTypes(); len(got) == 0 || got[len(got)-1] != api.EventRolloutFailed {
		t.Errorf("events %v, want RolloutFailed last", got)
	}
	w.decide()
	w.wantPhase(api.PhaseFailed)
	w.wantRunning(1, 3)
}

// A paused rollout's wait has no deadline; resuming starts one.
func TestAPausedWaitHasNoDeadline(t *testing.T) {
	w := newWorld(t, 2, "{strategy: blue-green, progressDeadline: 1m}")
	w.update()
	w.ro.Paused = true
	w.decide()
	w.advance(time.Hour)
	w.decide()
	w.wantPhase(api.PhasePaused)
	w.ro.Paused = false
	w.decide()
	w.wantFailureAfter(time.Minute)
}

// Each canary step's wait for its replicas has a clock of its own: an
// hour at a manual pause does not count against the next step.
func TestEachCanaryStepWaitsUpToTheDeadline(t *testing.T) {
	w := newWorld(t, 4, "{strategy: canary, progressDeadline: 1m, canary: {steps: [{weight: 25, pause: manual}, {weight: 75}]}}")
	w.update()
	w.decide()
	w.readyAll(2)
	w.decide()
	w.wantPhase(api.PhasePaused) // at step 1's manual pause
	if w.ro.Waiting != "" {
		t.Fatalf("waiting for %q at a pause, want nothing", w.ro.Waiting)
	}
	w.advance(time.Hour)
	w.ro.Promote = true
	w.decide()
	w.wantPhase(api.PhaseProgressing)
	w.wantRunning(2, 3)
	w.wantFailureAfter(time.Minute)
	w.wantWeights(map[int]int{1: 100})
	if !strings.Contains(w.ro.Reason, "ready for step 2/2") {
		t.Errorf("reason %q, want the step named", w.ro.Reason)
	}
}

// Left out, the deadline is 10 minutes, for A/B and shadow rollouts too.
func TestTheProgressDeadlineLeftOutIsTenMinutes(t *testing.T) {
	for _, rollout := range []string{
		"{strategy: blue-green}",
		"{strategy: ab, ab: {goal: {header: X-Conversion}}}\n" + httpPort,
		"{strategy: shadow, shadow: {percent: 10%}}\n" + httpPort,
	} {
		w := newWorld(t, 2, rollout)
		w.update()
		w.decide()
		w.advance(10*time.Minute - time.Second)
		w.decide()
		if w.ro.Phase == api.PhaseFailed {
			t.Fatalf("%s: failed before 10m: %s", rollout, w.ro.Reason)
		}
		w.advance(time.Second)
		w.decide()
		if w.ro.Phase != api.PhaseFailed || !strings.Contains(w.ro.Reason, "progressDeadline 10m") {
			t.Errorf("%s: %s %q at 10m, want failed at the default deadline", rollout, w.ro.Phase, w.ro.Reason)
		}
	}
}

// A new replica count to wait for (a scale, by hand or by the autoscaler)
// is a new wait: the new replicas get the whole deadline.
func TestAScaleDuringAWaitStartsItsClockAgain(t *testing.T) {
	w := newWorld(t, 3, "{strategy: blue-green, progressDeadline: 10m}")
	w.update()
	w.decide()
	w.ready(2, 2)
	w.decide()
	w.advance(9*time.Minute + 50*time.Second)
	w.svc.Replicas = 10
	w.decide()
	w.advance(time.Minute)
	w.decide()
	w.wantPhase(api.PhaseProgressing)
	w.advance(9 * time.Minute)
	w.decide()
	w.wantPhase(api.PhaseFailed)
	if !strings.Contains(w.ro.Reason, "2 of 10 replicas") {
		t.Errorf("reason %q, want the new count", w.ro.Reason)
	}
}

// A promoted shadow ramps up within the rollout's progress deadline, and
// goes back to the stable revision when it passes.
func TestAPromotedShadowRampsUpWithinTheDeadline(t *testing.T) {
	w := newWorld(t, 4, withHTTP(`{strategy: shadow, progressDeadline: 5m, shadow: {percent: 20%, compare: {status: true}}}`))
	w.update()
	w.decideWith(nil)
	w.readyAll(2)
	w.decideWith(nil)
	w.ro.Promote = true
	w.decideWith(nil)
	w.advance(5*time.Minute - time.Second)
	w.decideWith(nil)
	w.wantPhase(api.PhaseProgressing)
	w.advance(time.Second)
	w.decideWith(nil)
	w.wantPhase(api.PhaseFailed)
	if !strings.Contains(w.ro.Reason, "progressDeadline 5m") || !strings.Contains(w.ro.Reason, "rolled back to revision 1") {
		t.Fatalf("reason %q, want the deadline and the way back named", w.ro.Reason)
	}
	for range 10 {
		w.decideWith(nil)
		w.readyAll(1)
	}
	w.wantRunning(2, 0)
	w.wantRunning(1, 4)
}

// A shadow that ran longer than the deadline, promoted while its replicas
// are down, gets the whole deadline for its ramp.
func TestAShadowPromotedLateGetsTheWholeDeadline(t *testing.T) {
	w := newWorld(t, 4, withHTTP(`{strategy: shadow, progressDeadline: 5m, shadow: {percent: 20%, compare: {status: true}}}`))
	w.update()
	w.decideWith(nil)
	w.readyAll(2)
	w.decideWith(nil)
	w.advance(time.Hour)
	w.crash(2)
	w.ro.Promote = true
	w.decideWith(nil)
	w.wantPhase(api.PhaseProgressing)
	w.advance(5*time.Minute - time.Second)
	w.decideWith(nil)
	w.wantPhase(api.PhaseProgressing)
}
