package state

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"flotilla/api"
)

const canaryYAML = `kind: Service
name: web
image: demo
replicas: 4
args: ["--version", "v1"]
resources: {cpu: 250m, memory: 64Mi}
rollout: {strategy: canary, canary: {steps: [{weight: 25, pause: manual}, {weight: 100}]}}
`

// startCanary makes revision 2 of a canary service and returns its rollout.
func startCanary(h *harness) *api.Rollout {
	h.t.Helper()
	h.upsertIn(canaryYAML)
	h.upsertIn(strings.Replace(canaryYAML, `"v1"`, `"v2"`, 1))
	r := h.snap().Rollout(nil, "default", "web")
	if r == nil || r.Phase != api.PhaseProgressing || r.Revision != 2 || r.StableRevision != 1 {
		h.t.Fatalf("rollout after the update = %+v, want canary 2 over 1, progressing", r)
	}
	return r
}

func TestRolloutStartsWithTheServiceAndGetsAPreviewVIP(t *testing.T) {
	h := newHarness(t)
	h.upsertIn(canaryYAML)
	first := h.snap().Rollout(nil, "default", "web")
	if first == nil || first.Phase != api.PhaseCompleted || first.PreviewVIP != "" {
		t.Fatalf("first rollout = %+v, want completed with no preview", first)
	}
	r := startCanary(h)
	svc := h.snap().Service(nil, "default", "web")
	if r.PreviewVIP == "" || r.PreviewVIP == svc.VIP {
		t.Fatalf("preview VIP %q (service VIP %q), want one of its own", r.PreviewVIP, svc.VIP)
	}
	// Another service does not get the preview's address.
	h.upsertIn(serviceYAML("api"))
	if api := h.snap().Service(nil, "default", "api"); api.VIP == r.PreviewVIP {
		t.Fatalf("service api got the preview VIP %s", api.VIP)
	}
}

func TestRolloutActions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		action  string
		full    bool
		check   func(t *testing.T, r *api.Rollout)
		event   string
		wantErr error
		field   string
	}{
		{name: "pause", action: api.ActionPause, event: api.EventRolloutPaused, check: func(t *testing.T, r *api.Rollout) {
			if !r.Paused || r.Phase != api.PhasePaused {
				t.Errorf("after pause: paused=%v phase=%s", r.Paused, r.Phase)
			}
		}},
		{name: "promote", action: api.ActionPromote, event: api.EventRolloutPromoted, check: func(t *testing.T, r *api.Rollout) {
			if !r.Promote || r.PromoteFull {
				t.Errorf("after promote: promote=%v full=%v", r.Promote, r.PromoteFull)
			}
		}},
		{name: "promote full", action: api.ActionPromote, full: true, event: api.EventRolloutPromoted, check: func(t *testing.T, r *api.Rollout) {
			if !r.Promote || !r.PromoteFull {
				t.Errorf("after promote --full: promote=%v full=%v", r.Promote, r.PromoteFull)
			}
		}},
		{name: "abort moves traffic back in this write", action: api.ActionAbort, event: api.EventRolloutAborted, check: func(t *testing.T, r *api.Rollout) {
			if r.Phase != api.PhaseAborted || len(r.Weights) != 1 || r.Weights[1] != 100 || r.EndTime.IsZero() {
				t.Errorf("after abort: %+v", r)
			}
		}},
		{name: "unknown action", action: "explode", field: "action"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			before := startCanary(h)
			events := h.lastEventID()
			res := h.apply(CmdRolloutAction, &RolloutAction{Namespace: "default", Name: "web", Action: tc.action, Full: tc.full, Time: h.next()})
			if tc.field != "" {
				var fe *api.FieldError
				if err, _ := res.(error); !errors.As(err, &fe) || fe.Field != tc.field {
					t.Fatalf("result %v, want a field error on %s", res, tc.field)
				}
				if r := h.snap().Rollout(nil, "default", "web"); r.ModifyIndex != before.ModifyIndex {
					t.Fatal("a refused action changed the rollout")
				}
				return
			}
			r := h.snap().Rollout(nil, "default", "web")
			tc.check(t, r)
			evs := h.eventsSince(events)
			if len(evs) != 1 || evs[0].Type != tc.event || !strings.Contains(evs[0].Message, "by hand") {
				t.Errorf("events = %v, want one %s saying who", eventTypes(evs), tc.event)
			}
			if out, ok := res.(*UpsertServiceResult); !ok || out.EvalID == "" {
				t.Errorf("result %v, want an evaluation", res)
			}
		})
	}
}

func TestRolloutActionsRefused(t *testing.T) {
	h := newHarness(t)
	h.upsertIn(canaryYAML)
	// Nothing rolls out: every action is a conflict.
	for _, a := range []string{api.ActionPromote, api.ActionPause, api.ActionResume, api.ActionAbort} {
		err, _ := h.apply(CmdRolloutAction, &RolloutAction{Namespace: "default", Name: "web", Action: a, Time: h.next()}).(error)
		if !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "no rollout in progress") {
			t.Errorf("%s without a rollout: %v, want a conflict", a, err)
		}
	}
	err, _ := h.apply(CmdRolloutAction, &RolloutAction{Namespace: "default", Name: "nope", Action: api.ActionAbort, Time: h.next()}).(error)
	if !errors.Is(err, api.ErrNotFound) {
		t.Errorf("abort of a missing service: %v, want not found", err)
	}
	// Asked twice, pause and promote are refused, and so is resuming a
	// rollout that is not paused: each says why (kubectl's rollout pause
	// and resume do the same).
	h.upsertIn(strings.Replace(canaryYAML, `"v1"`, `"v2"`, 1))
	for _, c := range []struct{ action, want string }{
		{api.ActionResume, "is not paused"},
		{api.ActionPause, ""},
		{api.ActionPause, "is paused already"},
		{api.ActionPromote, ""},
		{api.ActionPromote, "is asked already"},
	} {
		err, _ := h.apply(CmdRolloutAction, &RolloutAction{Namespace: "default", Name: "web", Action: c.action, Time: h.next()}).(error)
		if c.want == "" && err != nil || c.want != "" && (!errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.action, err, c.want)
		}
	}
	// A ramped rollout has nothing to promote.
	h.upsertIn(serviceYAML("ramp"))
	h.upsertIn(serviceYAML("ramp") + "args: [--version, v2]\n")
	err, _ = h.apply(CmdRolloutAction, &RolloutAction{Namespace: "default", Name: "ramp", Action: api.ActionPromote, Time: h.next()}).(error)
	if !errors.Is(err, api.ErrConflict) {
		t.Errorf("promote of a ramped rollout: %v, want a conflict", err)
	}
}

// A plan computed from a rollout state a person changed since (an abort
// while the worker computed a promotion) is dropped whole, and the service
// evaluated again.
func TestPlanFromAStaleRolloutIsDropped(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	seen := startCanary(h)
	h.ok(CmdRolloutAction, &RolloutAction{Namespace: "default", Name: "web", Action: api.ActionAbort, Time: h.next()})
	stale := *seen
	stale.Phase, stale.Weights = api.PhaseCompleted, map[int]int{2: 100}
	plan := placePlan("web", "e-stale", "w1@n1")
	plan.Revision, plan.Rollout, plan.RolloutIndex = 2, &stale, seen.ModifyIndex
	plan.Eval = &EvalOutcome{Status: api.EvalComplete, Placed: 1}
	evalsBefore := len(h.snap().Evaluations(nil))
	h.plans(plan)
	snap := h.snap()
	if r := snap.Rollout(nil, "default", "web"); r.Phase != api.PhaseAborted {
		t.Fatalf("rollout phase %s after a stale plan, want the abort kept", r.Phase)
	}
	if a := snap.Allocation(nil, "w1"); a != nil {
		t.Fatalf("the stale plan's placement was applied: %+v", a)
	}
	if n := len(snap.Evaluations(nil)); n != evalsBefore+1 {
		t.Fatalf("%d evaluations, want one more to look at the service again", n)
	}

	// A plan that leaves the rollout alone but was computed from its old
	// state (one more wave, a replacement) is dropped too, and what it
	// superseded is canceled.
	h.ok(CmdEvaluate, &Evaluate{Namespace: "default", Name: "web", Trigger: api.TriggerRollout, Time: h.next()})
	var superseded string
	for _, e := range h.snap().Evaluations(nil) {
		if e.Status == api.EvalPending {
			superseded = e.ID
		}
	}
	quiet := placePlan("web", "e-quiet", "w2@n1")
	quiet.Revision, quiet.RolloutIndex, quiet.Canceled = 2, seen.ModifyIndex, []string{superseded}
	quiet.Eval = &EvalOutcome{Status: api.EvalComplete, Placed: 1}
	h.plans(quiet)
	snap = h.snap()
	if a := snap.Allocation(nil, "w2"); a != nil {
		t.Fatalf("a plan from the old rollout state placed %+v", a)
	}
	if e := snap.Evaluation(nil, superseded); e == nil || e.Status != api.EvalCanceled {
		t.Fatalf("superseded evaluation %+v, want canceled", e)
	}
}

// A promote retried with the same request ID (a client that timed out and
// tried another server) is applied once: it never advances two steps.
func TestRetriedRolloutActionIsAppliedOnce(t *testing.T) {
	h := newHarness(t)
	startCanary(h)
	before := h.lastEventID()
	h.ok(CmdRolloutAction, &RolloutAction{Namespace: "default", Name: "web", Action: api.ActionPromote, RequestID: "req-1", Time: h.next()})
	first := h.snap().Rollout(nil, "default", "web")
	h.ok(CmdRolloutAction, &RolloutAction{Namespace: "default", Name: "web", Action: api.ActionPromote, RequestID: "req-1", Time: h.next()})
	if r := h.snap().Rollout(nil, "default", "web"); r.ModifyIndex != first.ModifyIndex {
		t.Fatalf("the retry changed the rollout again (index %d → %d)", first.ModifyIndex, r.ModifyIndex)
	}
	if evs := h.eventsSince(before); len(evs) != 1 {
		t.Fatalf("events %v, want one promotion", eventTypes(evs))
	}
}

const rampedYAML = `kind: Service
name: web
image: demo
replicas: 2
args: ["--version", "v1"]
resources: {cpu: 250m, memory: 64Mi}
rollout: {strategy: ramped}
`

// An aborted ramped rollout ramps back in waves that follow the replicas'
// readiness: a replica turning ready is looked at, as while the rollout
// ran, and is no longer once the stable revision serves alone.
func TestAReplicaTurningReadyWhileARolloutRampsBackIsEvaluated(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.upsertIn(rampedYAML)
	h.upsertIn(strings.Replace(rampedYAML, `"v1"`, `"v2"`, 1))
	h.ok(CmdRolloutAction, &RolloutAction{Namespace: "default", Name: "web", Action: api.ActionAbort, Time: h.next()})
	store := func(evalID string, weights map[int]int, placements ...string) {
		seen := h.snap().Rollout(nil, "default", "web")
		r := *seen
		r.Weights = weights
		plan := placePlan("web", evalID, placements...)
		plan.Rollout, plan.RolloutIndex = &r, seen.ModifyIndex
		plan.Eval = &EvalOutcome{Status: api.EvalComplete, Placed: len(placements)}
		h.plans(plan)
	}
	store("e-back", map[int]int{1: 50, 2: 50}, "w1@n1") // half-way back
	if r := h.snap().Rollout(nil, "default", "web"); r.Phase != api.PhaseAborted || !r.Ramping() {
		t.Fatalf("rollout %+v, want aborted and ramping back", r)
	}
	before := h.index
	h.report("n1", running("w1"))
	if got := evalTriggers(h.evalsCreatedAfter(before)); !slices.Contains(got, "alloc-health default/web") {
		t.Fatalf("evaluations after a replica turned ready: %v, want alloc-health default/web", got)
	}

	store("e-done", map[int]int{1: 100}, "w2@n1") // back: revision 1 alone
	before = h.index
	h.report("n1", running("w2"))
	if got := h.evalsCreatedAfter(before); len(got) != 0 {
		t.Fatalf("evaluations once the rollback was done: %v, want none", evalTriggers(got))
	}
}

// An aborted or failed rollout can be retried: the same revision rolls
// out again over the same stable revision, from its first step, as a new
// rollout (new figures); anything else is refused with why.
func TestAnAbortedRolloutCanBeRetried(t *testing.T) {
	h := newHarness(t)
	h.upsertIn(canaryYAML)
	err, _ := h.apply(CmdRolloutAction, &RolloutAction{Namespace: "default", Name: "web", Action: api.ActionRetry, Time: h.next()}).(error)
	if !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "the rollout of revision 1 is completed") {
		t.Fatalf("retry of a completed rollout: %v, want a conflict saying so", err)
	}
	first := startCanary(h)
	err, _ = h.apply(CmdRolloutAction, &RolloutAction{Namespace: "default", Name: "web", Action: api.ActionRetry, Time: h.next()}).(error)
	if !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "is progressing") {
		t.Fatalf("retry of a rollout in progress: %v, want a conflict saying so", err)
	}
	h.ok(CmdRolloutAction, &RolloutAction{Namespace: "default", Name: "web", Action: api.ActionAbort, Time: h.next()})
	events := h.lastEventID()
	res := h.ok(CmdRolloutAction, &RolloutAction{Namespace: "default", Name: "web", Action: api.ActionRetry, VIPPool: "127.64.0.0/16", Time: h.next()})
	r := h.snap().Rollout(nil, "default", "web")
	if r.Phase != api.PhaseProgressing || r.Revision != 2 || r.StableRevision != 1 || r.Step != 0 || r.StartIndex != h.index || r.StartIndex == first.StartIndex {
		t.Fatalf("after retry: %+v, want revision 2 over 1 progressing from the start, a rollout of its own", r)
	}
	if r.Weights[1] != 100 || !r.EndTime.IsZero() || r.PreviewVIP == "" {
		t.Errorf("after retry: weights %v, end %v, preview %q: want all on 1 until the first step, running, a preview name", r.Weights, r.EndTime, r.PreviewVIP)
	}
	evs := h.eventsSince(events)
	if len(evs) != 1 || evs[0].Type != api.EventRolloutStarted || !strings.Contains(evs[0].Message, "retried by hand") {
		t.Errorf("events %v, want RolloutStarted saying it was retried", eventTypes(evs))
	}
	if out, ok := res.(*UpsertServiceResult); !ok || out.EvalID == "" {
		t.Errorf("result %v, want an evaluation", res)
	}
}
