package shadowdiff

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"flotilla/api"
)

// demo answers as the demo workload's GET / does, from replica host at
// time at; a 500 carries an error as its injected errors do.
func demo(version, host string, at time.Time, status int) Answer {
	body := fmt.Sprintf(`{"version":%q,"node":"n1","allocation":"alloc-%s","hostname":%q,"time":%q`,
		version, host, host, at.UTC().Format(time.RFC3339Nano))
	if status == 500 {
		body += `,"error":"injected error (error rate 0.1)"`
	}
	return Answer{Status: status, Body: []byte(body + "}\n"), Header: map[string][]string{
		"Content-Type": {"application/json"}, "Date": {at.UTC().Format(time.RFC1123)}, "Content-Length": {fmt.Sprint(len(body) + 2)},
	}}
}

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// shadow plays n mirrored GET / requests: the primary from stable replica
// web-a, every baselineEvery-th also to stable replica web-b (0: never),
// the candidate's answer from candidate(i).
func shadow(g *Aggregator, from, n, baselineEvery int, candidate func(i int, at time.Time) Answer) {
	for i := from; i < from+n; i++ {
		at := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		primary := demo("v1", "web-a", at, 200)
		var baseline *Answer
		if baselineEvery > 0 && i%baselineEvery == 0 {
			b := demo("v1", "web-b", at.Add(time.Millisecond), 200)
			baseline = &b
		}
		g.Record(Request{Method: "GET", Target: fmt.Sprintf("/?i=%d", i)}, primary, candidate(i, at.Add(2*time.Millisecond)), baseline)
	}
}

func aggregator(t *testing.T, opts Options, ignore ...string) *Aggregator {
	t.Helper()
	return NewAggregator(comparer(t, api.ShadowCompare{Status: true, Body: true, IgnoreJSONFields: ignore}), opts)
}

func field(t *testing.T, e EndpointReport, name string) FieldReport {
	t.Helper()
	for _, f := range e.Fields {
		if f.Field == name {
			return f
		}
	}
	t.Fatalf("no field %s in %+v", name, e.Fields)
	return FieldReport{}
}

func only(t *testing.T, r Report) EndpointReport {
	t.Helper()
	if len(r.Endpoints) != 1 {
		t.Fatalf("endpoints %+v, want one", r.Endpoints)
	}
	return r.Endpoints[0]
}

func TestNoiseLearningIgnoresHostnameAllocationAndTime(t *testing.T) {
	g := aggregator(t, Options{})
	same := func(i int, at time.Time) Answer { return demo("v1", "web-c", at, 200) }
	shadow(g, 0, 200, 4, same)
	r := g.Report()
	e := only(t, r)
	// The 20th noise comparison is request 76: from it on comparisons are
	// judged, and none of them differs but in noise.
	if e.Endpoint != "GET /" || e.Comparisons != 200 || e.NoiseComparisons != 50 || e.Judged != 124 || e.Differing != 0 || e.Learning {
		t.Fatalf("endpoint %+v", e)
	}
	if r.DiffRate != 0 || r.Judged != 124 || r.Comparisons != 200 {
		t.Fatalf("report %+v, want a diff rate of 0 over 124 judged comparisons", r)
	}
	for _, name := range []string{"body.hostname", "body.allocation", "body.time"} {
		f := field(t, e, name)
		if !f.Noise || f.Counted != 0 || f.CandidateRate != 1 || f.NoiseRate != 1 || f.DiffRate != 0 {
			t.Errorf("%s: %+v, want noise: differing always, in stable against itself too", name, f)
		}
	}
	if len(e.Fields) != 3 {
		t.Errorf("fields %+v: Date and Content-Length are never compared, version and node agree", e.Fields)
	}

	// Now the candidate changes a real field; the noise stays noise.
	changed := func(i int, at time.Time) Answer { return demo("v2", "web-c", at, 200) }
	shadow(g, 200, 100, 4, changed)
	e = only(t, g.Report())
	version := field(t, e, "body.version")
	if version.Noise || version.Counted != 100 || version.NoiseDiffs != 0 || e.Differing != 100 || e.Judged != 224 {
		t.Errorf("version: %+v in %+v, want 100 counted differences", version, e)
	}
	if ex := version.Examples; len(ex) == 0 || ex[0] != (Example{Request: "GET /?i=200", Path: "body.version", Kind: KindChanged, Stable: `"v1"`, Candidate: `"v2"`}) {
		t.Errorf("examples %+v", ex)
	}
	if e.Fields[0].Field != "body.version" {
		t.Errorf("fields in order %+v, want the counted one first", e.Fields)
	}
	for _, name := range []string{"body.hostname", "body.time"} {
		if f := field(t, e, name); !f.Noise || f.Counted != 0 {
			t.Errorf("%s: %+v, still noise", name, f)
		}
	}
}

func TestAnErrorRateShowsAsStatusDiffs(t *testing.T) {
	g := aggregator(t, Options{})
	flaky := func(i int, at time.Time) Answer {
		if i%10 == 3 {
			return demo("v1", "web-c", at, 500)
		}
		return demo("v1", "web-c", at, 200)
	}
	shadow(g, 0, 1000, 5, flaky)
	e := only(t, g.Report())
	// Judged from request 95 (the 20th noise comparison) on: 905, of which
	// every tenth failed.
	if e.Judged != 905 || e.Differing != 90 || !near(e.DiffRate, 90.0/905) {
		t.Fatalf("judged %d, differing %d, rate %v: want 90 of 905", e.Judged, e.Differing, e.DiffRate)
	}
	status := field(t, e, "status")
	if status.Noise || status.CandidateDiffs != 100 || status.Counted != 90 || status.NoiseDiffs != 0 {
		t.Errorf("status %+v", status)
	}
	if ex := status.Examples[0]; ex.Stable != "200" || ex.Candidate != "500" || ex.Request != "GET /?i=3" {
		t.Errorf("example %+v", ex)
	}
	if f := field(t, e, "body.error"); f.Counted != 90 || f.Examples[0].Kind != KindAdded {
		t.Errorf("body.error %+v", f)
	}
}

func near(a, b float64) bool { return a-b < 1e-12 && b-a < 1e-12 }

func TestNothingIsJudgedWhileLearning(t *testing.T) {
	g := aggregator(t, Options{MinNoiseComparisons: 30})
	shadow(g, 0, 100, 5, func(i int, at time.Time) Answer { return demo("v2", "web-c", at, 200) })
	e := only(t, g.Report())
	if !e.Learning || e.Judged != 0 || e.Differing != 0 || e.DiffRate != 0 || e.NoiseComparisons != 20 {
		t.Fatalf("endpoint %+v: 20 of 30 noise comparisons, nothing judged", e)
	}
	for _, f := range e.Fields {
		if f.Noise || f.Counted != 0 {
			t.Errorf("%s judged while learning: %+v", f.Field, f)
		}
	}
	if f := field(t, e, "body.version"); f.CandidateDiffs != 100 || f.CandidateRate != 1 {
		t.Errorf("candidate differences are still counted: %+v", f)
	}
}

// TestNoiseRuleThresholdAndMargin drives fields that differ at chosen
// rates, in the baseline and in the candidate.
func TestNoiseRuleThresholdAndMargin(t *testing.T) {
	type rates struct{ baseline, candidate int } // differ when i%100 < rate
	for _, tc := range []struct {
		name  string
		field rates
		noise bool
	}{
		{"always in both: noise", rates{100, 100}, true},
		{"at 30% in both: noise", rates{30, 30}, true},
		{"at the threshold: noise", rates{5, 5}, true},
		{"below the threshold: counted", rates{2, 2}, false},
		{"never in the baseline: counted", rates{0, 40}, false},
		{"half noise, always in the candidate: changed over its noise", rates{50, 100}, false},
		{"half noise, a little more in the candidate: within the margin", rates{50, 70}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := aggregator(t, Options{}, "time", "hostname", "allocation")
			answer := func(i int, differs bool) Answer {
				v := "same"
				if differs {
					v = fmt.Sprintf("other-%d", i)
				}
				return jsonAnswer(fmt.Sprintf(`{"f": %q}`, v))
			}
			for i := range 2000 {
				var baseline *Answer
				if i%2 == 0 { // the baseline sees even i: its rate is over i/2
					b := answer(i, (i/2)%100 < tc.field.baseline)
					baseline = &b
				}
				g.Record(Request{Method: "GET", Target: "/"}, answer(i, false), answer(i, i%100 < tc.field.candidate), baseline)
			}
			f := field(t, only(t, g.Report()), "body.f")
			if f.Noise != tc.noise {
				t.Errorf("%+v: noise %v, want %v", f, f.Noise, tc.noise)
			}
		})
	}
}

func TestWithoutABaselineEveryDifferenceCounts(t *testing.T) {
	g := aggregator(t, Options{NoBaseline: true})
	shadow(g, 0, 50, 2, func(i int, at time.Time) Answer { return demo("v1", "web-c", at, 200) })
	e := only(t, g.Report())
	if e.Learning || e.Judged != 50 || e.Differing != 50 || e.NoiseComparisons != 0 {
		t.Fatalf("endpoint %+v: every comparison judged at once, a baseline given is not used", e)
	}
	if f := field(t, e, "body.hostname"); f.Noise || f.Counted != 50 {
		t.Errorf("hostname %+v", f)
	}
	// ignoreJSONFields is then the way to keep noisy fields out.
	g = aggregator(t, Options{NoBaseline: true}, "hostname", "allocation", "time")
	shadow(g, 0, 50, 0, func(i int, at time.Time) Answer { return demo("v1", "web-c", at, 200) })
	if e := only(t, g.Report()); e.Differing != 0 || len(e.Fields) != 0 {
		t.Errorf("with the noisy fields ignored: %+v", e)
	}
}

func TestFiguresArePerEndpoint(t *testing.T) {
	g := aggregator(t, Options{MinNoiseComparisons: 5})
	for i := range 20 {
		// /items learns its noise (a baseline every other request), /cart never.
		b := jsonAnswer(`{"at": "b"}`)
		g.Record(Request{Method: "GET", Target: fmt.Sprintf("/items?page=%d", i)}, jsonAnswer(`{"at": "a"}`), jsonAnswer(`{"at": "c"}`), map[bool]*Answer{true: &b}[i%2 == 0])
		g.Record(Request{Method: "POST", Target: "/cart"}, jsonAnswer(`{"at": "a"}`), jsonAnswer(`{"at": "c"}`), nil)
	}
	r := g.Report()
	if len(r.Endpoints) != 2 || r.Comparisons != 40 || r.NoiseComparisons != 10 {
		t.Fatalf("report %+v", r)
	}
	items, cart := r.Endpoints[0], r.Endpoints[1]
	if items.Endpoint != "GET /items" {
		items, cart = cart, items
	}
	if items.Endpoint != "GET /items" || items.Learning || items.Judged != 12 || items.Differing != 0 || !field(t, items, "body.at").Noise {
		t.Errorf("GET /items: %+v", items)
	}
	if cart.Endpoint != "POST /cart" || !cart.Learning || cart.Judged != 0 {
		t.Errorf("POST /cart: %+v: no noise of its own learned", cart)
	}
}

func TestExamplesAndKeysAreBounded(t *testing.T) {
	g := aggregator(t, Options{NoBaseline: true})
	for i := range 50 {
		g.Record(Request{Method: "GET", Target: fmt.Sprintf("/e%d?%s", i, strings.Repeat("q", 300))},
			jsonAnswer(`{"a": 1}`), jsonAnswer(fmt.Sprintf(`{"a": 2, "k%d": 1}`, i)), nil)
	}
	r := g.Report()
	if len(r.Endpoints) != MaxEndpoints+1 || r.Comparisons != 50 {
		t.Fatalf("%d endpoints for 50 paths, want %d and %s", len(r.Endpoints), MaxEndpoints+1, OtherEndpoint)
	}
	for _, e := range r.Endpoints {
		if e.Endpoint == OtherEndpoint && e.Comparisons != 50-MaxEndpoints {
			t.Errorf("%s: %d comparisons, want %d", OtherEndpoint, e.Comparisons, 50-MaxEndpoints)
		}
		for _, f := range e.Fields {
			if len(f.Examples) > MaxExamples {
				t.Errorf("%s %s: %d examples", e.Endpoint, f.Field, len(f.Examples))
			}
			for _, ex := range f.Examples {
				if len(ex.Request) > maxRequestLine+len("…") {
					t.Errorf("request line of %d bytes", len(ex.Request))
				}
			}
		}
	}

	g = aggregator(t, Options{NoBaseline: true})
	for i := range MaxFields + 10 {
		g.Record(Request{Method: "GET", Target: "/"}, jsonAnswer(`{}`), jsonAnswer(fmt.Sprintf(`{"k%d": 1}`, i)), nil)
	}
	e := only(t, g.Report())
	if len(e.Fields) != MaxFields+1 || field(t, e, OtherField).CandidateDiffs != 10 {
		t.Errorf("%d fields, want %d and %s with 10 differences", len(e.Fields), MaxFields+1, OtherField)
	}
}

func TestMergeAddsProxiesReports(t *testing.T) {
	flaky := func(i int, at time.Time) Answer {
		if i%10 == 0 {
			return demo("v1", "web-c", at, 500)
		}
		return demo("v1", "web-c", at, 200)
	}
	one, two := aggregator(t, Options{}), aggregator(t, Options{})
	shadow(one, 0, 300, 3, flaky)
	shadow(two, 300, 500, 3, flaky)
	a, b := one.Report(), two.Report()
	m := Merge(Options{}, a, b)
	e := only(t, m)
	if m.Comparisons != 800 || m.Judged != a.Judged+b.Judged || m.Differing != a.Differing+b.Differing ||
		m.NoiseComparisons != a.NoiseComparisons+b.NoiseComparisons || !near(m.DiffRate, float64(m.Differing)/float64(m.Judged)) {
		t.Fatalf("merged %+v from %+v and %+v", m, a, b)
	}
	if f := field(t, e, "status"); f.CandidateDiffs != 80 || len(f.Examples) != MaxExamples || f.Noise {
		t.Errorf("status %+v", f)
	}
	if f := field(t, e, "body.hostname"); !f.Noise {
		t.Errorf("hostname %+v: noise in the sums too", f)
	}
	// A report goes through JSON and merges back to itself.
	raw, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if again := Merge(Options{}, back); !reflect.DeepEqual(again, a) {
		t.Errorf("merged alone:\n%+v\nwant\n%+v", again, a)
	}
	for _, key := range []string{`"comparisons"`, `"judged"`, `"differing"`, `"diffRate"`, `"noiseComparisons"`, `"endpoints"`,
		`"endpoint"`, `"fields"`, `"field"`, `"candidateDiffs"`, `"counted"`, `"noiseDiffs"`, `"candidateRate"`, `"noiseRate"`,
		`"noise"`, `"examples"`, `"request"`, `"path"`, `"stable"`, `"candidate"`} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("JSON lacks %s: %s", key, raw)
		}
	}
}

func TestRecordIsSafeForConcurrentUse(t *testing.T) {
	g := aggregator(t, Options{MinNoiseComparisons: 1})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			shadow(g, w*100, 100, 2, func(i int, at time.Time) Answer { return demo("v1", "web-c", at, 200) })
		}()
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			default:
				g.Report()
			}
		}
	}()
	wg.Wait()
	close(done)
	if r := g.Report(); r.Comparisons != 800 || r.NoiseComparisons != 400 || r.Differing != 0 {
		t.Errorf("report %+v", r)
	}
}
