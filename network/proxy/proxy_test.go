package proxy

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"flotilla/api"
	"flotilla/internal/clock"
)

func TestHTTPThroughVIP(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 1, func(int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Seen-Forwarded-For", r.Header.Get("X-Forwarded-For"))
			w.Header().Set("X-Seen-Host", r.Host)
			fmt.Fprintf(w, "%s %s", r.Method, r.URL.RequestURI())
		})
	})
	vip := freeVIP(t, port)
	p := newProxy(t, Config{Node: "n1"})
	update(t, p, httpService("web", vip, port, endpoints(3, true, bs[0].ip), only(3), ""))

	url := fmt.Sprintf("http://%s/hello?x=1", net.JoinHostPort(vip, strconv.Itoa(port)))
	r := get(t, newClient(true), url)
	if r.status != 200 || r.body != "GET /hello?x=1" {
		t.Fatalf("GET = %d %q, want 200 %q", r.status, r.body, "GET /hello?x=1")
	}
	for h, want := range map[string]string{
		HeaderRevision: "3", HeaderEndpoint: "alloc-3-" + bs[0].ip, HeaderProxy: "n1",
		"X-Seen-Host": net.JoinHostPort(vip, strconv.Itoa(port)),
	} {
		if got := r.header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	if !strings.HasPrefix(r.header.Get("X-Seen-Forwarded-For"), "127.") {
		t.Errorf("the endpoint saw X-Forwarded-For %q, want the client's address", r.header.Get("X-Seen-Forwarded-For"))
	}
	if tr := traffic(p, 3); tr.Requests != 1 || tr.Errors != 0 || tr.Service != "web" || tr.Namespace != "default" {
		t.Errorf("Traffic = %+v, want one request of default/web revision 3", tr)
	}
}

// echoUpper is a TCP endpoint that reads until the client half-closes and
// then answers what it read in upper case.
func echoUpper(t *testing.T, ln net.Listener) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				c.Write([]byte(strings.ToUpper(string(b))))
			}()
		}
	}()
}

func TestTCPThroughVIPWithHalfClose(t *testing.T) {
	t.Parallel()
	ln := listenLoopback(t, 0)
	port := ln.Addr().(*net.TCPAddr).Port
	echoUpper(t, ln)
	ip := ln.Addr().(*net.TCPAddr).IP.String()
	vip := freeVIP(t, port)
	p := newProxy(t, Config{})
	update(t, p, api.ServiceEndpoints{
		Namespace: "default", Name: "db", VIP: vip,
		Ports:     []api.Port{{Name: "db", Port: port}}, // tcp by default
		Endpoints: endpoints(1, true, ip), Routes: only(1),
	})

	for i := range 3 {
		c, err := net.Dial("tcp", net.JoinHostPort(vip, strconv.Itoa(port)))
		if err != nil {
			t.Fatal(err)
		}
		msg := fmt.Sprintf("hello %d", i)
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).CloseWrite() // the endpoint answers only after this reaches it
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(got) != strings.ToUpper(msg) {
			t.Fatalf("answer = %q, %v; want %q", got, err, strings.ToUpper(msg))
		}
	}
	p.Close() // connections are counted when they end
	if tr := traffic(p, 1); tr.Requests != 3 || tr.Errors != 0 || tr.InFlight != 0 {
		t.Errorf("Traffic = %+v, want 3 connections, no errors, none in flight", tr)
	}
}

func TestRoundRobinSpreadsEvenly(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 3, func(i int) http.Handler { return answer(strconv.Itoa(i)) })
	vip := freeVIP(t, port)
	p := newProxy(t, Config{})
	update(t, p, httpService("web", vip, port, endpoints(1, true, ipsOf(bs)...), only(1), api.BalanceRoundRobin))
	c := newClient(true)
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port)))
	for range 300 {
		if r := get(t, c, url); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
	}
	for i, b := range bs {
		if n := b.hits.Load(); n != 100 {
			t.Errorf("endpoint %d served %d of 300 requests, want 100", i, n)
		}
	}
}

func TestLeastRequestAndP2CPreferIdleEndpoints(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{api.BalanceLeastRequest, api.BalanceP2C} {
		t.Run(policy, func(t *testing.T) {
			arrived := make(chan int, 1)
			release := make(chan struct{})
			port, bs := startBackends(t, 3, func(i int) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/block" {
						arrived <- i
						<-release
					}
					io.WriteString(w, strconv.Itoa(i))
				})
			})
			t.Cleanup(func() { close(release) }) // before the backends close
			vip := freeVIP(t, port)
			p := newProxy(t, Config{Rand: rand.NewPCG(1, 2)})
			update(t, p, httpService("web", vip, port, endpoints(1, true, ipsOf(bs)...), only(1), policy))
			base := fmt.Sprintf("http://%s", net.JoinHostPort(vip, strconv.Itoa(port)))

			c := newClient(true)
			blocked := make(chan reply, 1)
			go func() { blocked <- get(t, newClient(false), base+"/block") }()
			busy := waitFor(t, arrived, "the blocking request to reach an endpoint")
			before := bs[busy].hits.Load()
			for range 60 {
				if r := get(t, c, base+"/"); r.status != 200 || r.body == strconv.Itoa(busy) {
					t.Fatalf("a request went to the busy endpoint %d (or failed): %d %q", busy, r.status, r.body)
				}
			}
			if n := bs[busy].hits.Load() - before; n != 0 {
				t.Errorf("busy endpoint served %d requests, want 0", n)
			}
			for i, b := range bs {
				if i != busy && b.hits.Load() < 20 {
					t.Errorf("idle endpoint %d served only %d of 60 requests", i, b.hits.Load())
				}
			}
			release <- struct{}{}
			if r := waitFor(t, blocked, "the blocked request"); r.status != 200 {
				t.Errorf("blocked request: %d", r.status)
			}
		})
	}
}

func TestUnreadyEndpointDrains(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	port, bs := startBackends(t, 2, func(i int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				arrived <- struct{}{}
				<-release
			}
			io.WriteString(w, strconv.Itoa(i))
		})
	})
	vip := freeVIP(t, port)
	p := newProxy(t, Config{})
	a, b := bs[0], bs[1]
	update(t, p, httpService("web", vip, port, append(endpoints(1, true, a.ip), endpoints(1, false, b.ip)...), only(1), ""))
	base := fmt.Sprintf("http://%s", net.JoinHostPort(vip, strconv.Itoa(port)))

	slow := make(chan reply, 1)
	go func() { slow <- get(t, newClient(false), base+"/slow") }()
	waitFor(t, arrived, "the slow request to reach endpoint a")

	// a turns unready, b ready: new requests go to b only.
	update(t, p, httpService("web", vip, port, append(endpoints(1, false, a.ip), endpoints(1, true, b.ip)...), only(1), ""))
	c := newClient(true)
	for range 20 {
		if r := get(t, c, base+"/"); r.body != "1" {
			t.Fatalf("request after the update answered by %q, want endpoint b", r.body)
		}
	}
	if tr := traffic(p, 1); tr.InFlight != 1 {
		t.Errorf("in flight = %d, want the slow request", tr.InFlight)
	}
	close(release)
	if r := waitFor(t, slow, "the slow request"); r.status != 200 || r.body != "0" {
		t.Errorf("the request in flight on a = %d %q, want 200 from a", r.status, r.body)
	}
	if n := a.hits.Load(); n != 1 {
		t.Errorf("endpoint a served %d requests, want only the one in flight", n)
	}
}

func TestRetryOnDeadEndpointLosesNoRequest(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 2, func(i int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%d %s %s", i, r.Method, b)
		})
	})
	dead := deadIP(t, port)
	vip := freeVIP(t, port)
	// Ejection off, so that every round meets the dead endpoint.
	p := newProxy(t, Config{Outlier: OutlierConfig{Consecutive: -1}})
	eps := append(endpoints(1, true, dead), endpoints(1, true, ipsOf(bs)...)...)
	update(t, p, httpService("web", vip, port, eps, only(1), api.BalanceRoundRobin))
	c := newClient(true)
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port)))
	for i := range 30 {
		if r := get(t, c, url); r.status != 200 {
			t.Fatalf("GET %d: %d %q", i, r.status, r.body)
		}
		// Nothing was sent to the dead endpoint, so a POST is retried too.
		if r := do(t, c, "POST", url, "payload", nil); r.status != 200 || !strings.HasSuffix(r.body, "POST payload") {
			t.Fatalf("POST %d: %d %q", i, r.status, r.body)
		}
	}
	if tr := traffic(p, 1); tr.Requests != 60 || tr.Errors != 0 {
		t.Errorf("Traffic = %+v, want 60 requests and no errors", tr)
	}
	if n := metricSum(t, p, "flotilla_proxy_connect_failures_total"); n < 10 {
		t.Errorf("connect failures = %v, want the dead endpoint's", n)
	}

	// With every endpoint dead the client gets a 503.
	update(t, p, httpService("web", vip, port, endpoints(1, true, dead), only(1), ""))
	if r := get(t, c, url); r.status != http.StatusServiceUnavailable {
		t.Errorf("all endpoints dead: %d %q, want 503", r.status, r.body)
	}
}

func TestOutlierEjection(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	failing := map[int]bool{0: true}
	port, bs := startBackends(t, 3, func(i int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			fail := failing[i]
			mu.Unlock()
			if fail {
				http.Error(w, "broken", http.StatusInternalServerError)
				return
			}
			io.WriteString(w, strconv.Itoa(i))
		})
	})
	vip := freeVIP(t, port)
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	p := newProxy(t, Config{Clock: clk})
	update(t, p, httpService("web", vip, port, endpoints(1, true, ipsOf(bs)...), only(1), api.BalanceRoundRobin))
	c := newClient(true)
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port)))
	run := func(n int) {
		for range n {
			get(t, c, url)
		}
	}
	bad := bs[0]

	run(15) // round-robin: the bad endpoint answers 5 of them, all 500
	if n := bad.hits.Load(); n != 5 {
		t.Fatalf("bad endpoint served %d of 15, want 5", n)
	}
	run(30)
	if n := bad.hits.Load(); n != 5 {
		t.Errorf("after 5 consecutive 5xx the endpoint still got %d requests", n-5)
	}

	clk.Advance(10 * time.Second) // the first ejection lasts 10s
	run(30)
	if n := bad.hits.Load(); n != 10 {
		t.Errorf("after the ejection the endpoint served %d more, want 5 (then ejected again)", n-5)
	}
	clk.Advance(10 * time.Second) // the second lasts 20s
	run(30)
	if n := bad.hits.Load(); n != 10 {
		t.Errorf("10s into the second (20s) ejection the endpoint served %d more, want 0", n-10)
	}
	mu.Lock()
	failing[0] = false
	mu.Unlock()
	clk.Advance(10 * time.Second)
	run(30)
	if n := bad.hits.Load(); n != 20 {
		t.Errorf("back from ejection, the healed endpoint served %d of 30, want 10", n-10)
	}
	if n := metricSum(t, p, "flotilla_proxy_ejections_total"); n != 2 {
		t.Errorf("ejections = %v, want 2", n)
	}
}

func TestOutlierEjectionNeverTakesMoreThanHalf(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 4, func(i int) http.Handler {
		if i == 3 {
			return answer("ok")
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "broken", http.StatusServiceUnavailable) })
	})
	vip := freeVIP(t, port)
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	p := newProxy(t, Config{Clock: clk})
	update(t, p, httpService("web", vip, port, endpoints(1, true, ipsOf(bs)...), only(1), api.BalanceRoundRobin))
	c := newClient(true)
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port)))
	for range 100 {
		get(t, c, url)
	}
	if n := metricSum(t, p, "flotilla_proxy_ejections_total"); n != 2 {
		t.Errorf("ejections = %v, want 2 of 4 endpoints (three are failing)", n)
	}
	before := make([]int64, 3)
	for i := range before {
		before[i] = bs[i].hits.Load()
	}
	for range 20 {
		get(t, c, url)
	}
	still := 0
	for i := range before {
		if bs[i].hits.Load() > before[i] {
			still++
		}
	}
	if still != 1 {
		t.Errorf("%d failing endpoints still get requests, want exactly 1 (half of 4 may be out)", still)
	}
}

// During a canary, ejection must not move a revision's share of traffic
// to another: the cap holds per revision, so a canary answering 5xx keeps
// its weight (and the analysis keeps seeing its errors) on the half of its
// endpoints left in, instead of every one being ejected and its requests
// going to the stable revision.
func TestOutlierEjectionKeepsARevisionsWeight(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 6, func(i int) http.Handler {
		if i >= 4 {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "broken", http.StatusInternalServerError) })
		}
		return answer("ok")
	})
	vip := freeVIP(t, port)
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	p := newProxy(t, Config{Clock: clk, Rand: rand.NewPCG(5, 6)})
	ips := ipsOf(bs)
	eps := append(endpoints(1, true, ips[:4]...), endpoints(2, true, ips[4:]...)...)
	routes := api.RouteTable{Split: []api.WeightedBackend{{Backend: 1, Weight: 80}, {Backend: 2, Weight: 20}}}
	update(t, p, httpService("web", vip, port, eps, routes, api.BalanceRoundRobin))
	c := newClient(true)
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port)))
	for range 400 { // some 80 requests to revision 2: enough to eject both, were it allowed
		get(t, c, url)
	}
	if n := metricSum(t, p, "flotilla_proxy_ejections_total"); n != 1 {
		t.Errorf("ejections = %v, want 1 of revision 2's 2 endpoints", n)
	}
	const n = 1000
	revs := map[string]int{}
	for range n {
		revs[get(t, c, url).header.Get(HeaderRevision)]++
	}
	if share := float64(revs["2"]) / n; share < 0.16 || share > 0.24 {
		t.Errorf("with an endpoint of revision 2 ejected, it served %.3f of requests, want its weight 0.20 ± 0.04 (%v)", share, revs)
	}
}

func TestWeightedSplitBetweenRevisions(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 2, func(i int) http.Handler { return answer(strconv.Itoa(i)) })
	vip := freeVIP(t, port)
	p := newProxy(t, Config{Rand: rand.NewPCG(3, 4)})
	eps := append(endpoints(1, true, bs[0].ip), endpoints(2, true, bs[1].ip)...)
	routes := api.RouteTable{Split: []api.WeightedBackend{{Backend: 1, Weight: 80}, {Backend: 2, Weight: 20}}}
	update(t, p, httpService("web", vip, port, eps, routes, ""))
	c := newClient(true)
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port)))
	const n = 2000
	revs := map[string]int{}
	for range n {
		revs[get(t, c, url).header.Get(HeaderRevision)]++
	}
	if share := float64(revs["2"]) / n; share < 0.17 || share > 0.23 {
		t.Errorf("revision 2 served %.3f of requests, want 0.20 ± 0.03 (%v)", share, revs)
	}
	if r1, r2 := traffic(p, 1), traffic(p, 2); r1.Requests+r2.Requests != n || int(r2.Requests) != revs["2"] {
		t.Errorf("Traffic = %+v, %+v; want it to agree with the answers %v", r1, r2, revs)
	}
}

func TestHeaderRuleRoutesThroughTheProxy(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 2, func(i int) http.Handler { return answer(strconv.Itoa(i)) })
	vip := freeVIP(t, port)
	p := newProxy(t, Config{})
	eps := append(endpoints(1, true, bs[0].ip), endpoints(2, true, bs[1].ip)...)
	routes := only(1)
	routes.Rules = []api.RouteRule{
		{Match: api.Match{Header: &api.ValueMatch{Name: "X-Group", Exact: "beta"}}, Backend: 2},
		{Match: api.Match{Cookie: &api.ValueMatch{Name: "variant", Exact: "b"}}, Backend: 2},
	}
	update(t, p, httpService("web", vip, port, eps, routes, ""))
	c := newClient(true)
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port)))
	for _, tt := range []struct {
		header http.Header
		want   string
	}{
		{nil, "0"},
		{http.Header{"X-Group": {"beta"}}, "1"},
		{http.Header{"Cookie": {"a=1; variant=b"}}, "1"},
		{http.Header{"Cookie": {"variant=a"}}, "0"},
	} {
		if r := do(t, c, "GET", url, "", tt.header); r.body != tt.want {
			t.Errorf("request with %v answered by %q, want %q", tt.header, r.body, tt.want)
		}
	}
}

func TestFallbackToAnyReadyEndpoint(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 1, func(i int) http.Handler { return answer("stable") })
	vip := freeVIP(t, port)
	p := newProxy(t, Config{})
	// Revision 2 has no ready endpoint yet; revision 1 serves meanwhile.
	eps := endpoints(1, true, bs[0].ip)
	update(t, p, httpService("web", vip, port, eps, only(2), ""))
	if r := get(t, newClient(false), fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port)))); r.status != 200 || r.body != "stable" {
		t.Errorf("GET = %d %q, want revision 1's answer", r.status, r.body)
	}
}

func TestStickyCookie(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 2, func(i int) http.Handler { return answer(strconv.Itoa(i)) })
	vip := freeVIP(t, port)
	p := newProxy(t, Config{})
	eps := append(endpoints(1, true, bs[0].ip), endpoints(2, true, bs[1].ip)...)
	sticky := &api.StickyRoute{Cookie: "flotilla-web"}
	half := api.RouteTable{Split: []api.WeightedBackend{{Backend: 1, Weight: 50}, {Backend: 2, Weight: 50}}, Sticky: sticky}
	update(t, p, httpService("web", vip, port, eps, half, ""))
	c := newClient(true)
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port)))

	first := get(t, c, url)
	cookies := (&http.Response{Header: first.header}).Cookies()
	if len(cookies) != 1 || cookies[0].Name != "flotilla-web" || cookies[0].Value != "r"+first.header.Get(HeaderRevision) {
		t.Fatalf("first answer's cookies = %v, want flotilla-web=r%s", cookies, first.header.Get(HeaderRevision))
	}
	jar := http.Header{"Cookie": {cookies[0].Name + "=" + cookies[0].Value}}
	for range 50 {
		r := do(t, c, "GET", url, "", jar)
		if r.body != first.body || r.header.Get("Set-Cookie") != "" {
			t.Fatalf("with the cookie: answered by %q (Set-Cookie %q), want %q and no new cookie", r.body, r.header.Get("Set-Cookie"), first.body)
		}
	}

	// The client's revision leaves the split: it is reassigned.
	kept, _ := strconv.Atoi(first.header.Get(HeaderRevision))
	other := 3 - kept
	update(t, p, httpService("web", vip, port, eps, api.RouteTable{Split: []api.WeightedBackend{{Backend: other, Weight: 100}}, Sticky: sticky}, ""))
	r := do(t, c, "GET", url, "", jar)
	if r.header.Get(HeaderRevision) != strconv.Itoa(other) || !strings.HasPrefix(r.header.Get("Set-Cookie"), fmt.Sprintf("flotilla-web=r%d", other)) {
		t.Errorf("after the split changed: revision %s, Set-Cookie %q; want revision %d and a new cookie",
			r.header.Get(HeaderRevision), r.header.Get("Set-Cookie"), other)
	}
}

func TestMirroredAnswersNeverReachTheClient(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, uri, body, header string
	}
	tests := []struct {
		name      string
		primary   string // JSON body
		mirror    string
		mirrorErr bool // the mirror answers 500
		compare   api.ShadowCompare
		wantDiffs bool
	}{
		{"same answer but ignored fields", `{"v":1,"time":"10:00","meta":{"time":1}}`, `{"meta":{"time":2},"time":"10:01","v":1}`, false,
			api.ShadowCompare{Status: true, Body: true, IgnoreHeaders: []string{"X-Replica"}, IgnoreJSONFields: []string{"time"}}, false},
		{"different body", `{"v":1}`, `{"v":2}`, false, api.ShadowCompare{Status: true, Body: true, IgnoreHeaders: []string{"X-Replica"}}, true},
		{"different body not compared", `{"v":1}`, `{"v":2}`, false, api.ShadowCompare{Status: true, IgnoreHeaders: []string{"X-Replica"}}, false},
		{"different status", `{"v":1}`, `{"v":1}`, true, api.ShadowCompare{Status: true, IgnoreHeaders: []string{"X-Replica"}}, true},
		{"different header", `{"v":1}`, `{"v":1}`, false, api.ShadowCompare{Status: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mirrorSaw := make(chan seen, 100)
			port, bs := startBackends(t, 2, func(i int) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					w.Header().Set("Content-Type", "application/json")
					w.Header().Set("X-Replica", strconv.Itoa(i))
					if i == 0 {
						io.WriteString(w, tt.primary)
						return
					}
					mirrorSaw <- seen{r.Method, r.URL.RequestURI(), string(b), r.Header.Get("X-Test")}
					if tt.mirrorErr {
						w.WriteHeader(500)
					}
					io.WriteString(w, tt.mirror)
				})
			})
			vip := freeVIP(t, port)
			p := New(Config{})
			eps := append(endpoints(1, true, bs[0].ip), endpoints(2, true, bs[1].ip)...)
			routes := only(1)
			routes.Mirrors = []api.Mirror{{Backend: 2, Percent: 100, Methods: []string{"POST"}, Compare: tt.compare}}
			update(t, p, httpService("web", vip, port, eps, routes, ""))
			c := newClient(true)
			url := fmt.Sprintf("http://%s/orders?id=7", net.JoinHostPort(vip, strconv.Itoa(port)))
			const n = 20
			for i := range n {
				r := do(t, c, "POST", url, fmt.Sprintf("order %d", i), http.Header{"X-Test": {"yes"}})
				if r.status != 200 || r.body != tt.primary || r.header.Get(HeaderRevision) != "1" {
					t.Fatalf("client got %d %q from revision %s; want only the primary's answer", r.status, r.body, r.header.Get(HeaderRevision))
				}
			}
			p.Close() // waits for the mirrors
			for i := range n {
				s := waitFor(t, mirrorSaw, "a mirrored request")
				if s.method != "POST" || s.uri != "/orders?id=7" || !strings.HasPrefix(s.body, "order ") || s.header != "yes" {
					t.Errorf("mirrored request %d = %+v, want a copy of the original", i, s)
				}
			}
			tr := traffic(p, 2)
			if tr.Mirrored != n {
				t.Errorf("Mirrored = %d, want %d", tr.Mirrored, n)
			}
			if want := map[bool]uint64{true: n, false: 0}[tt.wantDiffs]; tr.Differences != want {
				t.Errorf("Differences = %d, want %d", tr.Differences, want)
			}
			if r1 := traffic(p, 1); r1.Requests != n || r1.Mirrored != 0 {
				t.Errorf("primary Traffic = %+v, want %d requests and no mirrors", r1, n)
			}
		})
	}
}

func TestMirrorsSkipLargeBodies(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 2, func(i int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, _ := io.Copy(io.Discard, r.Body)
			fmt.Fprintf(w, "%d", n)
		})
	})
	vip := freeVIP(t, port)
	p := New(Config{})
	eps := append(endpoints(1, true, bs[0].ip), endpoints(2, true, bs[1].ip)...)
	routes := only(1)
	routes.Mirrors = []api.Mirror{{Backend: 2, Percent: 100, Methods: []string{"PUT"}}}
	update(t, p, httpService("web", vip, port, eps, routes, ""))
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port)))
	big := strings.Repeat("x", maxMirrorBody+10)
	if r := do(t, newClient(false), "PUT", url, big, nil); r.body != strconv.Itoa(len(big)) {
		t.Errorf("primary read %s bytes, want %d", r.body, len(big))
	}
	p.Close()
	if n := bs[1].hits.Load(); n != 0 {
		t.Errorf("a body over 1 MiB was mirrored")
	}
}

func TestTwoProxiesShareAVIPWithReusePort(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 1, func(int) http.Handler { return answer("ok") })
	vip := freeVIP(t, port)
	svc := httpService("web", vip, port, endpoints(1, true, bs[0].ip), only(1), "")
	a, b := New(Config{Node: "n1"}), newProxy(t, Config{Node: "n2"})
	defer a.Close()
	update(t, a, svc)
	update(t, b, svc)
	c := newClient(false) // a new connection each time: the kernel spreads them
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port)))
	by := map[string]int{}
	for range 200 {
		r := get(t, c, url)
		if r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		by[r.header.Get(HeaderProxy)]++
	}
	if by["n1"] == 0 || by["n2"] == 0 {
		t.Errorf("connections per proxy = %v, want both to serve", by)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if r := get(t, c, url); r.status != 200 || r.header.Get(HeaderProxy) != "n2" {
			t.Fatalf("after n1 closed: %d from %q, want 200 from n2", r.status, r.header.Get(HeaderProxy))
		}
	}
}

func TestUpdateClosesListeners(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 1, func(int) http.Handler { return answer("ok") })
	vip, vip2 := freeVIP(t, port), freeVIP(t, port)
	p := newProxy(t, Config{})
	web := httpService("web", vip, port, endpoints(1, true, bs[0].ip), only(1), "")
	db := api.ServiceEndpoints{Namespace: "default", Name: "db", VIP: vip2, Ports: []api.Port{{Name: "db", Port: port}},
		Endpoints: endpoints(1, true, bs[0].ip), Routes: only(1)}
	headless := api.ServiceEndpoints{Namespace: "default", Name: "h", Headless: true, Ports: []api.Port{{Name: "h", Port: port}}}
	update(t, p, web, db, headless)
	addr := net.JoinHostPort(vip, strconv.Itoa(port))
	if r := get(t, newClient(false), "http://"+addr+"/"); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}

	update(t, p, db)
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("web's VIP still accepts connections after it left")
	}
	if c, err := net.Dial("tcp", net.JoinHostPort(vip2, strconv.Itoa(port))); err != nil {
		t.Errorf("db's VIP stopped: %v", err)
	} else {
		c.Close()
	}
	update(t, p)
	if c, err := net.Dial("tcp", net.JoinHostPort(vip2, strconv.Itoa(port))); err == nil {
		c.Close()
		t.Errorf("db's VIP still accepts connections after it left")
	}
}

func TestListenerThatCannotBindDoesNotStopTheOthers(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 1, func(int) http.Handler { return answer("ok") })
	taken := listenLoopback(t, port) // without SO_REUSEPORT: nobody can share it
	defer taken.Close()
	busyVIP := taken.Addr().(*net.TCPAddr).IP.String()
	vip := freeVIP(t, port)
	p := newProxy(t, Config{})
	eps := endpoints(1, true, bs[0].ip)
	err := p.Update([]api.ServiceEndpoints{
		httpService("blocked", busyVIP, port, eps, only(1), ""),
		httpService("web", vip, port, eps, only(1), ""),
	})
	if err == nil || !strings.Contains(err.Error(), "default/blocked") || !strings.Contains(err.Error(), busyVIP) {
		t.Errorf("Update error = %v, want one naming the service and address that could not bind", err)
	}
	if r := get(t, newClient(false), fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port)))); r.status != 200 {
		t.Errorf("the other service: %d", r.status)
	}
	// Once the address is free, the next Update opens it.
	taken.Close()
	update(t, p, httpService("blocked", busyVIP, port, eps, only(1), ""), httpService("web", vip, port, eps, only(1), ""))
	if r := get(t, newClient(false), fmt.Sprintf("http://%s/", net.JoinHostPort(busyVIP, strconv.Itoa(port)))); r.status != 200 {
		t.Errorf("after the retry: %d", r.status)
	}
}

func TestNoReadyEndpoint(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 1, func(int) http.Handler { return answer("ok") })
	vip, vip2 := freeVIP(t, port), freeVIP(t, port)
	p := newProxy(t, Config{})
	eps := endpoints(1, false, bs[0].ip)
	update(t, p,
		httpService("web", vip, port, eps, only(1), ""),
		api.ServiceEndpoints{Namespace: "default", Name: "db", VIP: vip2, Ports: []api.Port{{Name: "db", Port: port, Protocol: "tcp"}},
			Endpoints: eps, Routes: only(1)})

	r := get(t, newClient(false), fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port))))
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "no ready endpoint") {
		t.Errorf("HTTP with no ready endpoint = %d %q, want 503 saying so", r.status, r.body)
	}
	if n := bs[0].hits.Load(); n != 0 {
		t.Errorf("the unready endpoint got %d requests", n)
	}
	c, err := net.Dial("tcp", net.JoinHostPort(vip2, strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Errorf("TCP with no ready endpoint: read %d, %v; want the connection closed", n, err)
	}
	if tr := traffic(p, 1); tr.Errors != 1 {
		t.Errorf("Traffic = %+v, want the HTTP 503 counted as an error", tr)
	}
}

func isReset(err error) bool { return err != nil && strings.Contains(err.Error(), "reset") }

func TestTrafficLatencyAndCollectors(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 1, func(int) http.Handler { return answer("ok") })
	vip := freeVIP(t, port)
	p := newProxy(t, Config{})
	update(t, p, httpService("web", vip, port, endpoints(4, true, bs[0].ip), only(4), ""))
	c := newClient(true)
	for range 10 {
		get(t, c, fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port))))
	}
	tr := traffic(p, 4)
	if tr.Requests != 10 || tr.P50Ms <= 0 || tr.P99Ms < tr.P50Ms {
		t.Errorf("Traffic = %+v, want 10 requests with latency quantiles", tr)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(p.Collectors()...)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range families {
		have[f.GetName()] = true
	}
	for _, want := range []string{"flotilla_proxy_requests_total", "flotilla_proxy_errors_total",
		"flotilla_proxy_request_duration_seconds", "flotilla_proxy_in_flight_requests"} {
		if !have[want] {
			t.Errorf("collectors lack %s (have %v)", want, have)
		}
	}
	if got := metricSum(t, p, "flotilla_proxy_requests_total"); got != 10 {
		t.Errorf("requests counter = %v, want 10", got)
	}
}

// metricSum adds up a counter's values over all its labels.
func metricSum(t *testing.T, p *Proxy, name string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(p.Collectors()...)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func TestTCPRetriesTheDial(t *testing.T) {
	t.Parallel()
	ln := listenLoopback(t, 0)
	port := ln.Addr().(*net.TCPAddr).Port
	echoUpper(t, ln)
	live := ln.Addr().(*net.TCPAddr).IP.String()
	vip := freeVIP(t, port)
	p := newProxy(t, Config{Outlier: OutlierConfig{Consecutive: -1}})
	update(t, p, api.ServiceEndpoints{
		Namespace: "default", Name: "db", VIP: vip, LoadBalancing: api.BalanceRoundRobin,
		Ports:     []api.Port{{Name: "db", Port: port, Protocol: "tcp"}},
		Endpoints: append(endpoints(1, true, deadIP(t, port), deadIP(t, port)), endpoints(1, true, live)...),
		Routes:    only(1),
	})
	for i := range 9 {
		c, err := net.Dial("tcp", net.JoinHostPort(vip, strconv.Itoa(port)))
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("x"))
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		c.Close()
		if string(got) != "X" {
			t.Fatalf("connection %d: %q, %v; want it retried onto the live endpoint", i, got, err)
		}
	}
}

func TestCloseLetsRequestsInFlightFinish(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	port, bs := startBackends(t, 1, func(int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			arrived <- struct{}{}
			<-release
			io.WriteString(w, "done")
		})
	})
	vip := freeVIP(t, port)
	p := New(Config{})
	update(t, p, httpService("web", vip, port, endpoints(1, true, bs[0].ip), only(1), ""))
	addr := net.JoinHostPort(vip, strconv.Itoa(port))
	slow := make(chan reply, 1)
	go func() { slow <- get(t, newClient(false), "http://"+addr+"/") }()
	waitFor(t, arrived, "the request to reach the endpoint")

	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	// Close closes the listener before it waits: new connections are
	// refused while the request in flight goes on.
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) before the request in flight finished", err)
	default:
	}
	close(release)
	if r := waitFor(t, slow, "the request in flight"); r.status != 200 || r.body != "done" {
		t.Errorf("request in flight: %d %q, want 200 done", r.status, r.body)
	}
	if err := waitFor(t, closed, "Close"); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := p.Update(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close = %v, want ErrClosed", err)
	}
}

// A rollout stops a whole revision at once; until the news reaches this
// proxy, the route still sends requests to its replicas, which refuse
// connections. Every refused one is passed over, not only maxRetries of
// them, so no request fails while a live endpoint remains.
func TestRefusedEndpointsOfAStoppedRevisionDoNotFailRequests(t *testing.T) {
	t.Parallel()
	port, bs := startBackends(t, 1, func(i int) http.Handler { return answer("live") })
	var dead []string
	for range 5 {
		dead = append(dead, deadIP(t, port))
	}
	vip := freeVIP(t, port)
	p := newProxy(t, Config{Outlier: OutlierConfig{Consecutive: -1}}) // every request meets the dead ones
	eps := append(endpoints(1, true, dead...), endpoints(2, true, ipsOf(bs)...)...)
	update(t, p, httpService("web", vip, port, eps, only(1), api.BalanceRoundRobin))
	c := newClient(true)
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port)))
	for i := range 20 {
		if r := get(t, c, url); r.status != 200 || r.body != "live" {
			t.Fatalf("GET %d: %d %q, want the live endpoint's answer", i, r.status, r.body)
		}
	}
}
