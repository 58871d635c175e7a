package scenario

import (
	"context"
	"errors"
	"slices"
	"testing"

	"flotilla/api"
)

func newSharedRunner(f *fakeCluster, rec *recorder) *Runner {
	r := newRunner(f, rec)
	r.Shared, r.Where = true, "cluster at a fake"
	return r
}

// theirs is a service the cluster had before the run (revision 2).
func theirs(f *fakeCluster, name string) {
	f.services["default/"+name] = &api.Service{Name: name, Namespace: "default", Revision: 2, Replicas: 2, CreateIndex: 1000, ModifyIndex: 1001}
}

// TestASharedRunRefusesAServiceItWouldApplyThatExists is the audit's
// case: on a cluster the run did not start (--address), a web that is
// there already is neither updated nor deleted; the run is refused before
// any step, naming the step and the service, and changes nothing, not even
// an earlier step's new service.
func TestASharedRunRefusesAServiceItWouldApplyThatExists(t *testing.T) {
	for _, c := range []struct {
		name, steps, want string
	}{
		{"first step", webSpec + "  - expect: {allocations: {service: web, running: 0}}\n",
			"step 1 (steps[0], apply): service default/web already exists on this cluster: a scenario only runs on services it creates (delete it, or run the scenario in its own lab)"},
		{"a later step", "  - say: hi\n  - apply:\n      spec: {kind: Service, name: api, image: flotilla.local/demo:v1}\n" + webSpec,
			"step 3 (steps[2], apply): service default/web already exists on this cluster: a scenario only runs on services it creates (delete it, or run the scenario in its own lab)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeCluster()
			theirs(f, "web")
			sc := mustParse(t, "title: t\nteaches: t\nsteps:\n"+c.steps)
			rec := &recorder{}
			err := newSharedRunner(f, rec).Run(context.Background(), sc)
			if err == nil || err.Error() != c.want {
				t.Fatalf("error:\n %v\nwant\n %s", err, c.want)
			}
			var serr *StepError
			if !errors.As(err, &serr) || serr.Kind != KindApply {
				t.Fatalf("not the apply's StepError: %#v", err)
			}
			if got := f.recorded(); len(got) != 0 {
				t.Fatalf("a refused run wrote %v", got)
			}
			web := f.services["default/web"]
			if web == nil || web.Revision != 2 || web.ModifyIndex != 1001 {
				t.Fatalf("their web after the run: %+v", web)
			}
			if len(f.services) != 1 {
				t.Fatalf("services after the run: %v", f.services)
			}
			if rec.start.Scenario != "" || len(rec.steps) != 0 {
				t.Fatalf("a refused run reported %+v %+v", rec.start, rec.steps)
			}
		})
	}
}

// TestASharedRunDeletesOnlyWhatItCreated: without a web there, the run
// plays; at the end it deletes the web it created, and neither a service
// that was there before nor one created beside it during the run.
func TestASharedRunDeletesOnlyWhatItCreated(t *testing.T) {
	f := newFakeCluster()
	theirs(f, "db")
	f.AllocationsFn = func() []*api.Allocation {
		// Someone creates a service of their own while the run waits.
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.services["default/mine"] == nil {
			f.services["default/mine"] = &api.Service{Name: "mine", Namespace: "default", Revision: 1, CreateIndex: 2000}
		}
		return []*api.Allocation{alloc("a1", "n1", true), alloc("a2", "n2", true), alloc("a3", "n3", true)}
	}
	sc := mustParse(t, "title: t\nteaches: t\nsteps:\n"+webSpec+
		"  - wait: {allocations: {service: web, running: 3}, timeout: 5s}\n"+
		"  - scale: {service: web, replicas: 4}\n"+
		"  - expect: {service: {name: db, revision: 2}}\n")
	rec := &recorder{}
	if err := newSharedRunner(f, rec).Run(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	if !rec.end.Passed || rec.steps[0].Text != "service web created (revision 1)" {
		t.Fatalf("steps %+v end %+v", rec.steps, rec.end)
	}
	want := []string{"apply web", "scale default/web 4", "delete default/web"}
	if got := f.recorded(); !slices.Equal(got, want) {
		t.Fatalf("writes:\n %v\nwant\n %v", got, want)
	}
	if f.services["default/web"] != nil || f.services["default/db"] == nil || f.services["default/mine"] == nil {
		t.Fatalf("services after the run: %v", f.services)
	}

	// With Keep, what the run created stays.
	f = newFakeCluster()
	r := newSharedRunner(f, &recorder{})
	r.Keep = true
	if err := r.Run(context.Background(), mustParse(t, "title: t\nteaches: t\nsteps:\n"+webSpec)); err != nil {
		t.Fatal(err)
	}
	if got := f.recorded(); !slices.Equal(got, []string{"apply web"}) || f.services["default/web"] == nil {
		t.Fatalf("with Keep: writes %v, services %v", got, f.services)
	}
}

// TestASharedRunThatFailsStillDeletesWhatItCreated: a failed step ends
// the run with that step's error, and the service it created goes.
func TestASharedRunThatFailsStillDeletesWhatItCreated(t *testing.T) {
	f := newFakeCluster()
	sc := mustParse(t, "title: t\nteaches: t\nsteps:\n"+webSpec+"  - expect: {allocations: {service: web, running: 3}}\n")
	err := newSharedRunner(f, &recorder{}).Run(context.Background(), sc)
	var serr *StepError
	if !errors.As(err, &serr) || serr.Index != 1 {
		t.Fatalf("error %v, want the expect's", err)
	}
	if got := f.recorded(); !slices.Equal(got, []string{"apply web", "delete default/web"}) {
		t.Fatalf("writes %v", got)
	}
}

// TestASharedRunLeavesAServiceRecreatedBySomeoneElse: the scenario
// deletes its web, someone creates a web of theirs, and the end of the
// run leaves that one alone (it is not the one the run created).
func TestASharedRunLeavesAServiceRecreatedBySomeoneElse(t *testing.T) {
	f := newFakeCluster()
	f.AllocationsFn = func() []*api.Allocation {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.services["default/web"] == nil {
			f.services["default/web"] = &api.Service{Name: "web", Namespace: "default", Revision: 1, CreateIndex: 3000}
		}
		return nil
	}
	sc := mustParse(t, "title: t\nteaches: t\nsteps:\n"+webSpec+
		"  - delete: {service: web}\n"+
		"  - expect: {allocations: {service: web, running: 0}}\n")
	if err := newSharedRunner(f, &recorder{}).Run(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	if got := f.recorded(); !slices.Equal(got, []string{"apply web", "delete default/web"}) {
		t.Fatalf("writes %v", got)
	}
	if web := f.services["default/web"]; web == nil || web.CreateIndex != 3000 {
		t.Fatalf("their web after the run: %+v", web)
	}
}

// TestASharedRunChangesNoServiceItDoesNotApply: a delete, scale, rollout
// or app fault naming a service the scenario does not apply is refused
// by Check on a shared cluster, before anything runs; in a lab of the
// run's own it is played.
func TestASharedRunChangesNoServiceItDoesNotApply(t *testing.T) {
	for _, step := range []string{
		"delete: {service: db}",
		"scale: {service: db, replicas: 2}",
		"rollout: {service: db, action: promote}",
		"fault: {service: db, crash: true}",
		"delete: {service: web, namespace: shop}", // the scenario's web is in default
	} {
		sc := mustParse(t, "title: t\nteaches: t\nsteps:\n"+webSpec+"  - "+step+"\n")
		f := newFakeCluster()
		theirs(f, "db")
		err := newSharedRunner(f, &recorder{}).Run(context.Background(), sc)
		var serr *StepError
		if !errors.As(err, &serr) || serr.Index != 1 {
			t.Fatalf("%s: error %v, want steps[1] refused", step, err)
		}
		ns := "default/db"
		if step == "delete: {service: web, namespace: shop}" {
			ns = "shop/web"
		}
		want := "service " + ns + " is not one the scenario applies: on a cluster it did not start, a scenario only runs on services it creates (run the scenario in its own lab)"
		if serr.Err.Error() != want {
			t.Fatalf("%s: error\n %v\nwant\n %s", step, serr.Err, want)
		}
		if got := f.recorded(); len(got) != 0 {
			t.Fatalf("%s: a refused run wrote %v", step, got)
		}
	}
	// Its own services it may change, in any namespace its applies name.
	sc := mustParse(t, "title: t\nteaches: t\nsteps:\n"+
		"  - apply:\n      spec: {kind: Service, name: web, namespace: shop, image: flotilla.local/demo:v1}\n"+
		"  - scale: {service: web, namespace: shop, replicas: 2}\n"+
		"  - delete: {service: web, namespace: shop}\n")
	f := newFakeCluster()
	if err := newSharedRunner(f, &recorder{}).Run(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	if got := f.recorded(); !slices.Equal(got, []string{"apply web", "scale shop/web 2", "delete shop/web"}) {
		t.Fatalf("writes %v", got)
	}
}
