package rollout

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

// decideWith is world.decide with the proxies' merged comparison figures
// of the candidate.
func (w *world) decideWith(report *api.DiffReport) Decision {
	w.t.Helper()
	d := Decide(Input{Service: w.svc, Rollout: w.ro, Allocs: w.allocs, Now: w.now,
		Figures: func(time.Duration) []api.TrafficFigures { return w.figures },
		Diffs: func(r *api.Rollout) *api.DiffReport {
			if r.Revision != w.svc.Revision || r.StartIndex != w.ro.StartIndex {
				w.t.Fatalf("figures of revision %d (rollout at %d) asked for, want the candidate %d (%d)", r.Revision, r.StartIndex, w.svc.Revision, w.ro.StartIndex)
			}
			return report
		}})
	w.ro = d.Rollout
	w.events = append(w.events, d.Events...)
	w.apply(d.Desired)
	w.last = d
	return d
}

// diffReport is one endpoint's figures: judged comparisons of which
// differing count against the candidate on body.version, and a noisy
// body.time.
func diffReport(comparisons, judged, differing int64) *api.DiffReport {
	fields := []api.DiffField{{Field: "body.time", CandidateDiffs: comparisons, NoiseDiffs: comparisons / 2, Noise: true, CandidateRate: 1, NoiseRate: 1}}
	if differing > 0 {
		fields = append([]api.DiffField{{Field: "status", CandidateDiffs: differing, Counted: differing,
			DiffRate: float64(differing) / float64(judged),
			Examples: []api.DiffExample{{Request: "GET /", Path: "status", Kind: "changed", Stable: "200", Candidate: "500"}}}}, fields...)
	}
	rate := 0.0
	if judged > 0 {
		rate = float64(differing) / float64(judged)
	}
	return &api.DiffReport{Mirrored: uint64(comparisons), Comparisons: comparisons, Judged: judged, Differing: differing, DiffRate: rate,
		NoiseComparisons: comparisons / 2,
		Endpoints: []api.DiffEndpoint{{Endpoint: "GET /", Comparisons: comparisons, Judged: judged, Differing: differing, DiffRate: rate,
			NoiseComparisons: comparisons / 2, Learning: judged == 0, Fields: fields}}}
}

// withHTTP adds the HTTP port a shadow rollout needs to newWorld's
// rollout line.
func withHTTP(rollout string) string {
	return rollout + "\nports: [{name: http, port: 80, protocol: http}]"
}

var shadowRollout = withHTTP(`{strategy: shadow, shadow: {percent: 20%, compare: {status: true, body: true}},
  analysis: {interval: 10s, maxDiffRate: 1%, failureLimit: 2}}`)

func TestShadowReplicas(t *testing.T) {
	for _, tc := range []struct {
		percent  api.Percent
		written  *int
		replicas int
		want     int
	}{
		{20, nil, 10, 2}, {5, nil, 10, 1}, {100, nil, 6, 6}, {50, nil, 3, 2}, {0.1, nil, 1, 1},
		{10, new(3), 10, 3}, {100, new(1), 10, 1},
		{20, nil, 0, 0}, {10, new(3), 0, 0}, // scaled to zero: nothing to mirror
	} {
		cfg := &api.ShadowRollout{Percent: tc.percent, Replicas: tc.written}
		if got := shadowReplicas(cfg, tc.replicas); got != tc.want {
			t.Errorf("shadowReplicas(percent %s, replicas written %v, of %d) = %d, want %d", tc.percent, tc.written, tc.replicas, got, tc.want)
		}
	}
}

func TestShadowMirrorsOnceTheCandidateIsReadyAndPromotesAsARampedRollout(t *testing.T) {
	w := newWorld(t, 10, shadowRollout)
	w.update()
	w.decideWith(nil)
	w.wantPhase(api.PhaseProgressing)
	w.wantRunning(1, 10)
	w.wantRunning(2, 2) // 20% of 10
	w.wantWeights(map[int]int{1: 100})
	if routes := Routes(w.svc, w.ro); len(routes.Mirrors) != 0 {
		t.Fatalf("routes %+v while the candidate starts, want no mirror yet", routes)
	}

	w.readyAll(2)
	w.decideWith(nil)
	if w.ro.Step != 1 || w.ro.StepTime != w.now {
		t.Fatalf("step %d at %v, want step 1 (shadowing) from now", w.ro.Step, w.ro.StepTime)
	}
	want := api.RouteTable{Split: []api.WeightedBackend{{Backend: 1, Weight: 100}},
		Mirrors: []api.Mirror{{Backend: 2, Percent: 20, Methods: []string{"GET", "HEAD", "OPTIONS"}, Baseline: 50,
			Compare: api.ShadowCompare{Status: true, Body: true}}}}
	if got := Routes(w.svc, w.ro); !reflect.DeepEqual(got, want) {
		t.Fatalf("routes while shadowing:\n%+v\nwant\n%+v", got, want)
	}
	if last := w.events[len(w.events)-1]; last.Type != api.EventRolloutStep || !strings.Contains(last.Message, "20% of GET, HEAD, OPTIONS requests mirrored to revision 2 (2 replicas), 50% of them also to a second replica of revision 1") {
		t.Fatalf("event %+v, want the shadowing step with its settings", last)
	}
	if !w.ro.RecheckAt.Equal(w.now.Add(10 * time.Second)) {
		t.Fatalf("recheck at %v, want the first analysis in 10s", w.ro.RecheckAt)
	}

	// First analysis: noise still being learned.
	w.advance(10 * time.Second)
	w.traffic(2, 300, 0, 5*time.Millisecond)
	w.traffic(1, 1500, 0, 5*time.Millisecond)
	w.decideWith(diffReport(40, 0, 0))
	if run := w.ro.Analysis[len(w.ro.Analysis)-1]; run.Verdict != api.VerdictInconclusive || run.Metric != "samples" || !strings.Contains(run.Message, "noise still being learned") {
		t.Fatalf("first run %+v, want inconclusive for want of judged comparisons", run)
	}
	// Then enough judged comparisons without a difference: pass, and the
	// figures are in the state.
	w.advance(10 * time.Second)
	w.decideWith(diffReport(400, 300, 0))
	run := w.ro.Analysis[len(w.ro.Analysis)-1]
	if run.Verdict != api.VerdictPass || run.Shadow == nil || run.Shadow.Judged != 300 || !strings.Contains(run.Message, "diff rate 0.0% (0 of 300 judged comparisons differ") {
		t.Fatalf("second run %+v, want a pass with its figures", run)
	}
	s := w.ro.Shadow
	if s == nil || s.Comparisons != 400 || s.Judged != 300 || s.DiffRate != 0 || !reflect.DeepEqual(s.NoiseFields, []string{"body.time"}) {
		t.Fatalf("shadow status %+v, want the report's counts and body.time as noise", s)
	}
	w.wantPhase(api.PhaseProgressing)
	w.wantRunning(2, 2) // a pass does not promote: a person does
	if !strings.Contains(w.ro.Reason, "rollout promote web") {
		t.Fatalf("reason %q, want it to say how to promote", w.ro.Reason)
	}

	w.ro.Promote = true // `rollout promote`, as the FSM stores it
	w.decideWith(diffReport(420, 320, 0))
	if w.ro.PromoteTime != w.now || w.ro.Promote {
		t.Fatalf("promote time %v, promote %v; want promoted now and the ask cleared", w.ro.PromoteTime, w.ro.Promote)
	}
	if routes := Routes(w.svc, w.ro); len(routes.Mirrors) != 0 {
		t.Fatalf("routes after the promotion %+v, want no mirror", routes)
	}
	for i := 0; i < 40 && w.ro.Active(); i++ {
		if total := w.running(1) + w.running(2); total > 13 {
			t.Fatalf("%d replicas run while ramping, more than replicas+maxSurge 13", total)
		}
		w.readyAll(2)
		w.advance(time.Second)
		w.decideWith(nil)
	}
	w.wantPhase(api.PhaseCompleted)
	w.wantRunning(1, 0)
	w.wantRunning(2, 10)
	w.wantWeights(map[int]int{2: 100})
	if routes := Routes(w.svc, w.ro); !reflect.DeepEqual(routes, api.RouteTable{Split: []api.WeightedBackend{{Backend: 2, Weight: 100}}}) {
		t.Fatalf("routes once completed %+v, want all to revision 2", routes)
	}
	types := w.eventTypes()
	if !strings.Contains(fmt.Sprint(types), "RolloutPromoted") || types[len(types)-1] != api.EventRolloutCompleted {
		t.Fatalf("events %v, want a promotion and the completion last", types)
	}
}

func TestShadowAbortsOnTheDiffRate(t *testing.T) {
	w := newWorld(t, 6, shadowRollout)
	w.update()
	w.decideWith(nil)
	w.readyAll(2)
	w.decideWith(nil)
	w.traffic(2, 200, 20, 5*time.Millisecond)
	w.traffic(1, 1000, 0, 5*time.Millisecond)
	// Enough samples: 10% of judged comparisons differ on the status.
	for i, judged := range []int64{200, 400} {
		w.advance(10 * time.Second)
		w.decideWith(diffReport(judged+50, judged, judged/10))
		run := w.ro.Analysis[len(w.ro.Analysis)-1]
		if run.Verdict != api.VerdictFail || run.Metric != "diffRate" {
			t.Fatalf("run %d: %+v, want a failure on diffRate", i+1, run)
		}
	}
	w.wantPhase(api.PhaseAborted)
	w.wantRunning(2, 0)
	w.wantRunning(1, 6)
	w.wantWeights(map[int]int{1: 100})
	for _, want := range []string{"aborted after 2 failed analyses (failureLimit 2)", "diff rate 10.0% (40 of 400 judged comparisons differ",
		"above maxDiffRate 1%", "GET / status (40, 10.0%)", "revision 2 discarded"} {
		if !strings.Contains(w.ro.Reason, want) {
			t.Errorf("reason %q does not say %q", w.ro.Reason, want)
		}
	}
	if routes := Routes(w.svc, w.ro); len(routes.Mirrors) != 0 {
		t.Fatalf("routes after the abort %+v, want no mirror", routes)
	}
	if d := w.decideWith(nil); w.ro.Phase != api.PhaseAborted || d.Desired[2] != 0 {
		t.Fatalf("after the abort: %s with %v desired, want it to stay aborted with revision 2 stopped", w.ro.Phase, d.Desired)
	}
}

func TestShadowWithoutAnalysisKeepsFiguresAndWaitsForAPerson(t *testing.T) {
	w := newWorld(t, 4, withHTTP("{strategy: shadow, shadow: {percent: 50%, baseline: 0, replicas: 1}}"))
	w.update()
	w.decideWith(nil)
	w.wantRunning(2, 1)
	w.readyAll(2)
	w.decideWith(nil)
	if m := Routes(w.svc, w.ro).Mirrors; len(m) != 1 || m[0].Baseline != 0 {
		t.Fatalf("mirrors %+v, want one without a baseline", m)
	}
	for range 3 {
		w.advance(api.ShadowRefresh)
		w.decideWith(diffReport(100, 100, 50))
	}
	if len(w.ro.Analysis) != 0 || w.ro.Shadow == nil || w.ro.Shadow.Differing != 50 {
		t.Fatalf("analysis %v, shadow %+v; want no verdict and the figures kept", w.ro.Analysis, w.ro.Shadow)
	}
	w.wantPhase(api.PhaseProgressing)
	if !w.ro.RecheckAt.Equal(w.now.Add(api.ShadowRefresh)) {
		t.Fatalf("recheck at %v, want the next refresh", w.ro.RecheckAt)
	}
}

func TestShadowPauseStopsMirroring(t *testing.T) {
	w := newWorld(t, 4, shadowRollout)
	w.update()
	w.decideWith(nil)
	w.readyAll(2)
	w.decideWith(nil)
	w.ro.Paused, w.ro.Phase = true, api.PhasePaused // `rollout pause`
	w.decideWith(nil)
	w.wantPhase(api.PhasePaused)
	w.wantRunning(2, 1)
	if routes := Routes(w.svc, w.ro); len(routes.Mirrors) != 0 {
		t.Fatalf("routes while paused %+v, want no mirror", routes)
	}
	w.ro.Paused, w.ro.Phase = false, api.PhaseProgressing // `rollout resume`
	w.decideWith(nil)
	if routes := Routes(w.svc, w.ro); len(routes.Mirrors) != 1 {
		t.Fatalf("routes after resuming %+v, want the mirror back", routes)
	}
}

func TestShadowAbortedByAPersonDiscardsTheCandidate(t *testing.T) {
	w := newWorld(t, 4, shadowRollout)
	w.update()
	w.decideWith(nil)
	w.readyAll(2)
	w.decideWith(nil)
	w.ro.Phase, w.ro.Weights = api.PhaseAborted, map[int]int{1: 100} // `rollout abort`
	w.decideWith(nil)
	w.wantRunning(2, 0)
	w.wantRunning(1, 4)
}

func TestShadowAbortedWhileRampingRampsBack(t *testing.T) {
	w := newWorld(t, 4, shadowRollout)
	w.update()
	w.decideWith(nil)
	w.readyAll(2)
	w.decideWith(nil)
	w.ro.Promote = true
	w.decideWith(nil)
	w.readyAll(2)
	w.decideWith(nil)
	if w.running(2) < 2 || w.running(1) == 4 {
		t.Fatalf("ramping: revision 2 runs %d, revision 1 %d; want the ramp under way", w.running(2), w.running(1))
	}
	w.ro.Phase, w.ro.Weights = api.PhaseAborted, map[int]int{1: 100} // `rollout abort`
	for range 20 {
		w.decideWith(nil)
		if ready := w.readyCount(1) + w.readyCount(2); ready < 4 {
			t.Fatalf("%d replicas ready while ramping back, want at least 4 (maxUnavailable 0)", ready)
		}
		if routes := Routes(w.svc, w.ro); len(routes.Mirrors) != 0 {
			t.Fatalf("routes %+v while ramping back, want no mirror", routes)
		}
		w.readyAll(1)
	}
	w.wantRunning(2, 0)
	w.wantRunning(1, 4)
	w.wantWeights(map[int]int{1: 100})
}

func TestAnalyzeShadow(t *testing.T) {
	figures := func(requests, errors uint64, latency time.Duration) []api.TrafficFigures {
		w := &world{}
		w.traffic(2, requests, errors, latency)
		w.traffic(1, 1000, 0, 5*time.Millisecond)
		return w.figures
	}
	cfg := &api.AnalysisConfig{Interval: api.Duration(10 * time.Second), MaxDiffRate: new(api.Percent(1)),
		MaxErrorRate: new(api.Percent(5)), MaxP99Latency: api.Duration(100 * time.Millisecond)}
	for _, tc := range []struct {
		name     string
		figures  []api.TrafficFigures
		report   *api.DiffReport
		verdict  string
		metric   string
		contains string
	}{
		{"no report yet", figures(100, 0, 5*time.Millisecond), nil, api.VerdictInconclusive, "samples", "0 comparisons judged so far"},
		{"too few judged, even differing", figures(100, 0, 5*time.Millisecond), diffReport(60, 40, 40), api.VerdictInconclusive, "samples", "40 comparisons judged so far"},
		{"diff rate over", figures(100, 0, 5*time.Millisecond), diffReport(200, 100, 5), api.VerdictFail, "diffRate", "diff rate 5.0% (5 of 100 judged comparisons differ; 200 compared, 100 noise comparisons); fields: GET / status (5, 5.0%) of revision 2, above maxDiffRate 1%"},
		{"diff rate at the limit", figures(100, 0, 5*time.Millisecond), diffReport(200, 100, 1), api.VerdictPass, "", "diff rate 1.0%"},
		{"errors over", figures(100, 20, 5*time.Millisecond), diffReport(200, 100, 0), api.VerdictFail, "errorRate", "above maxErrorRate 5% (revision 2: 100 requests, 20.0% errors"},
		{"slow", figures(100, 0, 300*time.Millisecond), diffReport(200, 100, 0), api.VerdictFail, "p99Latency", "above maxP99Latency 100ms"},
		{"too few mirrored requests", figures(10, 0, 5*time.Millisecond), diffReport(200, 100, 0), api.VerdictInconclusive, "samples", "served 10 requests"},
		{"good", figures(100, 0, 5*time.Millisecond), diffReport(200, 100, 0), api.VerdictPass, "", "diff rate 0.0% (0 of 100 judged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := AnalyzeShadow(cfg, tc.figures, tc.report, 2, 1, 1, epoch)
			if run.Verdict != tc.verdict || run.Metric != tc.metric || !strings.Contains(run.Message, tc.contains) {
				t.Errorf("run %s/%s: %s\nwant %s/%s containing %q", run.Verdict, run.Metric, run.Message, tc.verdict, tc.metric, tc.contains)
			}
			if run.Shadow == nil || run.Canary.Revision != 2 || run.Stable.Revision != 1 {
				t.Errorf("run figures: shadow %+v, canary %+v, stable %+v", run.Shadow, run.Canary, run.Stable)
			}
		})
	}
}

func TestShadowStatusOfBoundsItsLists(t *testing.T) {
	r := &api.DiffReport{Comparisons: 10, Judged: 10}
	e := api.DiffEndpoint{Endpoint: "GET /"}
	for i := range 2 * api.MaxShadowFields {
		e.Fields = append(e.Fields, api.DiffField{Field: fmt.Sprintf("body.n%02d", i), Noise: true},
			api.DiffField{Field: fmt.Sprintf("body.d%02d", i), Counted: int64(i + 1)})
	}
	r.Endpoints = []api.DiffEndpoint{e}
	s := ShadowStatusOf(r, epoch)
	if len(s.NoiseFields) != api.MaxShadowFields || len(s.DiffFields) != api.MaxShadowFields {
		t.Fatalf("%d noise fields, %d diff fields; want %d of each", len(s.NoiseFields), len(s.DiffFields), api.MaxShadowFields)
	}
	if s.DiffFields[0].Field != "GET / body.d15" || s.DiffFields[0].Counted != 16 {
		t.Errorf("first diff field %+v, want the one counted most", s.DiffFields[0])
	}
}

// With one stable replica there is no second one to learn noise from: the
// mirror carries no baseline, so every comparison is judged at once.
func TestShadowOfOneReplicaHasNoBaseline(t *testing.T) {
	w := newWorld(t, 1, shadowRollout)
	w.update()
	w.decideWith(nil)
	w.readyAll(2)
	w.decideWith(nil)
	if m := Routes(w.svc, w.ro).Mirrors; len(m) != 1 || m[0].Baseline != 0 {
		t.Fatalf("mirrors %+v, want one without a baseline", m)
	}
	if last := w.events[len(w.events)-1]; !strings.Contains(last.Message, "no noise baseline") {
		t.Fatalf("event %q, want it to say there is no baseline", last.Message)
	}
	w.svc.Replicas = 4
	if m := Routes(w.svc, w.ro).Mirrors; m[0].Baseline != 50 {
		t.Fatalf("with 4 replicas: mirrors %+v, want the 50%% baseline", m)
	}
}
