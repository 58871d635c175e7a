package proxy

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"testing"

	"flotilla/api"
	"flotilla/internal/sketch"
	"flotilla/network/proxy/route"
)

// abService is an A/B service: revision 1 (A) and 2 (B), one backend each,
// that answer with their revision; POST /checkout converts (X-Conversion:
// 1) when the request says so, and answers 500 when asked to.
func abService(t *testing.T, goal api.ABGoal, userHeader string) (svc api.ServiceEndpoints, url string) {
	t.Helper()
	port, bs := startBackends(t, 2, func(i int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Fail") != "" {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			if r.Method == http.MethodPost && r.URL.Path == "/checkout" && r.Header.Get("X-Convert") != "" {
				w.Header().Set("X-Conversion", "1")
			}
			fmt.Fprintf(w, "rev %d", i+1)
		})
	})
	vip := freeVIP(t, port)
	eps := append(endpoints(1, true, bs[0].ip), endpoints(2, true, bs[1].ip)...)
	routes := api.RouteTable{
		Split: []api.WeightedBackend{{Backend: 1, Weight: 50}, {Backend: 2, Weight: 50}},
		AB:    &api.ABRoute{Salt: "salt-1", A: 1, B: 2, Split: 50, Cookie: "flotilla-ab-web", UserHeader: userHeader, Goal: goal},
	}
	return httpService("web", vip, port, eps, routes, ""), fmt.Sprintf("http://%s", net.JoinHostPort(vip, strconv.Itoa(port)))
}

// abCounts decodes what the proxy reports of a revision.
func abCounts(t *testing.T, p *Proxy, rev int) (visitors, converted uint64) {
	t.Helper()
	r := traffic(p, rev).AB
	if r == nil {
		return 0, 0
	}
	if r.Salt != "salt-1" {
		t.Fatalf("revision %d reported salt %q", rev, r.Salt)
	}
	v, err := sketch.Decode(r.Visitors)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sketch.Decode(r.Converted)
	if err != nil {
		t.Fatal(err)
	}
	return v.Count(), c.Count()
}

func near(got uint64, want int) bool { return math.Abs(float64(got)-float64(want)) <= 2 }

// Users with cookie jars keep their variant from their first answer on;
// the proxy counts each once per variant, and those whose checkout carried
// the goal header as converted.
func TestABCountsDistinctVisitorsAndConversionsByCookie(t *testing.T) {
	svc, url := abService(t, api.ABGoal{Header: "X-Conversion"}, "")
	p := newProxy(t, Config{Node: "n1"})
	update(t, p, svc)

	const users = 120
	want := map[int]int{}
	wantConverted := map[int]int{}
	for i := range users {
		jar, _ := cookiejar.New(nil)
		c := newClient(true)
		c.Jar = jar
		first := get(t, c, url+"/")
		ck := ""
		for _, raw := range first.header.Values("Set-Cookie") {
			if parsed, err := http.ParseSetCookie(raw); err == nil && parsed.Name == "flotilla-ab-web" {
				ck = raw
				if parsed.MaxAge < 30*24*3600 {
					t.Fatalf("user cookie %q does not last", raw)
				}
			}
		}
		if ck == "" {
			t.Fatalf("user %d got no A/B cookie: %v", i, first.header)
		}
		rev := first.header.Get(HeaderRevision)
		for range 3 {
			again := get(t, c, url+"/")
			if again.header.Get(HeaderRevision) != rev {
				t.Fatalf("user %d got revision %s, then %s", i, rev, again.header.Get(HeaderRevision))
			}
			if again.header.Get("Set-Cookie") != "" {
				t.Fatalf("user %d was given a second cookie", i)
			}
		}
		r, _ := strconv.Atoi(rev)
		want[r]++
		h := http.Header{}
		if i%4 == 0 {
			h.Set("X-Convert", "yes")
			wantConverted[r]++
		}
		do(t, c, http.MethodPost, url+"/checkout", "", h)
		if i%4 == 0 {
			do(t, c, http.MethodPost, url+"/checkout", "", h) // converting twice is one converted visitor
		}
	}
	if want[1] == 0 || want[2] == 0 {
		t.Fatalf("users per revision %v, want both variants", want)
	}
	for _, rev := range []int{1, 2} {
		v, c := abCounts(t, p, rev)
		if !near(v, want[rev]) || !near(c, wantConverted[rev]) {
			t.Errorf("revision %d: %d visitors and %d converted, want %d and %d", rev, v, c, want[rev], wantConverted[rev])
		}
	}
}

// The user header, when a request has it, is the user's key: any client
// sending it gets the same variant, and no cookie is needed.
func TestABUserHeaderIsTheKey(t *testing.T) {
	svc, url := abService(t, api.ABGoal{Header: "X-Conversion"}, "X-User-Id")
	p := newProxy(t, Config{})
	update(t, p, svc)
	for i := range 40 {
		h := http.Header{"X-User-Id": {fmt.Sprintf("user-%d", i)}}
		first := do(t, newClient(false), http.MethodGet, url+"/", "", h)
		if first.header.Get("Set-Cookie") != "" {
			t.Fatalf("a user known by its header was given a cookie")
		}
		for range 3 {
			again := do(t, newClient(false), http.MethodGet, url+"/", "", h)
			if again.header.Get(HeaderRevision) != first.header.Get(HeaderRevision) {
				t.Fatalf("user-%d got revision %s, then %s", i, first.header.Get(HeaderRevision), again.header.Get(HeaderRevision))
			}
		}
		wantB := route.UserHash("salt-1", fmt.Sprintf("user-%d", i)) < 1<<63
		if got := first.header.Get(HeaderRevision) == "2"; got != wantB {
			t.Fatalf("user-%d: B %v, want %v by its hash", i, got, wantB)
		}
	}
	a, _ := abCounts(t, p, 1)
	b, _ := abCounts(t, p, 2)
	if !near(a+b, 40) {
		t.Errorf("%d + %d visitors, want 40", a, b)
	}
}

// A path goal converts a request to that path and method answered 2xx or
// 3xx, whatever its query; nothing else.
func TestABPathGoal(t *testing.T) {
	svc, url := abService(t, api.ABGoal{Path: "/checkout", Method: http.MethodPost}, "X-User-Id")
	svc.Routes.AB.Split = 100 // everyone on B: one series to read
	p := newProxy(t, Config{})
	update(t, p, svc)
	user := func(name string) http.Header { return http.Header{"X-User-Id": {name}} }
	c := newClient(false)
	do(t, c, http.MethodGet, url+"/checkout", "", user("get"))
	failed := user("failed")
	failed.Set("X-Fail", "1")
	do(t, c, http.MethodPost, url+"/checkout", "", failed)
	do(t, c, http.MethodPost, url+"/elsewhere", "", user("elsewhere"))
	do(t, c, http.MethodPost, url+"/checkout?coupon=1", "", user("query"))
	do(t, c, http.MethodPost, url+"/checkout", "", user("plain"))
	v, conv := abCounts(t, p, 2)
	if v != 5 || conv != 2 {
		t.Errorf("%d visitors and %d converted, want 5 and 2 (the POSTs to /checkout answered 200)", v, conv)
	}
}

// A new experiment (a new salt) starts counting afresh; a service without
// one reports none.
func TestABNewSaltCountsAfresh(t *testing.T) {
	svc, url := abService(t, api.ABGoal{Header: "X-Conversion"}, "X-User-Id")
	p := newProxy(t, Config{})
	update(t, p, svc)
	for i := range 10 {
		do(t, newClient(false), http.MethodGet, url+"/", "", http.Header{"X-User-Id": {strconv.Itoa(i)}})
	}
	a, _ := abCounts(t, p, 1)
	b, _ := abCounts(t, p, 2)
	if a+b != 10 {
		t.Fatalf("%d visitors, want 10", a+b)
	}
	next := svc
	ab := *svc.Routes.AB
	ab.Salt = "salt-2"
	next.Routes.AB = &ab
	update(t, p, next)
	for _, r := range p.Traffic() {
		if r.AB != nil {
			t.Fatalf("revision %d reports %+v before anyone came to the new experiment", r.Revision, r.AB)
		}
	}
	next.Routes.AB = nil
	update(t, p, next)
	get(t, newClient(false), url+"/")
	for _, r := range p.Traffic() {
		if r.AB != nil {
			t.Fatalf("revision %d reports A/B figures without an experiment", r.Revision)
		}
	}
}
