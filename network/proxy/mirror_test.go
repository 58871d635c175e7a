package proxy

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
	"flotilla/internal/testutil"
)

// shadowRoutes serves revision 1 and mirrors to revision 2.
func shadowRoutes(m api.Mirror) api.RouteTable {
	routes := only(1)
	m.Backend = 2
	routes.Mirrors = []api.Mirror{m}
	return routes
}

func TestMirrorsCopyOnlyTheirMethods(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		methods  []string
		mirrored map[string]bool
	}{
		{"default: without side effects", nil,
			map[string]bool{"GET": true, "HEAD": true, "OPTIONS": true, "POST": false, "PUT": false, "DELETE": false, "PATCH": false}},
		{"POST when listed", []string{"POST"},
			map[string]bool{"GET": false, "POST": true, "PUT": false}},
		{"GET and DELETE", []string{"GET", "DELETE"},
			map[string]bool{"GET": true, "HEAD": false, "DELETE": true, "POST": false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			copied := map[string]int{}
			port, bs := startBackends(t, 2, func(i int) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					io.Copy(io.Discard, r.Body)
					if i == 1 {
						mu.Lock()
						copied[r.Method]++
						mu.Unlock()
					}
					io.WriteString(w, "ok")
				})
			})
			vip := freeVIP(t, port)
			p := New(Config{})
			eps := append(endpoints(1, true, bs[0].ip), endpoints(2, true, bs[1].ip)...)
			update(t, p, httpService("web", vip, port, eps, shadowRoutes(api.Mirror{Percent: 100, Methods: tt.methods}), ""))
			c := newClient(true)
			url := fmt.Sprintf("http://%s/cart", net.JoinHostPort(vip, strconv.Itoa(port)))
			for method := range tt.mirrored {
				for range 3 {
					if r := do(t, c, method, url, "item=1", nil); r.status != 200 || r.header.Get(HeaderRevision) != "1" {
						t.Fatalf("%s: %d from revision %s, want 200 from revision 1", method, r.status, r.header.Get(HeaderRevision))
					}
				}
			}
			p.Close() // waits for the mirrors
			mu.Lock()
			defer mu.Unlock()
			for method, want := range tt.mirrored {
				if got := copied[method]; (got == 3) != want || (got != 0 && got != 3) {
					t.Errorf("%s: revision 2 got %d copies of 3 requests, want mirrored=%v", method, got, want)
				}
			}
		})
	}
}

// seenBy records which replica saw which request, by its X-Req header.
type seenBy struct {
	mu sync.Mutex
	by map[string][]int
}

func (s *seenBy) add(req string, replica int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.by == nil {
		s.by = map[string][]int{}
	}
	s.by[req] = append(s.by[req], replica)
}

func TestBaselineGoesToAnotherStableReplicaAndNoiseIsLearned(t *testing.T) {
	t.Parallel()
	const stable, n = 3, 80
	var seen seenBy
	// Replicas 0-2 are revision 1, replica 3 revision 2. Every answer
	// names its replica (noise: any two replicas differ there); the
	// candidate also answers v 2 to every fourth request (a real change).
	port, bs := startBackends(t, stable+1, func(i int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get("X-Req")
			seen.add(id, i)
			v := 1
			if n, _ := strconv.Atoi(id); i == stable && n%4 == 0 {
				v = 2
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Replica", strconv.Itoa(i))
			json.NewEncoder(w).Encode(map[string]any{"v": v, "replica": i})
		})
	})
	vip := freeVIP(t, port)
	p := New(Config{})
	eps := append(endpoints(1, true, ipsOf(bs[:stable])...), endpoints(2, true, bs[stable].ip)...)
	routes := shadowRoutes(api.Mirror{Percent: 100, Baseline: 100, Compare: api.ShadowCompare{Status: true, Body: true}})
	update(t, p, httpService("web", vip, port, eps, routes, ""))
	c := newClient(true)
	url := fmt.Sprintf("http://%s/items", net.JoinHostPort(vip, strconv.Itoa(port)))
	primaryOf := map[string]int{}
	for i := range n {
		id := strconv.Itoa(i)
		r := do(t, c, "GET", url+"?id="+id, "", http.Header{"X-Req": {id}})
		var body struct{ V, Replica int }
		if err := json.Unmarshal([]byte(r.body), &body); err != nil || r.header.Get(HeaderRevision) != "1" || body.V != 1 || body.Replica >= stable {
			t.Fatalf("request %d: the client got %q from revision %s; want revision 1's answer", i, r.body, r.header.Get(HeaderRevision))
		}
		primaryOf[id] = body.Replica
	}
	p.Close() // waits for the mirrors

	seen.mu.Lock()
	for id, primary := range primaryOf {
		var stables []int
		candidate := 0
		for _, replica := range seen.by[id] {
			if replica == stable {
				candidate++
			} else {
				stables = append(stables, replica)
			}
		}
		if candidate != 1 || len(stables) != 2 || stables[0] == stables[1] || (stables[0] != primary && stables[1] != primary) {
			t.Errorf("request %s: served by replica %d; seen by stable replicas %v and %d candidate copies, want the primary's and one other, and one copy",
				id, primary, stables, candidate)
		}
	}
	seen.mu.Unlock()

	tr := traffic(p, 2)
	if tr.Shadow == nil {
		t.Fatalf("revision 2's traffic report has no shadow figures: %+v", tr)
	}
	r := tr.Shadow
	if r.Mirrored != n || r.Comparisons != n || r.NoiseComparisons != n || r.Judged == 0 {
		t.Fatalf("report: %d mirrored, %d comparisons, %d noise comparisons, %d judged; want %d, %d, %d and some judged",
			r.Mirrored, r.Comparisons, r.NoiseComparisons, r.Judged, n, n, n)
	}
	if len(r.Endpoints) != 1 || r.Endpoints[0].Endpoint != "GET /items" {
		t.Fatalf("endpoints %+v, want GET /items only", r.Endpoints)
	}
	fields := map[string]api.DiffField{}
	for _, f := range r.Endpoints[0].Fields {
		fields[f.Field] = f
	}
	for _, noisy := range []string{"body.replica", "header.X-Replica"} {
		if f := fields[noisy]; !f.Noise || f.Counted != 0 {
			t.Errorf("%s: %+v, want it learned as noise and never counted", noisy, f)
		}
	}
	v := fields["body.v"]
	if v.Noise || v.Counted == 0 || v.NoiseDiffs != 0 || len(v.Examples) == 0 {
		t.Fatalf("body.v: %+v, want counted against the candidate, never noise, with examples", v)
	}
	if ex := v.Examples[0]; ex.Path != "body.v" || ex.Stable != "1" || ex.Candidate != "2" || !strings.HasPrefix(ex.Request, "GET /items?id=") {
		t.Errorf("example %+v, want GET /items?id=N with body.v 1 against 2", ex)
	}
	// Every fourth request differs for real; of the judged ones, about
	// that share, and nothing else counts.
	if r.Differing != v.Counted || r.DiffRate < 0.1 || r.DiffRate > 0.45 {
		t.Errorf("%d of %d judged differ (%.2f), body.v counted %d; want only body.v, about a quarter", r.Differing, r.Judged, r.DiffRate, v.Counted)
	}
	if tr.Mirrored != n || tr.Differences != uint64(r.Differing) {
		t.Errorf("traffic counters: %d mirrored, %d differences; want %d and the report's %d", tr.Mirrored, tr.Differences, n, r.Differing)
	}
	if r1 := traffic(p, 1); r1.Shadow != nil || r1.Requests != 2*n {
		t.Errorf("revision 1: %d requests (the clients' and the baselines'), shadow %v; want %d and none", r1.Requests, r1.Shadow, 2*n)
	}
}

func TestNoBaselineWithOneStableReplica(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 2, func(i int) http.Handler { return answer(`{"v":1}`) })
	vip := freeVIP(t, port)
	p := New(Config{})
	eps := append(endpoints(1, true, bs[0].ip), endpoints(2, true, bs[1].ip)...)
	update(t, p, httpService("web", vip, port, eps, shadowRoutes(api.Mirror{Percent: 100, Baseline: 100, Compare: api.ShadowCompare{Body: true}}), ""))
	c := newClient(true)
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port)))
	for range 10 {
		get(t, c, url)
	}
	p.Close()
	if n := bs[0].hits.Load(); n != 10 {
		t.Errorf("the only stable replica got %d requests, want the 10 clients' (a baseline never goes to the primary's replica)", n)
	}
	if r := traffic(p, 2).Shadow; r == nil || r.Comparisons != 10 || r.NoiseComparisons != 0 {
		t.Errorf("report %+v, want 10 comparisons and no noise comparisons", r)
	}
}

func TestSlowShadowNeverSlowsTheClient(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	port, bs := startBackends(t, 2, func(i int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if i == 1 {
				<-release // the candidate answers only when the test says
			}
			io.WriteString(w, "ok")
		})
	})
	vip := freeVIP(t, port)
	p := New(Config{MaxMirrorsInFlight: 2})
	eps := append(endpoints(1, true, bs[0].ip), endpoints(2, true, bs[1].ip)...)
	update(t, p, httpService("web", vip, port, eps, shadowRoutes(api.Mirror{Percent: 100, Compare: api.ShadowCompare{Status: true}}), ""))
	c := newClient(true)
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port)))
	// The candidate holds every copy it gets, so each answer below came
	// without waiting for it; past two copies in flight the rest are
	// dropped, not queued.
	for i := range 20 {
		if r := get(t, c, url); r.status != 200 || r.header.Get(HeaderRevision) != "1" {
			t.Fatalf("request %d: %d from revision %s, want 200 from revision 1", i, r.status, r.header.Get(HeaderRevision))
		}
	}
	close(release)
	p.Close()
	r := traffic(p, 2).Shadow
	if r == nil || r.Mirrored != 2 || r.Dropped != 18 || r.Comparisons != 2 {
		t.Errorf("report %+v, want 2 copies mirrored and compared, 18 dropped", r)
	}
}

// A copy waits for the primary's answer MirrorTimeout on the proxy's
// clock: once a fake one has passed it, a primary that answers later is
// not compared.
func TestAMirrorWaitsForThePrimaryOnTheProxysClock(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	port, bs := startBackends(t, 2, func(i int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if i == 0 {
				<-release // the primary answers only when the test says
			}
			io.WriteString(w, "ok")
		})
	})
	vip := freeVIP(t, port)
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	p := New(Config{Clock: clk, MirrorTimeout: time.Hour})
	eps := append(endpoints(1, true, bs[0].ip), endpoints(2, true, bs[1].ip)...)
	update(t, p, httpService("web", vip, port, eps, shadowRoutes(api.Mirror{Percent: 100, Compare: api.ShadowCompare{Status: true}}), ""))
	answered := make(chan int, 1)
	go func() {
		answered <- get(t, newClient(false), fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port)))).status
	}()
	testutil.Eventually(t, 10*time.Second, "the candidate's answer", func() error {
		if r := traffic(p, 2).Shadow; r == nil || r.Mirrored != 1 {
			return fmt.Errorf("shadow figures %+v, want one copy mirrored", r)
		}
		return nil
	})
	clk.Advance(time.Hour)
	close(release)
	if status := <-answered; status != 200 {
		t.Fatalf("the client got %d, want 200", status)
	}
	p.Close() // waits for the mirrors
	if r := traffic(p, 2).Shadow; r == nil || r.Comparisons != 0 {
		t.Errorf("shadow figures %+v, want no comparison: the primary answered after an hour of the clock", r)
	}
}

func TestShadowFiguresOutliveTheMirrorForAWhile(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 2, func(i int) http.Handler { return answer("ok") })
	vip := freeVIP(t, port)
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	p := newProxy(t, Config{Clock: clk})
	eps := append(endpoints(1, true, bs[0].ip), endpoints(2, true, bs[1].ip)...)
	update(t, p, httpService("web", vip, port, eps, shadowRoutes(api.Mirror{Percent: 100}), ""))
	get(t, newClient(false), fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port))))
	// The comparison is made by the mirror's goroutine after the answer.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if r := traffic(p, 2).Shadow; r != nil && r.Comparisons == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revision 2's shadow figures never showed the comparison: %+v", traffic(p, 2).Shadow)
		}
		time.Sleep(time.Millisecond) // polling interval
	}
	update(t, p, httpService("web", vip, port, eps, only(1), "")) // the rollout ended
	clk.Advance(shadowKeep)
	if r := traffic(p, 2).Shadow; r == nil || r.Comparisons != 1 {
		t.Fatalf("%s after the mirror left: %+v, want the last figures still reported", shadowKeep, r)
	}
	clk.Advance(time.Second)
	if r := traffic(p, 2).Shadow; r != nil {
		t.Errorf("%s after the mirror left: %+v, want the figures forgotten", shadowKeep+time.Second, r)
	}
}

// A new shadow rollout of a revision of the same number (the service was
// deleted and created again: Mirror.Rollout differs) is counted afresh,
// and the report says which rollout its figures are of.
func TestANewShadowRolloutOfTheSameRevisionIsCountedAfresh(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 2, func(i int) http.Handler { return answer("ok") })
	vip := freeVIP(t, port)
	p := newProxy(t, Config{})
	eps := append(endpoints(1, true, bs[0].ip), endpoints(2, true, bs[1].ip)...)
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port)))
	compared := func(n int64, rollout uint64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; {
			tr := traffic(p, 2)
			if tr.Shadow != nil && tr.Shadow.Comparisons == n && tr.ShadowRollout == rollout {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("want %d comparisons of rollout %d, got %+v of %d", n, rollout, tr.Shadow, tr.ShadowRollout)
			}
			time.Sleep(time.Millisecond) // polling interval
		}
	}
	update(t, p, httpService("web", vip, port, eps, shadowRoutes(api.Mirror{Percent: 100, Rollout: 7}), ""))
	for range 3 {
		get(t, newClient(false), url)
	}
	compared(3, 7)
	update(t, p, httpService("web", vip, port, eps, shadowRoutes(api.Mirror{Percent: 100, Rollout: 40}), ""))
	compared(0, 40)
	get(t, newClient(false), url)
	compared(1, 40)
}

// Answers without a body (HEAD, 204) are compared too, as empty bodies.
func TestMirroredAnswersWithoutABodyAreCompared(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 2, func(i int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/none" {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"v":1}`)
		})
	})
	vip := freeVIP(t, port)
	p := New(Config{})
	eps := append(endpoints(1, true, bs[0].ip), endpoints(2, true, bs[1].ip)...)
	update(t, p, httpService("web", vip, port, eps, shadowRoutes(api.Mirror{Percent: 100, Compare: api.ShadowCompare{Status: true, Body: true}}), ""))
	c := newClient(true)
	base := fmt.Sprintf("http://%s", net.JoinHostPort(vip, strconv.Itoa(port)))
	for range 5 {
		do(t, c, "HEAD", base+"/", "", nil)
		do(t, c, "GET", base+"/none", "", nil)
		do(t, c, "GET", base+"/", "", nil)
	}
	p.Close()
	r := traffic(p, 2).Shadow
	if r == nil || r.Comparisons != 15 || r.Differing != 0 {
		t.Fatalf("report %+v, want 15 comparisons (HEAD, 204 and GET) and no difference", r)
	}
}
