package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flotilla/api"
)

// TestAutoscalingChecksInALab checks, in one sim lab, the autoscaling
// issue's "Done when" lines that were only unit-tested so far: the memory
// metric scales on the demo app's --memory; a paused canary's replicas
// follow the autoscaled total at an unchanged weight, and a re-apply of the
// unchanged spec keeps the autoscaled count; a scale down waits for the
// stabilization window; and a noisy but constant load does not make the
// count flap. The subtests run side by side: the lab is started once, and
// the scale-down checks have to wait for the leader to be a minute old
// anyway (a new leader only scales up until its figures cover a window).
func TestAutoscalingChecksInALab(t *testing.T) {
	lab := startLab(t)
	t.Cleanup(func() { keepLabLogs(t, lab) })
	// The lab is ready once its agents registered, which took a leader:
	// the leader's autoscaler started before this.
	labReady := time.Now()
	basePort := 10000 + rand.IntN(9000) // ports of their own: one more guard against a cluster outside any lab
	var portMu sync.Mutex
	nextPort := func() int {
		portMu.Lock()
		defer portMu.Unlock()
		basePort++
		return basePort
	}
	rig := func(t *testing.T) *rolloutRig {
		c, err := api.NewClient(lab.addr)
		if err != nil {
			t.Fatal(err)
		}
		r := &rolloutRig{t: t, l: &labCLI{t: t, bin: lab.bin, env: lab.env, addr: lab.addr}, c: c, dir: t.TempDir()}
		t.Cleanup(r.stopLoads)
		return r
	}
	t.Run("memory scales on the demo app's --memory", func(t *testing.T) {
		t.Parallel()
		checkMemoryAutoscaling(rig(t), nextPort(), nextPort())
	})
	t.Run("canary replicas follow the autoscaled total", func(t *testing.T) {
		t.Parallel()
		checkCanaryFollowsAutoscaler(rig(t), nextPort())
	})
	t.Run("scale down waits for the stabilization window", func(t *testing.T) {
		t.Parallel()
		checkScaleDownAfterWindow(rig(t), nextPort(), labReady)
	})
	t.Run("noisy constant load does not flap", func(t *testing.T) {
		t.Parallel()
		checkNoFlapping(rig(t), nextPort(), labReady)
	})
}

// checkMemoryAutoscaling: the sim runtime reports the demo app's memory as
// 8Mi plus --memory, whatever its load. A replica of hog holds 8Mi + 56Mi =
// 64Mi of the 128Mi it reserves, 50%, against a target of 20%: the formula
// asks for ceil(1 × 50 / 20) = 3 replicas at the first look that has the
// reading (memory is a model here, not a measurement: no ±1). Memory per
// replica does not fall when replicas are added, so at 3 it asks for more
// again: ceil(150 / 20) = 8 once the three replicas are read (5 while only
// two are, the third counting 0), capped at max 5 either way. A second
// service, quiet, holds 16Mi of 128Mi (12.5%, below the target) and stays
// at 1.
func checkMemoryAutoscaling(r *rolloutRig, hogPort, quietPort int) {
	t := r.t
	spec := func(name, memory string, port int) string {
		return fmt.Sprintf(`kind: Service
name: %s
image: flotilla.local/demo:v1
args: ["--version", "v1", "--memory", "%s"]
resources: {cpu: 100m, memory: 128Mi}
ports: [{name: http, port: %d, protocol: http}]
probes:
  readiness: {http: {path: /ready, port: http}, period: 1s}
autoscale: {min: 1, max: 5, metric: memory, target: 20}
`, name, memory, port)
	}
	r.apply(spec("hog", "56Mi", hogPort))
	r.apply(spec("quiet", "8Mi", quietPort))

	// hog goes to 5 (max) in two steps, each a change naming the memory
	// metric; no load is needed.
	r.poll(40*time.Second, "hog to scale up to max 5 on memory", func() bool {
		svc, _, err := r.c.Service(context.Background(), "default", "hog", api.QueryOptions{})
		return err == nil && svc.Replicas == 5
	})
	first := r.event("hog", api.EventServiceScaled, "autoscaled default/hog 1 →")
	t.Logf("first change: %s", first.Message)
	if want := "autoscaled default/hog 1 → 3: memory 50.0 per replica over 1m0s, target 20"; first.Message != want {
		t.Errorf("first change %q, want %q (ceil(50%% / 20%%) = 3)", first.Message, want)
	}
	second := r.event("hog", api.EventServiceScaled, "autoscaled default/hog 3 → 5: memory ")
	t.Logf("second change: %s", second.Message)
	if strings.Contains(first.Message, "(panic)") || strings.Contains(second.Message, "(panic)") {
		t.Errorf("changes %q and %q: the memory metric has no panic mode", first.Message, second.Message)
	}
	svc, _, err := r.c.Service(context.Background(), "default", "hog", api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := svc.Autoscaled; c == nil || c.From != 3 || c.To != 5 || !strings.HasPrefix(c.Reason, "memory ") {
		t.Errorf("hog's last change %+v, want 3 → 5 with the memory rule", svc.Autoscaled)
	}
	r.waitReady("hog", 1, 5, 20*time.Second)

	// top shows each hog replica's 64Mi: what the autoscaler read.
	top, err := r.c.TopAllocations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range top.Allocations {
		if u.Service == "hog" && u.At.IsZero() {
			continue // a reading not in yet
		}
		if u.Service == "hog" && u.Memory != 64<<20 {
			t.Errorf("top: hog replica %s uses %s, want the model's 8Mi + 56Mi = 64Mi", u.ID, u.Memory)
		}
	}

	// quiet has had its readings for a while (hog scaled twice on theirs
	// meanwhile, and a few more of the leader's looks have passed): it is
	// still at 1, without a change.
	var seen time.Time
	r.poll(20*time.Second, "top to show quiet's memory", func() bool {
		top, err := r.c.TopAllocations(context.Background())
		if err != nil {
			return false
		}
		for _, u := range top.Allocations {
			if u.Service == "quiet" && u.Memory == 16<<20 {
				if seen.IsZero() {
					seen = time.Now()
				}
				return time.Since(seen) >= 5*time.Second // five of the leader's looks with the reading
			}
		}
		return false
	})
	quiet, _, err := r.c.Service(context.Background(), "default", "quiet", api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if quiet.Replicas != 1 || quiet.Autoscaled != nil {
		t.Errorf("quiet at 12.5%% of its memory against a 20%% target: %d replicas, last change %+v; want 1 and none",
			quiet.Replicas, quiet.Autoscaled)
	}
}

// checkCanaryFollowsAutoscaler: a service autoscaled on in-flight requests
// (5..10, target 5) rolls out v2 by canary and pauses at 20% (manual
// pause): 1 canary replica of 5. A load of ~60 requests in flight (120/s
// answered in 500ms) asks for 12, capped at 10: the stable revision goes
// to 10 and the canary to its 20% share, 2, while the weights stay 20/80,
// the requests split that way, and none fails. A re-apply of the unchanged
// spec then writes nothing: the autoscaled count stays.
func checkCanaryFollowsAutoscaler(r *rolloutRig, port int) {
	t := r.t
	const name = "canaried"
	spec := func(version string) string {
		return fmt.Sprintf(`kind: Service
name: %s
image: flotilla.local/demo:v1
args: ["--version", "%s", "--latency", "500ms"]
ports: [{name: http, port: %d, protocol: http}]
probes:
  readiness: {http: {path: /ready, port: http}, period: 1s}
autoscale: {min: 5, max: 10, metric: inflight, target: 5}
rollout:
  strategy: canary
  canary: {steps: [{weight: 20, pause: manual}, {weight: 100}]}
`, name, version, port)
	}
	r.apply(spec("v1"))
	r.waitReady(name, 1, 5, 30*time.Second)

	r.apply(spec("v2"))
	paused := r.waitRollout(name, 2, 30*time.Second, "the canary paused at 20%", func(ro *api.Rollout) bool {
		return ro.Phase == api.PhasePaused && ro.Step == 1 && !ro.StepTime.IsZero()
	})
	checkCanaryWeights(t, paused)
	waitRevisionCounts(r, name, 5, 1, 20*time.Second)

	url := fmt.Sprintf("http://%s:%d/", r.vip(name), port)
	load := r.startLoadAt(url, 120, time.Minute)
	r.poll(20*time.Second, "the autoscaler to scale "+name+" to max 10", func() bool {
		svc, _, err := r.c.Service(context.Background(), "default", name, api.QueryOptions{})
		return err == nil && svc.Replicas == 10
	})
	e := r.event(name, api.EventServiceScaled, "autoscaled default/"+name+" 5 →")
	t.Logf("%s", e.Message)
	// The canary follows: 20% of 10 is 2; the stable revision keeps all 10.
	waitRevisionCounts(r, name, 10, 2, 30*time.Second)
	ro, err := r.rollout(name)
	if err != nil {
		t.Fatal(err)
	}
	if ro.Revision != 2 || ro.Phase != api.PhasePaused || ro.Step != 1 {
		t.Errorf("rollout after scaling: revision %d %s at step %d, want revision 2 still paused at step 1", ro.Revision, ro.Phase, ro.Step)
	}
	checkCanaryWeights(t, ro)

	// A re-apply of the same spec (no replicas in it) writes nothing: the
	// service keeps its 10 replicas and its index.
	before, _, err := r.c.Service(context.Background(), "default", name, api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(r.dir, "reapply.yaml")
	if err := os.WriteFile(file, []byte(spec("v2")), 0o644); err != nil {
		t.Fatal(err)
	}
	out := r.l.must("apply", "-f", file)
	t.Logf("re-apply: %s", strings.TrimSpace(out))
	if !strings.Contains(out, "unchanged (revision 2)") {
		t.Errorf("re-apply of the unchanged spec said %q, want unchanged at revision 2", out)
	}
	after, _, err := r.c.Service(context.Background(), "default", name, api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.Replicas != 10 || after.ModifyIndex != before.ModifyIndex {
		t.Errorf("after the re-apply: %d replicas at index %d, want the autoscaled 10 at index %d (nothing written)",
			after.Replicas, after.ModifyIndex, before.ModifyIndex)
	}
	waitRevisionCounts(r, name, 10, 2, 5*time.Second)

	// The proxies split the requests by the weight: 20% ± 6% of a
	// thousand requests or more to revision 2 in their figures.
	var byRevision map[int]uint64
	r.poll(30*time.Second, "a thousand requests in the proxies' figures", func() bool {
		tr, err := r.c.Traffic(context.Background(), api.DefaultNamespace, name)
		if err != nil {
			return false
		}
		byRevision = map[int]uint64{}
		for _, w := range tr.Windows {
			if w.Window.Std() == time.Minute {
				for _, f := range w.Revisions {
					byRevision[f.Revision] += f.Requests
				}
			}
		}
		return byRevision[1]+byRevision[2] >= 1000
	})
	if share := float64(byRevision[2]) / float64(byRevision[1]+byRevision[2]); share < 0.14 || share > 0.26 {
		t.Errorf("requests by revision %v: revision 2 served %.1f%%, want about its 20%% weight", byRevision, 100*share)
	}
	res := load.stop()
	t.Logf("load: %d requests, %d errors, versions %v; by revision in the last minute %v", res.Requests, res.Errors, res.Versions, byRevision)
	if res.Errors != 0 {
		t.Errorf("%d of %d requests failed while scaling the canary: %v %v", res.Errors, res.Requests, res.ErrorKinds, res.ErrorSamples)
	}
}

// checkCanaryWeights fails the test unless ro sends 20% to revision 2 and
// 80% to revision 1.
func checkCanaryWeights(t *testing.T, ro *api.Rollout) {
	t.Helper()
	if len(ro.Weights) != 2 || ro.Weights[2] != 20 || ro.Weights[1] != 80 {
		t.Errorf("rollout weights %v, want 20%% to revision 2 and 80%% to revision 1", ro.Weights)
	}
}

// waitRevisionCounts waits until exactly stable allocations of revision 1
// and canary of revision 2 are meant to run, all running and ready.
func waitRevisionCounts(r *rolloutRig, name string, stable, canary int, within time.Duration) {
	r.t.Helper()
	what := fmt.Sprintf("%d ready replicas of revision 1 and %d of revision 2, nothing else", stable, canary)
	r.waitAllocs(name, within, what, func(allocs []*api.Allocation) bool {
		ready := map[int]int{}
		for _, a := range allocs {
			if a.DesiredStatus != api.DesiredRun {
				continue
			}
			if a.Status != api.AllocRunning || !a.Ready {
				return false
			}
			ready[a.Revision]++
		}
		return len(ready) == 2 && ready[1] == stable && ready[2] == canary
	})
}

// stabilizationWindow is the scale-down tests' autoscale.stabilizationWindow.
const stabilizationWindow = 10 * time.Second

// leaderAge: the leader's autoscaler scales down only once its figures
// cover autoscale.StableWindow (60s) from when it became leader, which was
// before the lab was ready; a few seconds more for its first look.
const leaderAge = 63 * time.Second

// checkScaleDownAfterWindow: a service autoscaled on requests per second
// (5..10, target 10, stabilizationWindow 10s) gets 68 requests/s: 7
// replicas (the 6s panic window asks for 7, less than twice 5: no panic;
// at 7, 68 is within the 10% tolerance of 70).
//
// The service is created just before the load, once the leader is nearly
// old enough to scale down, and the load stops after ~30s, once it is:
// a service's proxy counters start with it, so its 1m rate is the
// requests over its short life, which falls at once when the load stops:
// t seconds after it, about 68 × 30 / (31 + t), 6 replicas' worth (60)
// from t ≈ 3s and min's (50) from t ≈ 10s. Without the window the count
// would fall within seconds. With it, no scale down may come before the
// stop plus the window: the load stops only once the rate reads 64 or
// more, so the recommendation stays at the peak for at least the leader's
// next look after the stop (a second). Then the count goes back to min 5.
func checkScaleDownAfterWindow(r *rolloutRig, port int, labReady time.Time) {
	t := r.t
	const name = "stepped"
	// The load stops at labReady+leaderAge at the earliest; apply ~33s
	// before, so that ~30s of it are behind by then.
	time.Sleep(time.Until(labReady.Add(leaderAge - 33*time.Second))) // a start time, not a wait for something to happen
	leader, err := r.c.Leader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r.apply(fmt.Sprintf(`kind: Service
name: %s
image: flotilla.local/demo:v1
args: ["--version", "v1"]
ports: [{name: http, port: %d, protocol: http}]
probes:
  readiness: {http: {path: /ready, port: http}, period: 1s}
autoscale: {min: 5, max: 10, metric: rps, target: 10, stabilizationWindow: %s}
`, name, port, api.Duration(stabilizationWindow)))
	r.waitReady(name, 1, 5, 30*time.Second)
	url := fmt.Sprintf("http://%s:%d/", r.vip(name), port)

	load := r.startLoadAt(url, 68, 2*time.Minute)
	loaded := time.Now()
	r.poll(20*time.Second, name+" to scale up", func() bool {
		svc, _, err := r.c.Service(context.Background(), "default", name, api.QueryOptions{})
		return err == nil && svc.Replicas > 5
	})
	up := r.event(name, api.EventServiceScaled, "autoscaled default/"+name+" 5 →")
	t.Logf("scaled up %s after the load began: %s", time.Since(loaded).Round(100*time.Millisecond), up.Message)
	if !strings.Contains(up.Message, ": rps ") || strings.Contains(up.Message, "(panic)") {
		t.Errorf("scale up %q, want the rps rule over the stable window, no panic", up.Message)
	}

	// Stop once the leader may scale down, and once the 1m rate reads 64
	// or more (its life's requests over its life): a second without
	// requests then still reads above 60.
	var rate float64
	for deadline := time.Now().Add(40 * time.Second); ; {
		tr, err := r.c.Traffic(context.Background(), api.DefaultNamespace, name)
		if err == nil {
			rate = 0
			for _, w := range tr.Windows {
				if w.Window.Std() == time.Minute {
					for _, f := range w.Revisions {
						rate += f.RPS
					}
				}
			}
		}
		if rate >= 64 && time.Since(loaded) >= 25*time.Second && time.Since(labReady) >= leaderAge {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the 1m rate reads %.1f/s %s after the load began (want 64 or more; the lab ready %s ago)",
				rate, time.Since(loaded).Round(100*time.Millisecond), time.Since(labReady).Round(100*time.Millisecond))
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	svc, _, err := r.c.Service(context.Background(), "default", name, api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	peak := svc.Replicas
	if peak < 6 || peak > 8 {
		t.Errorf("%d replicas at 68 requests/s and a target of 10, want 7 (±1)", peak)
	}
	stopped := time.Now()
	res := load.stop()
	t.Logf("load stopped %s after it began, at %d replicas and a 1m rate of %.1f/s: %d requests, %d errors",
		stopped.Sub(loaded).Round(100*time.Millisecond), peak, rate, res.Requests, res.Errors)
	if res.Errors != 0 {
		t.Errorf("%d of %d requests failed", res.Errors, res.Requests)
	}

	r.poll(45*time.Second, name+" back to min 5", func() bool {
		svc, _, err := r.c.Service(context.Background(), "default", name, api.QueryOptions{})
		return err == nil && svc.Replicas == 5
	})
	t.Logf("back at min %s after the load stopped", time.Since(stopped).Round(100*time.Millisecond))
	if now, err := r.c.Leader(context.Background()); err != nil || now.Leader != leader.Leader {
		// Not a failure of the rule; the check below stays sound, but a
		// new leader holds scale downs for its first minute.
		t.Logf("the leader changed during the check: %+v then %+v (%v)", leader, now, err)
	}
	var downs int
	for _, c := range countChanges(r, name) {
		if c.at.Before(stopped) {
			continue
		}
		t.Logf("%s after the stop: %s", c.at.Sub(stopped).Round(10*time.Millisecond), c.message)
		if c.to > c.from {
			continue // a look just after the stop may still read the load
		}
		downs++
		if early := c.at.Sub(stopped.Add(stabilizationWindow)); early < 0 {
			t.Errorf("scaled down %s before the %s stabilization window since the last high recommendation (the load's stop) had passed: %s",
				-early, stabilizationWindow, c.message)
		}
	}
	if downs == 0 {
		t.Errorf("no scale down after the stop among the events:\n%s", r.l.must("events", "--service", name))
	}
}

// checkNoFlapping: a service autoscaled on in-flight requests (4..8,
// target 2, stabilizationWindow 10s) answering in 200ms gets a load whose
// rate is drawn afresh every 250ms from 48 requests/s ± 30%: ~9.6 in
// flight on average (7..12.5 at any moment). That asks for 5 replicas
// (9.6 is 1.2 × 4 × 2, out of the 10% tolerance; at 5 it is 0.96 of 5 × 2,
// within it), and never for a panic (twice 4 is asked for above 14 in
// flight). The service is created, and loaded, once the leader may scale
// down: its proxy counters start with it, so for its first seconds the
// "1m" figure covers only those seconds and follows the noise more closely
// than it will later, and the count may go down as well as up. The count,
// sampled every 200ms for three windows, moves up to 5 (±1) and does not
// flap: at most one change of direction per window, in the samples and in
// the events.
func checkNoFlapping(r *rolloutRig, port int, labReady time.Time) {
	t := r.t
	const name = "steady"
	time.Sleep(time.Until(labReady.Add(leaderAge - time.Second))) // a start time: ready as the leader may scale down
	r.apply(fmt.Sprintf(`kind: Service
name: %s
image: flotilla.local/demo:v1
args: ["--version", "v1", "--latency", "200ms"]
ports: [{name: http, port: %d, protocol: http}]
probes:
  readiness: {http: {path: /ready, port: http}, period: 1s}
autoscale: {min: 4, max: 8, metric: inflight, target: 2, stabilizationWindow: %s}
`, name, port, api.Duration(stabilizationWindow)))
	r.waitReady(name, 1, 4, 30*time.Second)
	url := fmt.Sprintf("http://%s:%d/", r.vip(name), port)

	load := startNoisyLoad(url, 48, 0.3)
	defer load.stop()
	loaded := time.Now()
	var samples []countSample
	failedReads := 0
	end := loaded.Add(3*stabilizationWindow + 2*time.Second)
	for next := loaded; time.Now().Before(end); next = next.Add(200 * time.Millisecond) {
		time.Sleep(time.Until(next)) // sampling every 200ms
		svc, _, err := r.c.Service(context.Background(), "default", name, api.QueryOptions{})
		if err != nil {
			failedReads++
			continue
		}
		samples = append(samples, countSample{at: time.Now(), replicas: svc.Replicas})
	}
	sent, failed := load.stop()
	t.Logf("noisy load: %d requests, %d failed; %d samples of the count (%d failed reads): %s",
		sent, failed, len(samples), failedReads, traceOf(samples))
	if len(samples) < 100 {
		t.Fatalf("only %d samples of the count in %s", len(samples), end.Sub(loaded))
	}
	if failed > 0 {
		t.Errorf("%d of %d requests failed", failed, sent)
	}
	highest, last := 0, samples[len(samples)-1].replicas
	for _, s := range samples {
		highest = max(highest, s.replicas)
	}
	if highest < 5 {
		t.Errorf("the count never went above min 4 under ~9.6 requests in flight at a target of 2: %s", traceOf(samples))
	}
	if last < 4 || last > 6 {
		t.Errorf("ended at %d replicas, want 5 (±1)", last)
	}
	if turns := directionChanges(samples); tooClose(turns, stabilizationWindow) {
		t.Errorf("the sampled count changed direction at %s after the load began: more than once within %s: %s",
			offsets(turns, loaded), stabilizationWindow, traceOf(samples))
	}
	var changes []countSample
	for i, c := range countChanges(r, name) {
		if i == 0 {
			changes = append(changes, countSample{at: c.at, replicas: c.from})
		}
		changes = append(changes, countSample{at: c.at, replicas: c.to})
		t.Logf("%s after the load began: %s", c.at.Sub(loaded).Round(10*time.Millisecond), c.message)
	}
	if turns := directionChanges(changes); tooClose(turns, stabilizationWindow) {
		t.Errorf("the events show changes of direction at %s after the load began: more than once within %s",
			offsets(turns, loaded), stabilizationWindow)
	}
}

// offsets prints times as durations since start.
func offsets(times []time.Time, start time.Time) string {
	var out []string
	for _, at := range times {
		out = append(out, at.Sub(start).Round(100*time.Millisecond).String())
	}
	return strings.Join(out, ", ")
}

type countSample struct {
	at       time.Time
	replicas int
}

// directionChanges returns when the count turned from rising to falling
// or back.
func directionChanges(samples []countSample) []time.Time {
	var turns []time.Time
	last := 0 // direction of the previous change: +1, -1, 0 for none yet
	for i := 1; i < len(samples); i++ {
		d := samples[i].replicas - samples[i-1].replicas
		if d == 0 {
			continue
		}
		dir := 1
		if d < 0 {
			dir = -1
		}
		if last != 0 && dir != last {
			turns = append(turns, samples[i].at)
		}
		last = dir
	}
	return turns
}

// tooClose reports whether two turns came within window of each other.
func tooClose(turns []time.Time, window time.Duration) bool {
	for i := 1; i < len(turns); i++ {
		if turns[i].Sub(turns[i-1]) < window {
			return true
		}
	}
	return false
}

// traceOf prints the count whenever it changed: "4@0.0s 5@3.2s".
func traceOf(samples []countSample) string {
	if len(samples) == 0 {
		return "(none)"
	}
	var b strings.Builder
	for i, s := range samples {
		if i == 0 || s.replicas != samples[i-1].replicas {
			fmt.Fprintf(&b, "%d@%.1fs ", s.replicas, s.at.Sub(samples[0].at).Seconds())
		}
	}
	return strings.TrimSpace(b.String())
}

// countChange is one ServiceScaled event of the autoscaler.
type countChange struct {
	at       time.Time
	from, to int
	message  string
}

var autoscaledRE = regexp.MustCompile(`^autoscaled [^ ]+ (\d+) → (\d+):`)

// countChanges lists the autoscaler's changes of a service's count,
// oldest first, from its events.
func countChanges(r *rolloutRig, name string) []countChange {
	r.t.Helper()
	out := r.l.must("events", "--service", name, "-o", "json")
	var events []*api.Event
	if err := json.Unmarshal([]byte(out), &events); err != nil {
		r.t.Fatalf("decode events: %v\n%s", err, out)
	}
	var changes []countChange
	for _, e := range events {
		if e.Type != api.EventServiceScaled {
			continue
		}
		m := autoscaledRE.FindStringSubmatch(e.Message)
		if m == nil {
			r.t.Errorf("a change of %s's count not by the autoscaler: %s", name, e.Message)
			continue
		}
		from, _ := strconv.Atoi(m[1]) // digits, by the pattern
		to, _ := strconv.Atoi(m[2])
		changes = append(changes, countChange{at: e.Time, from: from, to: to, message: e.Message})
	}
	return changes
}

// noisyLoad sends GETs open loop (each due at its time, whatever the
// others do) at a rate drawn afresh every 250ms, uniformly within
// level ± spread.
type noisyLoad struct {
	cancel       context.CancelFunc
	done         chan struct{}
	once         sync.Once
	sent, failed atomic.Int64
}

func startNoisyLoad(url string, level, spread float64) *noisyLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &noisyLoad{cancel: cancel, done: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	get := func() {
		defer l.sent.Add(1)
		resp, err := client.Get(url)
		if err != nil {
			l.failed.Add(1)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			l.failed.Add(1)
		}
	}
	go func() {
		defer close(l.done)
		var requests sync.WaitGroup
		defer requests.Wait()
		timer := time.NewTimer(0)
		defer timer.Stop()
		// Ticks of a fixed 250ms, so that the rate averages level over
		// time; a request's due time carries over into the next tick.
		due := time.Now()
		for tickEnd := due; ; {
			tickEnd = tickEnd.Add(250 * time.Millisecond)
			rate := level * (1 - spread + 2*spread*rand.Float64())
			gap := time.Duration(float64(time.Second) / rate)
			for ; due.Before(tickEnd); due = due.Add(gap) {
				timer.Reset(time.Until(due))
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
				requests.Go(get)
			}
		}
	}()
	return l
}

// stop ends the load, waits for the requests in flight, and returns how
// many were sent and how many failed.
func (l *noisyLoad) stop() (sent, failed int64) {
	l.once.Do(func() {
		l.cancel()
		<-l.done
	})
	return l.sent.Load(), l.failed.Load()
}
