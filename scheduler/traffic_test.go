package scheduler

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"flotilla/api"
	"flotilla/internal/clock"
	"flotilla/scheduler/state"
)

var trafficT0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// cumulative is what a proxy reports for default/SERVICE revision rev after
// serving requests requests, errors of them failed, each lasting took.
func cumulative(service string, rev int, requests, errors uint64, took time.Duration) api.TrafficReport {
	r := api.TrafficReport{Namespace: "default", Service: service, Revision: rev, Requests: requests, Errors: errors}
	if requests > 0 {
		r.Latency = api.Histogram{Offset: api.LatencyBucket(took), Counts: []uint64{requests}}
	}
	return r
}

func near(got, want, rel float64) bool { return math.Abs(got-want) <= want*rel }

// one returns the figures of revision rev, failing when there are none.
func one(t *testing.T, figs []api.TrafficFigures, rev int) api.TrafficFigures {
	t.Helper()
	for _, f := range figs {
		if f.Revision == rev {
			return f
		}
	}
	t.Fatalf("no figures for revision %d in %+v", rev, figs)
	return api.TrafficFigures{}
}

func TestTrafficWindowIsTheDifferenceOfCumulativeSamples(t *testing.T) {
	b := newTrafficBook()
	// One node serves 10 requests a second, one in ten failing, reporting
	// every 2 s for 90 s; it had served 5000 before the book first heard
	// of it.
	for s := 0; s <= 90; s += 2 {
		n := uint64(5000 + 10*s)
		b.record("n1", []api.TrafficReport{cumulative("web", 1, n, n/10, 5*time.Millisecond)}, trafficT0.Add(time.Duration(s)*time.Second))
	}
	now := trafficT0.Add(91 * time.Second)
	for _, tt := range []struct {
		window   time.Duration
		requests uint64 // from the newest sample (90 s) back to the newest at or before now-window
	}{
		{10 * time.Second, 100}, // 90 - 80
		{time.Minute, 600},      // 90 - 30
		{3 * time.Second, 20},   // 90 - 88
	} {
		figs := b.window("default", "web", tt.window, now, nil)
		if len(figs) != 1 {
			t.Fatalf("%v: figures %+v, want one revision", tt.window, figs)
		}
		f := figs[0]
		if f.Requests != tt.requests || f.Errors != tt.requests/10 || f.Nodes != 1 || f.Latency.Total() != tt.requests {
			t.Errorf("%v: %d requests, %d errors, %d nodes, histogram of %d; want %d, %d, 1, %d",
				tt.window, f.Requests, f.Errors, f.Nodes, f.Latency.Total(), tt.requests, tt.requests/10, tt.requests)
		}
		if !near(f.RPS, 10, 1e-9) || !near(f.ErrorRate, 0.1, 1e-9) || !near(f.P50Ms, 5, 0.03) || !near(f.P99Ms, 5, 0.03) {
			t.Errorf("%v: rps %v, error rate %v, p50 %v, p99 %v; want 10, 0.1, 5ms, 5ms", tt.window, f.RPS, f.ErrorRate, f.P50Ms, f.P99Ms)
		}
	}
}

func TestTrafficWindowOfAYoungBookStartsAtItsOldestSample(t *testing.T) {
	b := newTrafficBook()
	b.record("n1", []api.TrafficReport{cumulative("web", 1, 700, 0, time.Millisecond)}, trafficT0)
	if f := one(t, b.window("default", "web", time.Minute, trafficT0, nil), 1); f.Requests != 0 || f.RPS != 0 || f.Nodes != 1 {
		t.Errorf("one sample: %+v; want nothing counted (what came before the first sample is unknown)", f)
	}
	b.record("n1", []api.TrafficReport{cumulative("web", 1, 720, 0, time.Millisecond)}, trafficT0.Add(2*time.Second))
	f := one(t, b.window("default", "web", time.Minute, trafficT0.Add(2*time.Second), nil), 1)
	if f.Requests != 20 || !near(f.RPS, 10, 1e-9) {
		t.Errorf("two samples 2 s apart: %d requests at %v/s; want 20 at 10/s (the rate over the samples' span)", f.Requests, f.RPS)
	}
}

func TestTrafficSumsNodesAndReadsQuantilesFromTheMergedHistogram(t *testing.T) {
	b := newTrafficBook()
	// n1 served 1000 fast requests, n2 five slow ones. The worst node's p99
	// is 200ms; the service's is 1ms. The reports' own (windowed) P99Ms
	// say otherwise and must not count.
	for i, at := range []time.Time{trafficT0, trafficT0.Add(2 * time.Second)} {
		fast := cumulative("web", 1, uint64(i*1000), 0, time.Millisecond)
		slow := cumulative("web", 1, uint64(i*5), uint64(i*5), 200*time.Millisecond)
		fast.P99Ms, slow.P99Ms = 999, 999
		fast.InFlight, slow.InFlight = 3, 4
		b.record("n1", []api.TrafficReport{fast}, at)
		b.record("n2", []api.TrafficReport{slow}, at)
	}
	f := one(t, b.window("default", "web", 10*time.Second, trafficT0.Add(3*time.Second), nil), 1)
	if f.Requests != 1005 || f.Errors != 5 || f.Nodes != 2 || f.InFlight != 7 || !near(f.RPS, 502.5, 1e-9) {
		t.Errorf("figures %+v; want 1005 requests, 5 errors, 2 nodes, 7 in flight, 502.5/s", f)
	}
	if !near(f.P99Ms, 1, 0.03) || !near(f.P50Ms, 1, 0.03) || f.Latency.Total() != 1005 {
		t.Errorf("p50 %v, p99 %v over %d; want 1ms both, from the merged histogram (not the worst node's 200ms)", f.P50Ms, f.P99Ms, f.Latency.Total())
	}
	if !near(f.ErrorRate, 5.0/1005, 1e-9) {
		t.Errorf("error rate %v, want 5/1005", f.ErrorRate)
	}
}

func TestTrafficCounterResetCountsTheNewCumulativeValues(t *testing.T) {
	b := newTrafficBook()
	at := func(s int) time.Time { return trafficT0.Add(time.Duration(s) * time.Second) }
	b.record("n1", []api.TrafficReport{cumulative("web", 1, 1000, 10, time.Millisecond)}, at(0))
	b.record("n1", []api.TrafficReport{cumulative("web", 1, 1100, 10, time.Millisecond)}, at(2))
	// The agent restarted: its proxy counts from 0 again.
	b.record("n1", []api.TrafficReport{cumulative("web", 1, 30, 1, time.Millisecond)}, at(4))
	b.record("n1", []api.TrafficReport{cumulative("web", 1, 60, 2, time.Millisecond)}, at(6))
	f := one(t, b.window("default", "web", 10*time.Second, at(6), nil), 1)
	// 100 before the restart, 60 since: the step over the reset counts
	// the new cumulative 30 whole.
	if f.Requests != 160 || f.Errors != 2 || f.Latency.Total() != 160 {
		t.Errorf("across a reset: %d requests, %d errors, histogram of %d; want 160, 2, 160", f.Requests, f.Errors, f.Latency.Total())
	}
	// A window starting after the reset sees only what came after it.
	if f := one(t, b.window("default", "web", 2*time.Second, at(6), nil), 1); f.Requests != 30 {
		t.Errorf("window after the reset: %d requests, want 30", f.Requests)
	}

	// A restart the request counter hides (more requests since than
	// before) still shows in the histogram: no bucket may go down.
	b.record("n2", []api.TrafficReport{cumulative("api", 1, 100, 0, time.Millisecond)}, at(0))
	b.record("n2", []api.TrafficReport{cumulative("api", 1, 150, 0, 5*time.Millisecond)}, at(2))
	if f := one(t, b.window("default", "api", 10*time.Second, at(2), nil), 1); f.Requests != 150 || f.Latency.Total() != 150 || !near(f.P50Ms, 5, 0.03) {
		t.Errorf("reset seen in the histogram: %d requests, histogram of %d, p50 %v; want 150, 150, 5ms", f.Requests, f.Latency.Total(), f.P50Ms)
	}
}

func TestTrafficOfNodesThatStoppedReportingCountsForNothing(t *testing.T) {
	b := newTrafficBook()
	at := func(s int) time.Time { return trafficT0.Add(time.Duration(s) * time.Second) }
	// "gone" reports until 20 s, "alive" on.
	report := func(from, to int) {
		for s := from; s <= to; s += 2 {
			if s <= 20 {
				gone := cumulative("web", 1, uint64(10*s), 0, time.Millisecond)
				gone.InFlight = 5
				b.record("gone", []api.TrafficReport{gone}, at(s))
			}
			alive := cumulative("web", 1, uint64(s), 0, time.Millisecond)
			alive.InFlight = 2
			b.record("alive", []api.TrafficReport{alive}, at(s))
		}
	}
	check := func(when string, f api.TrafficFigures, nodes int, requests uint64, inFlight int64) {
		t.Helper()
		if f.Nodes != nodes || f.Requests != requests || f.InFlight != inFlight {
			t.Errorf("%s: %d nodes, %d requests, %d in flight; want %d, %d, %d", when, f.Nodes, f.Requests, f.InFlight, nodes, requests, inFlight)
		}
	}
	report(0, 22)
	check("at 22 s", one(t, b.window("default", "web", 10*time.Second, at(22), nil), 1), 2, 80+10, 5+2)
	// At 32 s gone's newest report (20 s) is still within 10 s plus two
	// report intervals: it counts, though its sample at 20 s minus its
	// sample at 20 s (the newest at or before 22 s) is nothing, and its
	// requests in flight are too old to count.
	report(24, 32)
	check("at 32 s", one(t, b.window("default", "web", 10*time.Second, at(32), nil), 1), 2, 10, 2)
	report(34, 36)
	check("at 36 s", one(t, b.window("default", "web", 10*time.Second, at(36), nil), 1), 1, 10, 2)
	// The minute window still reaches back to what gone served.
	check("minute at 36 s", one(t, b.window("default", "web", time.Minute, at(36), nil), 1), 2, 200+36, 2)

	// A series the node no longer reports (its proxy restarted) keeps
	// what it counted but has nothing in flight.
	b.record("alive", []api.TrafficReport{cumulative("other", 1, 1, 0, time.Millisecond)}, at(38))
	check("series left out at 38 s", one(t, b.window("default", "web", 10*time.Second, at(38), nil), 1), 1, 8, 0)
}

func TestTrafficOfPreviewAndCanaryEntriesCountsTowardsTheService(t *testing.T) {
	b := newTrafficBook()
	for i, at := range []time.Time{trafficT0, trafficT0.Add(2 * time.Second)} {
		n := uint64(10 * i)
		b.record("n1", []api.TrafficReport{
			cumulative("web", 1, n, 0, time.Millisecond),
			cumulative("web-canary", 2, 2*n, 0, time.Millisecond),
			cumulative("web-preview", 2, 3*n, 0, time.Millisecond),
			cumulative("web-preview", 3, 4*n, 0, time.Millisecond),
		}, at)
		b.record("n2", []api.TrafficReport{cumulative("web-canary", 2, n, 0, time.Millisecond)}, at)
	}
	now := trafficT0.Add(2 * time.Second)
	figs := b.window("default", "web", 10*time.Second, now, func(string, string) bool { return false })
	if len(figs) != 3 || figs[0].Revision != 1 || figs[1].Revision != 2 || figs[2].Revision != 3 {
		t.Fatalf("figures %+v; want revisions 1, 2, 3 in order", figs)
	}
	if figs[0].Requests != 10 || figs[1].Requests != 20+30+10 || figs[1].Nodes != 2 || figs[2].Requests != 40 {
		t.Errorf("figures %+v; want 10, 60 (over 2 nodes) and 40 requests", figs)
	}
	// A real service named web-canary keeps its own figures.
	realCanary := func(ns, name string) bool { return name == "web-canary" }
	if f := one(t, b.window("default", "web", 10*time.Second, now, realCanary), 2); f.Requests != 30 || f.Nodes != 1 {
		t.Errorf("with a service web-canary: revision 2 %+v; want only web-preview's 30 requests", f)
	}
	if f := one(t, b.window("default", "web-canary", 10*time.Second, now, realCanary), 2); f.Requests != 30 || f.Nodes != 2 {
		t.Errorf("service web-canary: %+v; want its own 30 requests", f)
	}
	if got := b.services(realCanary); len(got) != 2 || got[0] != (serviceKey{"default", "web"}) || got[1] != (serviceKey{"default", "web-canary"}) {
		t.Errorf("services = %v, want web and web-canary", got)
	}
	if got := b.services(nil); len(got) != 1 || got[0] != (serviceKey{"default", "web"}) {
		t.Errorf("services without a web-canary = %v, want web only", got)
	}
}

func TestTrafficHistoryIsBoundedHoweverOftenNodesReport(t *testing.T) {
	b := newTrafficBook()
	var now time.Time
	for i := 0; i <= 3000; i++ { // every 100 ms for 5 minutes
		now = trafficT0.Add(time.Duration(i) * 100 * time.Millisecond)
		b.record("n1", []api.TrafficReport{cumulative("web", 1, uint64(i), 0, time.Millisecond)}, now)
	}
	h := b.nodes["n1"].services[serviceKey{"default", "web"}][1]
	if limit := int(trafficMaxWindow/trafficMinSpacing) + 3; len(h.samples) > limit {
		t.Errorf("%d samples kept, want at most %d", len(h.samples), limit)
	}
	if oldest := h.samples[0].at; oldest.After(now.Add(-trafficMaxWindow)) {
		t.Errorf("oldest sample %v after now-1m: the minute window lost its baseline", now.Sub(oldest))
	}
	f := one(t, b.window("default", "web", time.Minute, now, nil), 1)
	if f.Requests < 600 || f.Requests > 610 || !near(f.RPS, 10, 0.02) {
		t.Errorf("minute window: %d requests at %v/s; want 600 (up to a second more) at 10/s", f.Requests, f.RPS)
	}

	// Nodes that stopped reporting go within about a window.
	b.record("n2", nil, now.Add(trafficMaxWindow+trafficStaleMargin+time.Second))
	b.record("n2", nil, now.Add(2*trafficMaxWindow+trafficStaleMargin+2*time.Second))
	if _, ok := b.nodes["n1"]; ok || len(b.order) != 1 {
		t.Errorf("a node silent for minutes is still in the book (order %v)", b.order)
	}
}

// trafficServer is a Server that leads, with service default/web and a
// fake clock, and nothing else.
func trafficServer(t *testing.T) (*Server, *clock.Fake) {
	b := newStateBuilder(t)
	b.apply(state.CmdUpsertService, &state.UpsertService{Spec: webSpec(t, "web", 1, ""), VIPPool: DefaultVIPCIDR, Time: trafficT0})
	fake := clock.NewFake(trafficT0)
	s := &Server{cfg: Config{Clock: fake}, store: b.fsm.Store(), traffic: newTrafficBook()}
	s.leading.Store(true)
	return s, fake
}

func TestServerTrafficUsesItsClockAndShowsBothWindows(t *testing.T) {
	s, fake := trafficServer(t)
	ctx := context.Background()
	for s2 := 0; s2 <= 70; s2 += 2 {
		n := uint64(20 * s2)
		if err := s.ReportTraffic(ctx, "n1", []api.TrafficReport{cumulative("web", 1, n, n/20, 3*time.Millisecond),
			cumulative("web-canary", 2, n/2, 0, 30*time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
		if s2 < 70 {
			fake.Advance(2 * time.Second)
		}
	}
	got, err := s.Traffic(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if got.Namespace != "default" || got.Service != "web" || len(got.Windows) != 2 ||
		got.Windows[0].Window != api.Duration(10*time.Second) || got.Windows[1].Window != api.Duration(time.Minute) {
		t.Fatalf("traffic %+v; want windows 10s and 1m of default/web", got)
	}
	for i, want := range []uint64{200, 1200} {
		w := got.Windows[i]
		if len(w.Revisions) != 2 || w.Revisions[0].Requests != want || w.Revisions[1].Requests != want/2 || !near(w.Revisions[0].RPS, 20, 1e-9) {
			t.Errorf("window %v: %+v; want %d and %d requests at 20/s", w.Window, w.Revisions, want, want/2)
		}
	}
	if figs := s.trafficWindow("default", "web", 10*time.Second); len(figs) != 2 || figs[1].Revision != 2 || !near(figs[1].P99Ms, 30, 0.03) {
		t.Errorf("trafficWindow = %+v; want the canary's figures as revision 2 with p99 30ms", figs)
	}
	// Time passes with no reports: the figures age out.
	fake.Advance(15 * time.Second)
	if figs := s.trafficWindow("default", "web", 10*time.Second); len(figs) != 0 {
		t.Errorf("15 s after the last report: %+v; want nothing", figs)
	}
	if _, err := s.Traffic(ctx, "default", "nope"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("traffic of a missing service: %v, want ErrNotFound", err)
	}
	s.leading.Store(false)
	if err := s.ReportTraffic(ctx, "n1", nil); !errors.Is(err, api.ErrNoLeader) {
		t.Errorf("report to a follower: %v, want ErrNoLeader", err)
	}
}

func TestTrafficCollectorExposesTheWindowsOnTheLeader(t *testing.T) {
	s, fake := trafficServer(t)
	ctx := context.Background()
	for i := range 3 {
		n := uint64(100 * i)
		r := cumulative("web", 1, n, n/4, 250*time.Millisecond)
		r.InFlight = 6
		idle := cumulative("web", 2, 0, 0, 0)
		if err := s.ReportTraffic(ctx, "n1", []api.TrafficReport{r, idle}); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			fake.Advance(2 * time.Second)
		}
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newTrafficCollector(s))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			values[f.GetName()+"{"+strings.Join(labels, ",")+"}"] = m.GetGauge().GetValue()
		}
	}
	for key, want := range map[string]float64{
		"flotilla_service_requests_per_second{namespace=default,revision=1,service=web,window=10s}": 50,
		"flotilla_service_requests_per_second{namespace=default,revision=1,service=web,window=1m}":  50,
		"flotilla_service_error_ratio{namespace=default,revision=1,service=web,window=10s}":         0.25,
		"flotilla_service_latency_p99_seconds{namespace=default,revision=1,service=web,window=1m}":  0.25,
		"flotilla_service_latency_p50_seconds{namespace=default,revision=1,service=web,window=10s}": 0.25,
		"flotilla_service_in_flight_requests{namespace=default,revision=1,service=web}":             6,
		"flotilla_service_requests_per_second{namespace=default,revision=2,service=web,window=10s}": 0,
	} {
		got, ok := values[key]
		if !ok || !near(got, want, 0.03) && got != want {
			t.Errorf("%s = %v (present %v), want %v", key, got, ok, want)
		}
	}
	if _, ok := values["flotilla_service_error_ratio{namespace=default,revision=2,service=web,window=10s}"]; ok {
		t.Error("an error ratio for a revision without requests; want none")
	}
	s.leading.Store(false)
	if families, _ := reg.Gather(); len(families) != 0 {
		t.Errorf("a follower exposes %d families of traffic, want none", len(families))
	}
}

// A report held up (a failover: the agent's call waited for a new
// leader) arrives close to the next one; the rate counts the time
// between the proxy's readings, not between the arrivals, which made a
// new leader see 2 to 3 times the load and its autoscaler panic.
func TestTrafficRateCountsTheProxysReadingsNotTheirArrivals(t *testing.T) {
	b := newTrafficBook()
	read := trafficT0.Add(-30 * time.Second) // the node's clock need not agree with the leader's
	first := cumulative("web", 1, 1000, 0, time.Millisecond)
	first.At = read
	b.record("n1", []api.TrafficReport{first}, trafficT0)
	// 3 s later on the node (100 rps), received 1 s after the first.
	second := cumulative("web", 1, 1300, 0, time.Millisecond)
	second.At = read.Add(3 * time.Second)
	b.record("n1", []api.TrafficReport{second}, trafficT0.Add(time.Second))
	f := one(t, b.window("default", "web", 6*time.Second, trafficT0.Add(time.Second), nil), 1)
	if f.Requests != 300 || !near(f.RPS, 100, 1e-9) {
		t.Fatalf("%d requests at %v/s; want 300 at 100/s (over the 3 s between the readings, not the 1 s between arrivals)", f.Requests, f.RPS)
	}
	// Without readings' times (an older agent), the arrivals it is.
	old := newTrafficBook()
	old.record("n1", []api.TrafficReport{cumulative("web", 1, 1000, 0, time.Millisecond)}, trafficT0)
	old.record("n1", []api.TrafficReport{cumulative("web", 1, 1300, 0, time.Millisecond)}, trafficT0.Add(time.Second))
	if f := one(t, old.window("default", "web", 6*time.Second, trafficT0.Add(time.Second), nil), 1); !near(f.RPS, 300, 1e-9) {
		t.Fatalf("without readings' times: %v/s, want 300/s over the arrivals", f.RPS)
	}
}
