package rollout

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"flotilla/api"
)

// Whatever replicas do (become ready, stop being ready, take their time),
// a ramped rollout never stops a ready replica when that would leave fewer
// than replicas-maxUnavailable ready, never runs more than
// replicas+maxSurge replicas, and finishes once the new ones stay ready.
func TestRampedNeverBreaksItsBounds(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		replicas := rapid.IntRange(1, 12).Draw(rt, "replicas")
		surge := rapid.IntRange(0, 4).Draw(rt, "maxSurge")
		unavailable := rapid.IntRange(0, 4).Draw(rt, "maxUnavailable")
		if surge == 0 && unavailable == 0 {
			surge = 1
		}
		minReady := time.Duration(rapid.IntRange(0, 3).Draw(rt, "minReady")) * time.Second
		w := newWorld(t, replicas, fmt.Sprintf("{ramped: {maxSurge: %d, maxUnavailable: %d, minReady: %s, progressDeadline: 1h}}", surge, unavailable, api.Duration(minReady)))
		resolvedSurge, resolvedUnavailable := rampedBounds(w.svc.Spec.Rollout.Ramped, replicas)
		w.update()
		steps := rapid.IntRange(1, 60).Draw(rt, "steps")
		for i := 0; i < steps && w.ro.Active(); i++ {
			readyBefore := w.readyCount(1) + w.readyCount(2)
			runningBefore := w.running(1) + w.running(2)
			w.decide()
			readyAfter := w.readyCount(1) + w.readyCount(2)
			runningAfter := w.running(1) + w.running(2)
			if floor := min(readyBefore, replicas-resolvedUnavailable); readyAfter < floor {
				rt.Fatalf("step %d: ready %d -> %d, below %d", i, readyBefore, readyAfter, floor)
			}
			if ceiling := max(runningBefore, replicas+resolvedSurge); runningAfter > ceiling {
				rt.Fatalf("step %d: running %d -> %d, above %d", i, runningBefore, runningAfter, ceiling)
			}
			switch rapid.IntRange(0, 3).Draw(rt, "event") {
			case 0:
				w.ready(2, rapid.IntRange(1, 3).Draw(rt, "newReady"))
			case 1:
				w.unready(rapid.IntRange(1, 2).Draw(rt, "flapRevision"))
			case 2:
				w.advance(time.Duration(rapid.IntRange(1, 4).Draw(rt, "seconds")) * time.Second)
			case 3:
				w.ready(1, 1) // an old replica recovers
			}
		}
		// Then everything behaves: the rollout finishes.
		for i := 0; i < 10*replicas+20 && w.ro.Active(); i++ {
			w.readyAll(1)
			w.readyAll(2)
			w.advance(minReady + time.Second)
			w.decide()
		}
		if w.ro.Phase != api.PhaseCompleted || w.running(2) != replicas || w.running(1) != 0 {
			rt.Fatalf("did not finish: phase %s (%s), %d old, %d new", w.ro.Phase, w.ro.Reason, w.running(1), w.running(2))
		}
	})
}

// unready makes one ready replica of rev stop being ready (a readiness
// probe failing).
func (w *world) unready(rev int) {
	for _, a := range w.allocs {
		if a.Revision == rev && a.DesiredStatus == api.DesiredRun && a.Ready {
			a.Ready, a.ReadyTime = false, time.Time{}
			return
		}
	}
}
