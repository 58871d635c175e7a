package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/network/loadgen"
	"flotilla/runtime/workload"
)

func mustParse(t *testing.T, text string) *Scenario {
	t.Helper()
	sc, err := Parse("test.yaml", []byte(text), nil, ".")
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

const webSpec = `  - apply:
      spec: {kind: Service, name: web, image: flotilla.local/demo:v1, replicas: 3, ports: [{name: http, port: 8080, protocol: http}]}
`

func newRunner(f *fakeCluster, rec *recorder) *Runner {
	return &Runner{Cluster: f, Report: rec, Poll: 5 * time.Millisecond, Where: "a fake"}
}

// TestAFailedExpectationNamesItsStepWhatItWantedAndWhatItSaw is what a
// scenario with a wrong expect gives: the run stops at that step, and the
// error names the step (number and steps[N]), its kind, the expectation
// and what the cluster showed.
func TestAFailedExpectationNamesItsStepWhatItWantedAndWhatItSaw(t *testing.T) {
	f := newFakeCluster()
	f.allocs = []*api.Allocation{alloc("a1", "n1", true), alloc("a2", "n1", true), alloc("a3", "n2", true)}
	sc := mustParse(t, "title: t\nteaches: t\nsteps:\n  - say: hi\n"+webSpec+
		"  - expect: {allocations: {service: web, running: 3}}\n"+
		"  - expect: {allocations: {service: web, perNode: {n1: 1, n2: 2}}}\n"+
		"  - say: never said\n")
	rec := &recorder{}
	err := newRunner(f, rec).Run(context.Background(), sc)
	var serr *StepError
	if !errors.As(err, &serr) || serr.Index != 3 || serr.Kind != KindExpect {
		t.Fatalf("error %v, want the expect of steps[3]", err)
	}
	want := "step 4 (steps[3], expect): want allocations of web: running on n1 1, running on n2 2; saw allocations of web: 3 running (n1 2, n2 1), 3 ready"
	if err.Error() != want {
		t.Fatalf("error:\n %s\nwant\n %s", err, want)
	}
	var check *CheckError
	if !errors.As(err, &check) || check.Timeout != 0 {
		t.Fatalf("not a CheckError: %#v", err)
	}
	if len(rec.steps) != 4 || rec.steps[3].OK || rec.steps[3].Error == "" || !rec.steps[2].OK || !rec.steps[2].Check {
		t.Fatalf("steps reported: %+v", rec.steps)
	}
	if rec.end.Passed || rec.end.Steps != 4 || rec.end.Of != 5 || rec.end.Failure != want {
		t.Fatalf("end: %+v", rec.end)
	}
	if got := f.recorded(); !slices.Equal(got, []string{"apply web"}) {
		t.Fatalf("writes %v", got)
	}
}

// TestAWaitLooksAgainUntilItHoldsOrTimesOut: a wait sees a change come
// (the third look finds the replicas), and one that never comes fails
// after its timeout, saying what it last saw.
func TestAWaitLooksAgainUntilItHoldsOrTimesOut(t *testing.T) {
	f := newFakeCluster()
	var mu sync.Mutex
	looks := 0
	f.AllocationsFn = func() []*api.Allocation {
		mu.Lock()
		defer mu.Unlock()
		looks++
		if looks < 3 {
			return []*api.Allocation{alloc("a1", "n1", true)}
		}
		return []*api.Allocation{alloc("a1", "n1", true), alloc("a2", "n2", true)}
	}
	sc := mustParse(t, "title: t\nteaches: t\nsteps:\n"+
		"  - wait: {allocations: {service: web, running: 2}, timeout: 10s}\n"+
		"  - wait: {allocations: {service: web, running: 3}, timeout: 100ms}\n")
	rec := &recorder{}
	err := newRunner(f, rec).Run(context.Background(), sc)
	if len(rec.steps) != 2 || !rec.steps[0].OK || rec.steps[0].Figures["running"] != 2 {
		t.Fatalf("first wait: %+v", rec.steps)
	}
	var check *CheckError
	if !errors.As(err, &check) || check.Timeout != 100*time.Millisecond {
		t.Fatalf("error %v, want the second wait to time out", err)
	}
	if want := "step 2 (steps[1], wait): not after 100ms: want allocations of web: running 3; saw allocations of web: 2 running (n1 1, n2 1), 2 ready"; err.Error() != want {
		t.Fatalf("error:\n %s\nwant\n %s", err, want)
	}
}

// TestNodeFaultsGoThroughTheLab: leader, follower and last are resolved,
// a killed leader is remembered for leader: {new: true}, a restart waits
// for the process to be ready, and a run without a lab refuses node
// faults before doing anything.
func TestNodeFaultsGoThroughTheLab(t *testing.T) {
	f := newFakeCluster()
	f.leader = "s2"
	sc := mustParse(t, "title: t\nteaches: t\nsteps:\n"+
		"  - fault: {kill: leader}\n"+
		"  - fault: {pause: follower}\n"+
		"  - fault: {resume: last}\n"+
		"  - fault: {restart: n3}\n"+
		"  - wait: {leader: {new: true}, timeout: 1s}\n")
	// The cluster elects s3 once s2 died.
	l := &fakeLab{KillFn: func(name string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if name == f.leader {
			f.leader = "s3"
		}
	}}
	rec := &recorder{}
	r := newRunner(f, rec)
	r.Lab = l
	if err := r.Run(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	want := []string{"kill s2", "pause s1", "resume s1", "restart n3", "ready n3"}
	if !slices.Equal(l.calls, want) {
		t.Fatalf("lab calls %v, want %v", l.calls, want)
	}
	if rec.steps[0].Text != "s2 (the leader) killed" || rec.steps[1].Text != "s1 (a follower) paused (SIGSTOP)" {
		t.Fatalf("fault reports: %q, %q", rec.steps[0].Text, rec.steps[1].Text)
	}
	if !strings.Contains(rec.steps[4].Text, "leader s3") {
		t.Fatalf("leader wait: %+v", rec.steps[4])
	}

	noLab := newRunner(newFakeCluster(), &recorder{})
	err := noLab.Run(context.Background(), sc)
	if err == nil || !strings.Contains(err.Error(), "step 1 (steps[0], fault): node faults need the lab the run starts") {
		t.Fatalf("a run without a lab: %v", err)
	}
}

// TestARunnerGivenAStepItCannotPlayFailsTheStep: a scenario changed after
// Parse so that a stop has no load or last no node fault (what Parse
// refuses) fails that step instead of crashing the run.
func TestARunnerGivenAStepItCannotPlayFailsTheStep(t *testing.T) {
	for _, c := range []struct{ name, steps, want string }{
		{"a stop without its load", "  - load: {start: bg, service: web, rate: 1}\n  - load: {stop: bg}\n",
			`step 2 (steps[1], load): no load "bg" is running`},
		{"last without a node fault", "  - fault: {kill: n1}\n  - fault: {restart: last}\n",
			"step 2 (steps[1], fault): last: no node fault came before"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc := mustParse(t, "title: t\nteaches: t\nsteps:\n"+c.steps)
			sc.Steps[0].Only = OnlyLive
			r := newRunner(newFakeCluster(), &recorder{})
			r.Lab, r.Virtual = &fakeLab{}, true
			err := r.Run(context.Background(), sc)
			if err == nil || err.Error() != c.want {
				t.Fatalf("error %v, want %s", err, c.want)
			}
		})
	}
}

// TestPartitionsGoThroughTheLab: partition and heal reach the lab's
// links, name what they did, resolve leader and last as kill does (a
// leader cut off is the one a new leader must differ from), and heal all
// reconnects every node. Live, a sim lab is refused before anything runs,
// naming the step; virtual runs and containerd labs play them.
func TestPartitionsGoThroughTheLab(t *testing.T) {
	steps := "steps:\n" +
		"  - fault: {partition: leader}\n" +
		"  - wait: {leader: {new: true}, timeout: 1s}\n" +
		"  - fault: {heal: last}\n" +
		"  - fault: {partition: n3}\n" +
		"  - fault: {heal: all}\n"
	play := func(t *testing.T, runtime string, virtual bool, lab Lab) (*fakeCluster, *recorder, error) {
		f := newFakeCluster()
		f.leader = "s2"
		if pl, ok := lab.(*partitionLab); ok {
			// The majority elects s1 once s2 is cut off.
			pl.PartitionFn = func(name string) {
				f.mu.Lock()
				defer f.mu.Unlock()
				if name == f.leader {
					f.leader = "s1"
				}
			}
		}
		sc := mustParse(t, "title: t\nteaches: t\nlab: {runtime: "+runtime+"}\n"+steps)
		rec := &recorder{}
		r := newRunner(f, rec)
		r.Lab, r.Virtual = lab, virtual
		return f, rec, r.Run(context.Background(), sc)
	}

	l := &partitionLab{}
	_, rec, err := play(t, RuntimeContainerd, false, l)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"partition s2", "heal s2", "partition n3", "heal all"}; !slices.Equal(l.calls, want) {
		t.Fatalf("lab calls %v, want %v", l.calls, want)
	}
	for i, want := range map[int]string{
		0: "s2 (the leader) cut off the network: it keeps running, but reaches nobody and nobody reaches it",
		1: "leader s1", 2: "s2 connected again", 3: "n3 cut off the network", 4: "every node is connected again",
	} {
		if !strings.Contains(rec.steps[i].Text, want) {
			t.Errorf("step %d says %q, want %q", i+1, rec.steps[i].Text, want)
		}
	}

	virtual := &partitionLab{}
	if _, _, err := play(t, RuntimeSim, true, virtual); err != nil || len(virtual.calls) != 4 {
		t.Fatalf("a virtual run: %v, lab calls %v", err, virtual.calls)
	}

	sim := &partitionLab{}
	_, _, err = play(t, RuntimeSim, false, sim)
	if err == nil || err.Error() != "step 1 (steps[0], fault): partitions need a containerd lab (lab: {runtime: containerd}, as root) or --virtual; this lab runs sim" {
		t.Fatalf("a live sim lab: %v", err)
	}
	if len(sim.calls) != 0 {
		t.Fatalf("a refused run touched the lab: %v", sim.calls)
	}

	_, _, err = play(t, RuntimeContainerd, false, &fakeLab{})
	if err == nil || !strings.Contains(err.Error(), "step 1 (steps[0], fault): partitions need a lab whose links can be cut") {
		t.Fatalf("a lab without links: %v", err)
	}

	// A leader cut off that still answers as the leader is not a new one.
	f := newFakeCluster()
	f.leader = "s2"
	r := newRunner(f, &recorder{})
	r.Lab = &partitionLab{}
	err = r.Run(context.Background(), mustParse(t, "title: t\nteaches: t\nlab: {runtime: containerd}\nsteps:\n"+
		"  - fault: {partition: leader}\n  - wait: {leader: {new: true}, timeout: 50ms}\n"))
	if err == nil || !strings.Contains(err.Error(), "want a new leader, not s2; saw leader s2") {
		t.Fatalf("no election after the leader was cut off: %v", err)
	}
}

// demoApp serves a demo app (the real one) on loopback and returns the
// app and its address.
func demoApp(t *testing.T, version string) (*workload.App, string) {
	t.Helper()
	app := workload.New(workload.Config{Version: version}, nil)
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	return app, strings.TrimPrefix(srv.URL, "http://")
}

func adminState(t *testing.T, addr string) workload.AdminState {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/admin")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s workload.AdminState
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAppFaultsToggleTheDemoApp: app faults reach the demo app's admin
// endpoints of the allocations they target: one by default (the first by
// node), every one to put things back or with all.
func TestAppFaultsToggleTheDemoApp(t *testing.T) {
	_, addr1 := demoApp(t, "v1")
	_, addr2 := demoApp(t, "v1")
	f := newFakeCluster()
	a1, a2 := alloc("b", "n1", true), alloc("a", "n2", true)
	a1.Address, a2.Address = addr1, addr2
	f.allocs = []*api.Allocation{a2, a1}
	sc := mustParse(t, "title: t\nteaches: t\nsteps:\n"+
		"  - fault: {service: web, readiness: fail}\n"+
		"  - fault: {service: web, latency: 20ms, all: true}\n"+
		"  - fault: {service: web, errorRate: 30%, node: n2}\n"+
		"  - fault: {service: web, liveness: fail, replicas: 2}\n")
	rec := &recorder{}
	if err := newRunner(f, rec).Run(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	s1, s2 := adminState(t, addr1), adminState(t, addr2)
	if s1.Readiness != "failing" || s2.Readiness != "ok" {
		t.Fatalf("readiness: n1 %s, n2 %s; want only the first by node failing", s1.Readiness, s2.Readiness)
	}
	if s1.Latency != "20ms" || s2.Latency != "20ms" {
		t.Fatalf("latency: %s, %s", s1.Latency, s2.Latency)
	}
	if s1.ErrorRate != 0 || s2.ErrorRate != 0.3 {
		t.Fatalf("error rates: %g, %g", s1.ErrorRate, s2.ErrorRate)
	}
	if s1.Liveness != "failing" || s2.Liveness != "failing" {
		t.Fatalf("liveness: %s, %s", s1.Liveness, s2.Liveness)
	}
	if rec.steps[0].Text != "readiness fail: b on n1" {
		t.Fatalf("report %q", rec.steps[0].Text)
	}

	back := mustParse(t, "title: t\nteaches: t\nsteps:\n  - fault: {service: web, readiness: pass}\n  - fault: {service: web, crash: true, replicas: 3}\n")
	err := newRunner(f, &recorder{}).Run(context.Background(), back)
	if s1 := adminState(t, addr1); s1.Readiness != "ok" {
		t.Fatalf("readiness pass did not reach every replica: %+v", s1)
	}
	if err == nil || !strings.Contains(err.Error(), "3 allocations of web to fault, only 2 run") {
		t.Fatalf("crashing more replicas than run: %v", err)
	}
}

// TestALoadRunsThroughTheServiceVIPAndIsJudgedWhenItStops: the load goes
// to the service's VIP and port, and its figures meet the stop's
// expectations (or name them).
func TestALoadRunsThroughTheServiceVIPAndIsJudgedWhenItStops(t *testing.T) {
	_, addr := demoApp(t, "v7")
	host, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	f := newFakeCluster()
	f.services["default/web"] = &api.Service{Name: "web", Namespace: "default", VIP: host,
		Spec: api.ServiceSpec{Ports: []api.Port{{Name: "metrics", Port: 1, Protocol: api.ProtocolTCP}, {Name: "http", Port: n, Protocol: api.ProtocolHTTP}}}}
	sc := mustParse(t, "title: t\nteaches: t\nsteps:\n"+
		"  - load: {start: bg, service: web, rate: 100}\n"+
		"  - wait: {load: {name: bg, requests: \"5+\"}, timeout: 10s}\n"+
		"  - load: {stop: bg, expect: {errors: 0, versions: {v7: \"5+\"}}}\n"+
		"  - load: {start: burst, service: web, rate: 50, duration: 200ms}\n"+
		"  - load: {stop: burst, expect: {requests: \"1000+\"}}\n")
	rec := &recorder{}
	err := newRunner(f, rec).Run(context.Background(), sc)
	if rec.steps[0].Text != "load bg started: 100 requests/s at http://"+addr+"/" {
		t.Fatalf("start: %q", rec.steps[0].Text)
	}
	if s := rec.steps[2]; !s.OK || !strings.Contains(s.Text, "0 errors") || !strings.Contains(s.Text, "answers by version: v7 ") {
		t.Fatalf("stop: %+v", s)
	}
	// A load with a duration runs it out before its stop judges it: 10
	// requests in 200 ms at 50/s.
	if err == nil || !strings.Contains(err.Error(), "step 5 (steps[4], load): want load burst: requests at least 1000; saw load burst: 10 requests, 0 errors") {
		t.Fatalf("error %v", err)
	}
}

// TestALoadOfVisitorsChecksOutAndShowsWhatEachVersionConverted: a load
// with users is visits by visitors with cookie jars, as `flotilla load
// --users`; its stop adds the visitors' table per version.
func TestALoadOfVisitorsChecksOutAndShowsWhatEachVersionConverted(t *testing.T) {
	app := workload.New(workload.Config{Version: "v7", ConversionRate: 1}, nil)
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	n, _ := strconv.Atoi(port)
	f := newFakeCluster()
	f.services["default/shop"] = &api.Service{Name: "shop", Namespace: "default", VIP: host,
		Spec: api.ServiceSpec{Ports: []api.Port{{Name: "http", Port: n, Protocol: api.ProtocolHTTP}}}}
	sc := mustParse(t, "title: t\nteaches: t\nsteps:\n"+
		"  - load: {start: shoppers, service: shop, users: 5, checkoutRatio: 1, seed: 3, rate: 100, duration: 300ms}\n"+
		"  - load: {stop: shoppers, expect: {errors: 0, versions: {v7: \"20+\"}}}\n")
	rec := &recorder{}
	if err := newRunner(f, rec).Run(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	if got := rec.steps[0].Text; !strings.HasPrefix(got, "load shoppers started: 100 visits/s by 5 visitors with cookie jars, 100% of the visits checking out for 300ms at http://") {
		t.Fatalf("start: %q", got)
	}
	stop := rec.steps[1].Text
	lines := strings.Split(stop, "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "visitors: 5 of 5 came; 30 visits, 30 checkouts, 30 conversions; 0 answered by two versions") ||
		!strings.HasPrefix(lines[2], "  v7: 5 visitors, 30 checkouts, 30 conversions (100.0%), 5 visitors converted (100.0%)") {
		t.Fatalf("stop:\n%s", stop)
	}
	if u, ok := rec.steps[1].Figures["users"].(*loadgen.UsersSummary); !ok || u.Checkouts != 30 {
		t.Fatalf("figures: %+v", rec.steps[1].Figures)
	}
}

// TestEventsAreFollowedAndNarrated: every event after the start is handed
// on, in order, across the follower's blocking reads; the run shows its
// services' events and the nodes', not probe successes or other services'.
func TestEventsAreFollowedAndNarrated(t *testing.T) {
	f := newFakeCluster()
	f.addEvent(api.Event{Type: api.EventNodeRegistered, Message: "before"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		followEvents(ctx, f, 1, func(e *api.Event) { got <- e.Message })
	}()
	for _, m := range []string{"one", "two", "three"} {
		f.addEvent(api.Event{Type: api.EventNodeStatus, Message: m})
	}
	for _, want := range []string{"one", "two", "three"} {
		select {
		case m := <-got:
			if m != want {
				t.Fatalf("got %q, want %q", m, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %q", want)
		}
	}
	cancel()
	<-done

	shown := map[string]bool{"default/web": true}
	for _, c := range []struct {
		e    api.Event
		show bool
	}{
		{api.Event{Type: api.EventNodeStatus, Node: "n2"}, true},
		{api.Event{Type: api.EventAllocationsPlaced, Namespace: "default", Service: "web"}, true},
		{api.Event{Type: api.EventAllocationsPlaced, Namespace: "default", Service: "other"}, false},
		{api.Event{Type: api.EventProbeSucceeded, Namespace: "default", Service: "web"}, false},
		{api.Event{Type: api.EventProbeFailed, Namespace: "default", Service: "web"}, true},
	} {
		if shownEvent(&c.e, shown) != c.show {
			t.Errorf("%+v shown: %t, want %t", c.e, !c.show, c.show)
		}
	}
}

// TestWritesReachTheCluster: apply, scale, rollout actions, undo, drain
// and delete are the API calls they say.
func TestWritesReachTheCluster(t *testing.T) {
	f := newFakeCluster()
	sc := mustParse(t, "title: t\nteaches: t\nsteps:\n"+webSpec+webSpec+
		"  - scale: {service: web, replicas: 5}\n"+
		"  - rollout: {service: web, action: promote, full: true}\n"+
		"  - rollout: {service: web, action: undo, toRevision: 1}\n"+
		"  - drain: {node: n2}\n  - drain: {node: n2, cancel: true}\n"+
		"  - delete: {service: web}\n  - sleep: 10ms\n")
	rec := &recorder{}
	if err := newRunner(f, rec).Run(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	want := []string{"apply web", "apply web", "scale default/web 5", "rollout promote default/web full=true", "undo default/web to 1",
		"drain n2 true", "drain n2 false", "delete default/web"}
	if got := f.recorded(); !slices.Equal(got, want) {
		t.Fatalf("writes:\n %v\nwant\n %v", got, want)
	}
	if rec.steps[0].Text != "service web created (revision 1)" || rec.steps[1].Text != "service web updated to revision 2" {
		t.Fatalf("apply reports %q %q", rec.steps[0].Text, rec.steps[1].Text)
	}
	if !rec.end.Passed || rec.end.Steps != 9 || rec.start.Cluster != "a fake" {
		t.Fatalf("start %+v end %+v", rec.start, rec.end)
	}
}

// TestAnInterruptedRunStopsAtOnce: Ctrl-C (the context) ends a wait at
// once and the error says so.
func TestAnInterruptedRunStopsAtOnce(t *testing.T) {
	f := newFakeCluster()
	sc := mustParse(t, "title: t\nteaches: t\nsteps:\n  - wait: {node: {name: n1, status: ready}, timeout: 1h}\n")
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() { errs <- newRunner(f, &recorder{}).Run(ctx, sc) }()
	cancel()
	select {
	case err := <-errs:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted") {
			t.Fatalf("error %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the run went on after its context ended")
	}
}

func TestReportersPrintLinesAndJSON(t *testing.T) {
	var text bytes.Buffer
	tr := &TextReporter{W: &text}
	tr.Start(StartReport{Scenario: "node-loss", Title: "A node dies", Teaches: "Spread placement.", Cluster: "lab x"})
	tr.Step(StepReport{Index: 3, Of: 9, Kind: KindWait, At: 2300 * time.Millisecond, Took: 1200 * time.Millisecond, Check: true, OK: true, Text: "allocations of web: 6 running"})
	tr.Event(2500*time.Millisecond, &api.Event{Type: api.EventNodeStatus, Message: "node n2 is down"})
	tr.Step(StepReport{Index: 4, Of: 9, Kind: KindExpect, At: 2600 * time.Millisecond, Check: true, Error: "want x; saw y"})
	tr.End(EndReport{Scenario: "node-loss", Steps: 4, Of: 9, Elapsed: 2600 * time.Millisecond, Failure: "step 4: want x; saw y"})
	want := `node-loss: A node dies
  Spread placement.
  lab x

    2.3s   3/9  wait    ✓ allocations of web: 6 running  (1.2s)
    2.5s        event   NodeStatusChanged: node n2 is down
    2.6s   4/9  expect  ✗ want x; saw y

FAIL node-loss after 2.6s, at step 4 of 9: step 4: want x; saw y
`
	if text.String() != want {
		t.Fatalf("text:\n%s\nwant:\n%s", text.String(), want)
	}
	if strings.Contains(text.String(), "\033[") {
		t.Fatal("colour without a terminal")
	}

	var js bytes.Buffer
	jr := &JSONReporter{W: &js}
	jr.Start(StartReport{Scenario: "node-loss", Steps: 9})
	jr.Step(StepReport{Index: 3, Of: 9, Kind: KindWait, At: 2300 * time.Millisecond, Took: 1200 * time.Millisecond, Check: true, OK: true, Text: "t", Figures: map[string]any{"running": 6}})
	jr.Event(2500*time.Millisecond, &api.Event{ID: 7, Type: api.EventNodeStatus, Message: "down"})
	jr.End(EndReport{Scenario: "node-loss", Passed: true, Steps: 9, Of: 9, Elapsed: 5 * time.Second})
	lines := strings.Split(strings.TrimSpace(js.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines:\n%s", len(lines), js.String())
	}
	var step struct {
		Type    string         `json:"type"`
		At      float64        `json:"at"`
		Took    float64        `json:"took"`
		Index   int            `json:"index"`
		Kind    string         `json:"kind"`
		OK      bool           `json:"ok"`
		Figures map[string]any `json:"figures"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &step); err != nil || step.Type != "step" || step.At != 2.3 || step.Took != 1.2 ||
		step.Index != 3 || step.Kind != "wait" || !step.OK || step.Figures["running"] != 6.0 {
		t.Fatalf("step line %s: %+v %v", lines[1], step, err)
	}
	for i, want := range []string{`{"type":"start","scenario":"node-loss",`, `{"type":"event","at":2.5,"event":{"id":7,`, `{"type":"end","elapsed":5,"scenario":"node-loss","passed":true,`} {
		if line := lines[map[int]int{0: 0, 1: 2, 2: 3}[i]]; !strings.HasPrefix(line, want) {
			t.Errorf("line %q, want it to start %q", line, want)
		}
	}
}
