package rollout

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"flotilla/api"
)

// world is a tiny cluster for the controller: it runs Decide, stores the
// rollout, and carries out the desired counts the way the scheduler does
// (stopping the least useful replicas first, adding new ones as starting).
// Tests then make replicas ready, move the clock and feed traffic figures.
type world struct {
	t       *testing.T
	svc     *api.Service
	ro      *api.Rollout
	allocs  []*api.Allocation
	now     time.Time
	figures []api.TrafficFigures
	events  []Event
	seq     int
	last    Decision
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func mustSpec(t *testing.T, doc string) api.ServiceSpec {
	t.Helper()
	specs, err := api.DecodeServices("test.yaml", []byte("kind: Service\nname: web\nimage: demo\n"+doc))
	if err != nil {
		t.Fatal(err)
	}
	return specs[0]
}

// newWorld starts a service at revision 1 with every replica ready.
func newWorld(t *testing.T, replicas int, rollout string) *world {
	t.Helper()
	spec := mustSpec(t, fmt.Sprintf("replicas: %d\nrollout: %s\n", replicas, rollout))
	w := &world{t: t, now: epoch, svc: &api.Service{Name: "web", Namespace: "default", Revision: 1, Replicas: replicas, Spec: spec, CreateIndex: 1}}
	w.ro = New(w.svc, nil, w.now)
	w.decide()
	w.readyAll(1)
	return w
}

// update makes revision 2 (or the next) and starts its rollout.
func (w *world) update() {
	w.svc.Revision++
	w.ro = New(w.svc, w.ro, w.now)
}

func (w *world) decide() Decision {
	w.t.Helper()
	d := Decide(Input{Service: w.svc, Rollout: w.ro, Allocs: w.allocs, Now: w.now,
		Figures: func(time.Duration) []api.TrafficFigures { return w.figures }})
	w.ro = d.Rollout
	w.events = append(w.events, d.Events...)
	w.apply(d.Desired)
	w.last = d
	return d
}

// apply carries out desired counts as computePlan does.
func (w *world) apply(desired map[int]int) {
	byRev := map[int][]*api.Allocation{}
	for _, a := range w.allocs {
		if a.DesiredStatus == api.DesiredRun {
			byRev[a.Revision] = append(byRev[a.Revision], a)
		}
	}
	for rev, list := range byRev {
		sort.SliceStable(list, func(i, j int) bool { return rank(list[i]) < rank(list[j]) })
		for i := 0; i < len(list)-desired[rev]; i++ {
			list[i].DesiredStatus, list[i].Status, list[i].Ready = api.DesiredStop, api.AllocComplete, false
		}
	}
	for rev, n := range desired {
		for i := len(byRev[rev]); i < n; i++ {
			w.seq++
			w.allocs = append(w.allocs, &api.Allocation{ID: fmt.Sprintf("a%d", w.seq), Revision: rev,
				DesiredStatus: api.DesiredRun, Status: api.AllocStarting, CreateIndex: uint64(w.seq + 1)})
		}
	}
}

func rank(a *api.Allocation) int {
	if a.Status == api.AllocRunning && a.Ready {
		return 1
	}
	return 0
}

// readyAll makes every running-to-be replica of rev ready now.
func (w *world) readyAll(rev int) { w.ready(rev, 1<<30) }

// ready makes up to n starting replicas of rev ready now.
func (w *world) ready(rev, n int) {
	for _, a := range w.allocs {
		if n == 0 {
			return
		}
		if a.Revision == rev && a.DesiredStatus == api.DesiredRun && !a.Ready {
			a.Status, a.Ready, a.ReadyTime = api.AllocRunning, true, w.now
			n--
		}
	}
}

func (w *world) advance(d time.Duration) { w.now = w.now.Add(d) }

// running counts the replicas of rev meant to run; ready counts the ready ones.
func (w *world) running(rev int) int {
	n := 0
	for _, a := range w.allocs {
		if a.Revision == rev && a.DesiredStatus == api.DesiredRun {
			n++
		}
	}
	return n
}

func (w *world) readyCount(rev int) int {
	n := 0
	for _, a := range w.allocs {
		if a.Revision == rev && a.DesiredStatus == api.DesiredRun && a.Ready {
			n++
		}
	}
	return n
}

func (w *world) wantPhase(phase string) {
	w.t.Helper()
	if w.ro.Phase != phase {
		w.t.Fatalf("phase = %s (%s), want %s", w.ro.Phase, w.ro.Reason, phase)
	}
}

func (w *world) wantWeights(want map[int]int) {
	w.t.Helper()
	if fmt.Sprint(w.ro.Weights) != fmt.Sprint(want) {
		w.t.Fatalf("weights = %v, want %v (%s)", w.ro.Weights, want, w.ro.Reason)
	}
}

func (w *world) wantRunning(rev, n int) {
	w.t.Helper()
	if got := w.running(rev); got != n {
		w.t.Fatalf("revision %d runs %d replicas, want %d (%s)", rev, got, n, w.ro.Reason)
	}
}

// eventTypes lists the types of the events recorded so far.
func (w *world) eventTypes() []string {
	out := make([]string, len(w.events))
	for i, e := range w.events {
		out[i] = e.Type
	}
	return out
}

// traffic sets the figures of one window: requests and errors per
// revision, every request taking latency.
func (w *world) traffic(rev int, requests, errors uint64, latency time.Duration) {
	var h api.Histogram
	for i := uint64(0); i < requests; i++ {
		h.Observe(latency)
	}
	f := api.TrafficFigures{Revision: rev, Requests: requests, Errors: errors, Latency: h,
		P50Ms: h.Quantile(0.5), P99Ms: h.Quantile(0.99)}
	if requests > 0 {
		f.ErrorRate = float64(errors) / float64(requests)
	}
	for i := range w.figures {
		if w.figures[i].Revision == rev {
			w.figures[i] = f
			return
		}
	}
	w.figures = append(w.figures, f)
}
