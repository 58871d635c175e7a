package state

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"flotilla/api"
)

func TestUpsertServiceCreatesRevisionOneWithPendingEvaluation(t *testing.T) {
	h := newHarness(t)
	spec := decodeSpec(t, webYAML)

	res := h.upsert(spec)

	if res.Revision != 1 || !res.Created || !res.Changed || res.EvalID == "" {
		t.Fatalf("result = %+v, want revision 1, created, changed, an eval", res)
	}
	snap := h.snap()
	svc := snap.Service(nil, "default", "web")
	if svc == nil {
		t.Fatal("service not stored")
	}
	if svc.Revision != 1 || svc.Replicas != 3 || svc.Strategy != api.RolloutRamped {
		t.Errorf("service = revision %d, %d replicas, strategy %q; want 1, 3, ramped", svc.Revision, svc.Replicas, svc.Strategy)
	}
	if svc.CreateIndex != 1 || svc.ModifyIndex != 1 {
		t.Errorf("service indexes = %d/%d, want the log index 1", svc.CreateIndex, svc.ModifyIndex)
	}
	if !svc.CreateTime.Equal(entryTime(1)) || !svc.ModifyTime.Equal(entryTime(1)) {
		t.Errorf("service times = %v/%v, want the entry's time %v", svc.CreateTime, svc.ModifyTime, entryTime(1))
	}
	if !reflect.DeepEqual(svc.Spec, spec) {
		t.Errorf("stored spec differs from the applied one:\n got %+v\nwant %+v", svc.Spec, spec)
	}

	revs := snap.Revisions(nil, "default", "web")
	if len(revs) != 1 || revs[0].Revision != 1 || revs[0].CreateIndex != 1 {
		t.Fatalf("revisions = %+v, want one record of revision 1 at index 1", revs)
	}
	if revs[0].Spec.Replicas != nil {
		t.Errorf("revision spec keeps replicas %d; the replica count is not part of a revision", *revs[0].Spec.Replicas)
	}
	if snap.Revision("default", "web", 1) == nil {
		t.Error("Revision(default, web, 1) = nil")
	}

	e := snap.Evaluation(nil, res.EvalID)
	if e == nil {
		t.Fatalf("evaluation %s not stored", res.EvalID)
	}
	if e.Status != api.EvalPending || e.TriggeredBy != api.TriggerServiceRegister || e.ServiceKey() != "default/web" {
		t.Errorf("evaluation = %s %s %s, want pending service-register default/web", e.Status, e.TriggeredBy, e.ServiceKey())
	}
	if e.CreateIndex != 1 || e.ModifyIndex != 1 {
		t.Errorf("evaluation indexes = %d/%d, want 1", e.CreateIndex, e.ModifyIndex)
	}
	if len(h.evals) != 1 || h.evals[0].ID != res.EvalID {
		t.Errorf("eval hook heard %v, want the new evaluation", evalTriggers(h.evals))
	}
	if got := eventTypes(h.events()); !reflect.DeepEqual(got, []string{api.EventServiceRegistered}) {
		t.Errorf("events = %v, want [ServiceRegistered]", got)
	}
	for _, table := range []string{tableServices, tableRevisions, tableEvals, tableEvents} {
		if got := snap.Index(table); got != 1 {
			t.Errorf("Index(%s) = %d, want 1", table, got)
		}
	}
}

func TestUpsertServiceIdenticalSpecIsNoOp(t *testing.T) {
	h := newHarness(t)
	first := h.upsert(decodeSpec(t, webYAML))
	before := h.writeSnapshot()

	// Decoded again, as a client applying the same file would send it.
	res := h.upsert(decodeSpec(t, webYAML))

	if res.Revision != first.Revision || res.Created || res.Changed || res.EvalID != "" {
		t.Fatalf("result = %+v, want revision %d, not created, not changed, no eval", res, first.Revision)
	}
	svc := h.snap().Service(nil, "default", "web")
	if svc.ModifyIndex != 1 {
		t.Errorf("ModifyIndex = %d, want 1 (unchanged)", svc.ModifyIndex)
	}
	if n := len(h.snap().Evaluations(nil)); n != 1 {
		t.Errorf("%d evaluations, want 1 (no new one)", n)
	}
	if len(h.evals) != 1 {
		t.Errorf("eval hook heard %d evaluations, want 1", len(h.evals))
	}
	if after := h.writeSnapshot(); string(after) != string(before) {
		t.Errorf("a no-op upsert changed the state:\nbefore %s\nafter  %s", before, after)
	}
}

func TestUpsertServiceReplicasOnlyChangeScalesWithoutNewRevision(t *testing.T) {
	h := newHarness(t)
	h.upsert(decodeSpec(t, webYAML))

	res := h.upsert(decodeSpec(t, strings.Replace(webYAML, "replicas: 3", "replicas: 5", 1)))

	if res.Revision != 1 || res.Created || !res.Changed || res.EvalID == "" {
		t.Fatalf("result = %+v, want revision 1, changed, an eval", res)
	}
	snap := h.snap()
	svc := snap.Service(nil, "default", "web")
	if svc.Revision != 1 || svc.Replicas != 5 || svc.Spec.ReplicaCount() != 5 {
		t.Errorf("service = revision %d, replicas %d (spec %d); want revision 1 and 5 replicas", svc.Revision, svc.Replicas, svc.Spec.ReplicaCount())
	}
	if svc.CreateIndex != 1 || svc.ModifyIndex != 2 {
		t.Errorf("indexes = %d/%d, want 1/2", svc.CreateIndex, svc.ModifyIndex)
	}
	if n := len(snap.Revisions(nil, "default", "web")); n != 1 {
		t.Errorf("%d revisions, want 1", n)
	}
	e := snap.Evaluation(nil, res.EvalID)
	if e == nil || e.TriggeredBy != api.TriggerScale || e.Status != api.EvalPending {
		t.Fatalf("evaluation = %+v, want a pending scale evaluation", e)
	}
	if got := eventTypes(h.eventsSince(1)); !reflect.DeepEqual(got, []string{api.EventServiceScaled}) {
		t.Errorf("events = %v, want [ServiceScaled]", got)
	}
}

func TestUpsertServiceTemplateChangeMakesNewRevision(t *testing.T) {
	for _, tc := range []struct {
		name         string
		from, to     string
		wantReplicas int
	}{
		{"args", `args: ["--version", "v1"]`, `args: ["--version", "v2"]`, 3},
		{"image", "image: demo", "image: demo2", 3},
		{"resources", "cpu: 250m", "cpu: 500m", 3},
		{"env added", "replicas: 3", "replicas: 3\nenv: {COLOR: blue}", 3},
		{"template and replicas", `args: ["--version", "v1"]`, "replicas: 4\nargs: [\"--version\", \"v2\"]", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.upsert(decodeSpec(t, webYAML))
			changed := strings.Replace(webYAML, tc.from, tc.to, 1)
			if tc.name == "template and replicas" {
				changed = strings.Replace(changed, "replicas: 3\n", "", 1)
			}

			res := h.upsert(decodeSpec(t, changed))

			if res.Revision != 2 || res.Created || !res.Changed || res.EvalID == "" {
				t.Fatalf("result = %+v, want revision 2, changed, an eval", res)
			}
			snap := h.snap()
			svc := snap.Service(nil, "default", "web")
			if svc.Revision != 2 || svc.Replicas != tc.wantReplicas || svc.ModifyIndex != 2 || svc.CreateIndex != 1 {
				t.Errorf("service = revision %d, %d replicas, indexes %d/%d; want 2, %d, 1/2",
					svc.Revision, svc.Replicas, svc.CreateIndex, svc.ModifyIndex, tc.wantReplicas)
			}
			revs := snap.Revisions(nil, "default", "web")
			if len(revs) != 2 || revs[0].Revision != 1 || revs[1].Revision != 2 || revs[1].CreateIndex != 2 {
				t.Fatalf("revisions = %+v, want 1 and 2 (oldest first)", revs)
			}
			if reflect.DeepEqual(revs[0].Spec, revs[1].Spec) {
				t.Error("revision 2 stores the same template as revision 1")
			}
			e := snap.Evaluation(nil, res.EvalID)
			if e == nil || e.TriggeredBy != api.TriggerServiceUpdate {
				t.Fatalf("evaluation = %+v, want service-update", e)
			}
			if n := len(snap.Evaluations(nil)); n != 2 {
				t.Errorf("%d evaluations, want 2 (one per change)", n)
			}
			if got := eventTypes(h.eventsSince(1)); !reflect.DeepEqual(got, []string{api.EventServiceUpdated, api.EventRolloutStarted}) {
				t.Errorf("events = %v, want [ServiceUpdated RolloutStarted]", got)
			}
			r := snap.Rollout(nil, "default", "web")
			if r == nil || r.Revision != 2 || r.StableRevision != 1 || r.Phase != api.PhaseProgressing || r.Strategy != api.RolloutRamped {
				t.Errorf("rollout = %+v, want ramped revision 2 over 1, progressing", r)
			}
		})
	}
}

func TestUpsertServiceKeepsRevisionHistoryNewestRevisions(t *testing.T) {
	h := newHarness(t)
	for _, v := range []string{"v1", "v2", "v3", "v4", "v5", "v6"} {
		h.upsert(decodeSpec(t, strings.Replace(webYAML, `"v1"`, `"`+v+`"`, 1)))
	}

	snap := h.snap()
	var got []int
	for _, r := range snap.Revisions(nil, "default", "web") {
		got = append(got, r.Revision)
	}
	if want := []int{4, 5, 6}; !reflect.DeepEqual(got, want) {
		t.Fatalf("revisions = %v, want %v (revisionHistory 3)", got, want)
	}
	if r := snap.Revision("default", "web", 3); r != nil {
		t.Errorf("pruned revision 3 still readable: %+v", r)
	}
	if svc := snap.Service(nil, "default", "web"); svc.Revision != 6 {
		t.Errorf("service revision = %d, want 6", svc.Revision)
	}
}

func TestUpsertServiceRevisionHistoryOfOneKeepsOnlyCurrent(t *testing.T) {
	h := newHarness(t)
	one := strings.Replace(webYAML, "revisionHistory: 3", "revisionHistory: 1", 1)
	h.upsert(decodeSpec(t, one))
	h.upsert(decodeSpec(t, strings.Replace(one, `"v1"`, `"v2"`, 1)))

	revs := h.snap().Revisions(nil, "default", "web")
	if len(revs) != 1 || revs[0].Revision != 2 {
		t.Fatalf("revisions = %+v, want only revision 2", revs)
	}
}

func TestDeleteServiceUnknownIsErrNotFound(t *testing.T) {
	h := newHarness(t)
	err := h.fails(CmdDeleteService, &DeleteService{Namespace: "default", Name: "web", Time: h.next()})
	if !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("error = %v, want api.ErrNotFound", err)
	}
	if idx := h.snap().LatestIndex(); idx != 0 {
		t.Errorf("a failed delete wrote to the store (latest index %d)", idx)
	}
}

func TestDeleteServiceRemovesItsRevisionsAndMakesDeleteEvaluation(t *testing.T) {
	h := newHarness(t)
	h.upsert(decodeSpec(t, webYAML))
	h.upsert(decodeSpec(t, strings.Replace(webYAML, `"v1"`, `"v2"`, 1)))
	// web2 shares web's name as a prefix: its revisions must survive.
	h.upsert(decodeSpec(t, serviceYAML("web2")))

	before := h.lastEventID()
	res := h.ok(CmdDeleteService, &DeleteService{Namespace: "default", Name: "web", Time: h.next()}).(*UpsertServiceResult)

	if !res.Changed || res.Revision != 2 || res.EvalID == "" {
		t.Fatalf("result = %+v, want changed at revision 2 with an eval", res)
	}
	snap := h.snap()
	if svc := snap.Service(nil, "default", "web"); svc != nil {
		t.Errorf("service still stored: %+v", svc)
	}
	if revs := snap.Revisions(nil, "default", "web"); len(revs) != 0 {
		t.Errorf("%d revisions left, want none", len(revs))
	}
	if revs := snap.Revisions(nil, "default", "web2"); len(revs) != 1 {
		t.Errorf("web2 has %d revisions, want 1 (untouched)", len(revs))
	}
	if snap.Service(nil, "default", "web2") == nil {
		t.Error("web2 was deleted too")
	}
	e := snap.Evaluation(nil, res.EvalID)
	if e == nil || e.TriggeredBy != api.TriggerServiceDelete || e.Status != api.EvalPending || e.ServiceKey() != "default/web" {
		t.Fatalf("evaluation = %+v, want pending service-delete of default/web", e)
	}
	if evs := h.eventsSince(before); len(evs) != 1 || evs[0].Type != api.EventServiceDeleted {
		t.Errorf("events = %v, want [ServiceDeleted]", eventTypes(evs))
	}
	if got := snap.Index(tableRevisions); got != h.index {
		t.Errorf("Index(revisions) = %d, want %d", got, h.index)
	}

	// Deleting again finds nothing.
	if err := h.fails(CmdDeleteService, &DeleteService{Namespace: "default", Name: "web", Time: h.next()}); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
}

func TestScaleService(t *testing.T) {
	h := newHarness(t)
	if err := h.fails(CmdScaleService, &ScaleService{Namespace: "default", Name: "web", Replicas: 2, Time: h.next()}); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("scale of a missing service: %v, want ErrNotFound", err)
	}
	h.upsert(decodeSpec(t, webYAML))
	created := h.index

	t.Run("equal count is a no-op", func(t *testing.T) {
		res := h.ok(CmdScaleService, &ScaleService{Namespace: "default", Name: "web", Replicas: 3, Time: h.next()}).(*UpsertServiceResult)
		if res.Changed || res.EvalID != "" || res.Revision != 1 {
			t.Fatalf("result = %+v, want unchanged at revision 1", res)
		}
		if svc := h.snap().Service(nil, "default", "web"); svc.ModifyIndex != created {
			t.Errorf("ModifyIndex = %d, want %d", svc.ModifyIndex, created)
		}
		if n := len(h.snap().Evaluations(nil)); n != 1 {
			t.Errorf("%d evaluations, want 1", n)
		}
	})

	t.Run("new count changes replicas in place", func(t *testing.T) {
		res := h.ok(CmdScaleService, &ScaleService{Namespace: "default", Name: "web", Replicas: 7, Time: h.next()}).(*UpsertServiceResult)
		if !res.Changed || res.EvalID == "" || res.Revision != 1 {
			t.Fatalf("result = %+v, want changed at revision 1 with an eval", res)
		}
		snap := h.snap()
		svc := snap.Service(nil, "default", "web")
		if svc.Replicas != 7 || svc.Spec.ReplicaCount() != 7 || svc.Revision != 1 || svc.ModifyIndex != h.index {
			t.Errorf("service = %d replicas (spec %d), revision %d, ModifyIndex %d; want 7, 7, 1, %d",
				svc.Replicas, svc.Spec.ReplicaCount(), svc.Revision, svc.ModifyIndex, h.index)
		}
		if n := len(snap.Revisions(nil, "default", "web")); n != 1 {
			t.Errorf("%d revisions, want 1", n)
		}
		if e := snap.Evaluation(nil, res.EvalID); e == nil || e.TriggeredBy != api.TriggerScale {
			t.Errorf("evaluation = %+v, want a scale evaluation", e)
		}
		if evs := h.eventsSince(1); len(evs) != 1 || evs[0].Type != api.EventServiceScaled {
			t.Errorf("events = %v, want [ServiceScaled]", eventTypes(evs))
		}
	})

	t.Run("a count that moved since the change was computed stands", func(t *testing.T) {
		before := h.index
		res := h.ok(CmdScaleService, &ScaleService{Namespace: "default", Name: "web", Replicas: 0, From: new(1),
			Reason: "no request for 31s (idle window 30s): scaled to zero", Time: h.next()}).(*UpsertServiceResult)
		if res.Changed || res.EvalID != "" {
			t.Fatalf("result = %+v, want unchanged", res)
		}
		if svc := h.snap().Service(nil, "default", "web"); svc.Replicas != 7 || svc.ModifyIndex > before {
			t.Fatalf("service = %d replicas, ModifyIndex %d; want 7, unchanged since %d", svc.Replicas, svc.ModifyIndex, before)
		}
		res = h.ok(CmdScaleService, &ScaleService{Namespace: "default", Name: "web", Replicas: 8, From: new(7),
			Reason: "inflight 40.0 per replica over 60s, target 5", Time: h.next()}).(*UpsertServiceResult)
		if !res.Changed || h.snap().Service(nil, "default", "web").Replicas != 8 {
			t.Fatalf("result = %+v, want a change to 8 from the count it was computed from", res)
		}
	})

	t.Run("applying the original spec scales back", func(t *testing.T) {
		res := h.upsert(decodeSpec(t, webYAML))
		if !res.Changed || res.Revision != 1 {
			t.Fatalf("result = %+v, want a scale back at revision 1", res)
		}
		if e := h.eval(res.EvalID); e.TriggeredBy != api.TriggerScale {
			t.Errorf("trigger = %s, want scale", e.TriggeredBy)
		}
	})
}

// The autoscaler owns an autoscaled service's count: its changes carry
// their reason into the event and the service, and a re-apply of the spec
// keeps the count (within the new limits).
func TestAutoscaledCountSurvivesReapply(t *testing.T) {
	h := newHarness(t)
	doc := serviceYAML("web") + "autoscale: {min: 2, max: 10, metric: inflight, target: 5}\n"
	doc = strings.Replace(doc, "replicas: 2\n", "", 1)
	h.upsert(decodeSpec(t, doc))
	if got := h.snap().Service(nil, "default", "web").Replicas; got != 2 {
		t.Fatalf("replicas %d, want min 2", got)
	}
	before := h.lastEventID()
	h.ok(CmdScaleService, &ScaleService{Namespace: "default", Name: "web", Replicas: 7, Reason: "inflight 41.0 per replica over 6s, target 5 (panic)", Time: h.next()})
	svc := h.snap().Service(nil, "default", "web")
	if svc.Replicas != 7 || svc.Autoscaled == nil || svc.Autoscaled.From != 2 || svc.Autoscaled.To != 7 || !strings.Contains(svc.Autoscaled.Reason, "(panic)") {
		t.Fatalf("after autoscaling: replicas %d autoscaled %+v", svc.Replicas, svc.Autoscaled)
	}
	if evs := h.eventsSince(before); len(evs) != 1 || !strings.Contains(evs[0].Message, "autoscaled default/web 2 → 7: inflight 41.0") {
		t.Fatalf("events %v", evs)
	}
	res := h.upsert(decodeSpec(t, doc))
	if res.Changed || h.snap().Service(nil, "default", "web").Replicas != 7 {
		t.Fatalf("re-apply: %+v, replicas %d; want unchanged at 7", res, h.snap().Service(nil, "default", "web").Replicas)
	}
	// New limits below the count: clamped.
	h.upsert(decodeSpec(t, strings.Replace(doc, "max: 10", "max: 5", 1)))
	svc = h.snap().Service(nil, "default", "web")
	if svc.Replicas != 5 || svc.Spec.Autoscale.Max != 5 {
		t.Fatalf("after max 5: %d replicas, max %d; want 5 and 5", svc.Replicas, svc.Spec.Autoscale.Max)
	}
	// New limits are settings, not a new revision: no replica is replaced.
	if svc.Revision != 1 {
		t.Fatalf("revision %d after changing the autoscale limits, want 1", svc.Revision)
	}
}

// revisionHistory 1 keeps no revision but the current one once the
// rollout to it completed: the one it replaced ran until then, and goes
// with the plan that completes it.
func TestRevisionHistoryOfOneDropsTheOldRevisionWhenTheRolloutCompletes(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	one := strings.Replace(webYAML, "revisionHistory: 3", "revisionHistory: 1", 1)
	h.upsert(decodeSpec(t, one))
	h.place("web", "e1", "web-1@n1")
	h.upsert(decodeSpec(t, strings.Replace(one, `"v1"`, `"v2"`, 1)))
	if revs := h.snap().Revisions(nil, "default", "web"); len(revs) != 2 {
		t.Fatalf("revisions while revision 1 runs: %d, want 2", len(revs))
	}
	cur := h.snap().Rollout(nil, "default", "web")
	done := *cur
	done.Phase, done.Weights = api.PhaseCompleted, map[int]int{2: 100}
	h.plans(&Plan{EvalID: "e2", Namespace: "default", Service: "web", Revision: 2, Resources: webResources,
		Rollout: &done, RolloutIndex: cur.ModifyIndex,
		Stop:  []Stop{{ID: "web-1", Reason: "rollout completed"}},
		Place: []Placement{{ID: "web-2", Node: "n1"}}})
	revs := h.snap().Revisions(nil, "default", "web")
	if len(revs) != 1 || revs[0].Revision != 2 {
		t.Fatalf("revisions after the rollout completed: %+v, want only revision 2", revs)
	}
}

// Changing only how revisions roll out (strategy, steps, surge) makes no
// revision and starts no rollout, as changing a Kubernetes Deployment's
// strategy restarts no pod; it is refused while a rollout runs, whose
// settings the controller reads at each step. With what runs changed too,
// it is a new revision rolled out with the new settings.
func TestChangingOnlyTheRolloutSettingsMakesNoRevision(t *testing.T) {
	h := newHarness(t)
	h.upsertIn(canaryYAML)
	events := h.lastEventID()
	ramped := strings.Replace(canaryYAML, "rollout: {strategy: canary, canary: {steps: [{weight: 25, pause: manual}, {weight: 100}]}}",
		"rollout: {strategy: ramped, ramped: {maxSurge: 2}}", 1)
	res := h.upsertIn(ramped)
	svc := h.snap().Service(nil, "default", "web")
	if res.Revision != 1 || !res.Changed || svc.Revision != 1 || svc.Strategy != api.RolloutRamped || svc.Spec.Rollout.Ramped == nil {
		t.Fatalf("after a rollout-only change: result %+v, service at revision %d with strategy %s, want revision 1, ramped", res, svc.Revision, svc.Strategy)
	}
	if revs := h.snap().Revisions(nil, "default", "web"); len(revs) != 1 {
		t.Fatalf("%d revisions, want 1", len(revs))
	}
	evs := h.eventsSince(events)
	if len(evs) != 1 || evs[0].Type != api.EventServiceUpdated || !strings.Contains(evs[0].Message, "rollout settings changed (no new revision") {
		t.Fatalf("events %v, want one ServiceUpdated saying no new revision", eventTypes(evs))
	}
	if r := h.snap().Rollout(nil, "default", "web"); r.Phase != api.PhaseCompleted || r.Revision != 1 {
		t.Fatalf("rollout %+v, want revision 1's, completed", r)
	}

	// A new image rolls out with the new settings; during that rollout,
	// another rollout-only change is refused and changes nothing.
	h.upsertIn(strings.Replace(ramped, `"v1"`, `"v2"`, 1))
	if r := h.snap().Rollout(nil, "default", "web"); r.Revision != 2 || r.Strategy != api.RolloutRamped || !r.Active() {
		t.Fatalf("rollout %+v, want revision 2 ramped, in progress", r)
	}
	before := h.snap().Service(nil, "default", "web")
	err := h.fails(CmdUpsertService, &UpsertService{Spec: decodeSpec(t, strings.Replace(strings.Replace(ramped, `"v1"`, `"v2"`, 1), "maxSurge: 2", "maxSurge: 1", 1)), Time: h.next()})
	var fe *api.FieldError
	if !errors.As(err, &fe) || fe.Field != "spec.rollout" || !strings.Contains(fe.Message, "the rollout of revision 2 is progressing") {
		t.Fatalf("rollout-only change during a rollout: %v, want a field error on spec.rollout saying why", err)
	}
	if after := h.snap().Service(nil, "default", "web"); after.ModifyIndex != before.ModifyIndex {
		t.Fatal("a refused change changed the service")
	}
}

// A rollout-only change rewrites how the current revision rolls out (what
// rollout history compares) and applies a smaller revisionHistory at
// once; it is refused too while an ended rollout's replicas still run (a
// ramped rollout left where it failed, or going back in waves).
func TestARolloutOnlyChangeUpdatesTheCurrentRevision(t *testing.T) {
	h := newHarness(t)
	for _, v := range []string{"v1", "v2", "v3"} {
		h.upsertIn(strings.Replace(canaryYAML, `"v1"`, `"`+v+`"`, 1))
	}
	h.plans(&Plan{EvalID: "e", Namespace: api.DefaultNamespace, Service: "web", Revision: 3, Resources: webResources,
		Place: []Placement{{ID: "a3", Node: "n1"}}})
	h.ok(CmdRolloutAction, &RolloutAction{Namespace: "default", Name: "web", Action: api.ActionAbort, Time: h.next()})
	v3 := strings.Replace(canaryYAML, `"v1"`, `"v3"`, 1)
	changed := strings.Replace(v3, "rollout: {", "rollout: {revisionHistory: 1, ", 1)
	err := h.fails(CmdUpsertService, &UpsertService{Spec: decodeSpec(t, changed), Time: h.next()})
	var fe *api.FieldError
	if !errors.As(err, &fe) || fe.Field != "spec.rollout" || !strings.Contains(fe.Message, "aborted with its replicas still running") {
		t.Fatalf("rollout-only change while the aborted revision's replicas run: %v, want refused saying so", err)
	}
	h.stop("web", Stop{ID: "a3", Reason: "aborted"})
	h.upsertIn(changed)
	revs := h.snap().Revisions(nil, "default", "web")
	if len(revs) != 1 || revs[0].Revision != 3 || revs[0].Spec.Rollout.RevisionHistoryOrDefault() != 1 {
		t.Fatalf("revisions after revisionHistory: 1 = %d (%+v), want revision 3 alone, with the new settings", len(revs), revs)
	}
}
