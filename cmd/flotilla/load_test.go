package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	miekg "github.com/miekg/dns"

	"flotilla/api"
	"flotilla/network/loadgen"
	"flotilla/runtime/workload"
)

// runFlotilla runs `flotilla ARGS...` in-process, as main does (without
// exiting), and returns its stdout, stderr and error.
func runFlotilla(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// demoServer answers as the demo workload does, and remembers the paths
// it was asked for.
type demoServer struct {
	*httptest.Server
	mu    sync.Mutex
	paths map[string]int
}

func newDemoServer(t *testing.T, version string) *demoServer {
	d := &demoServer{paths: map[string]int{}}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.paths[r.URL.RequestURI()]++
		d.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"version":%q,"node":"n1","allocation":"a1","hostname":"h"}`, version)
	}))
	t.Cleanup(d.Close)
	return d
}

// fakeServicesAPI serves GET /v1/services/NS/NAME from services.
func fakeServicesAPI(t *testing.T, services ...*api.Service) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		for _, s := range services {
			if r.Method == http.MethodGet && r.URL.Path == "/v1/services/"+s.Namespace+"/"+s.Name {
				json.NewEncoder(w).Encode(s)
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error": "no such service: %s"}`, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// fakeDNS answers A queries from answers (name → address) on 127.0.0.1,
// NXDOMAIN for other names.
func fakeDNS(t *testing.T, answers map[string]string) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &miekg.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: miekg.HandlerFunc(func(w miekg.ResponseWriter, r *miekg.Msg) {
			m := new(miekg.Msg)
			m.SetReply(r)
			q := r.Question[0]
			if addr, ok := answers[strings.TrimSuffix(q.Name, ".")]; ok && q.Qtype == miekg.TypeA {
				m.Answer = append(m.Answer, &miekg.A{Hdr: miekg.RR_Header{Name: q.Name, Rrtype: miekg.TypeA, Class: miekg.ClassINET, Ttl: 5}, A: net.ParseIP(addr)})
			} else {
				m.Rcode = miekg.RcodeNameError
			}
			w.WriteMsg(m)
		})}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

func decodeLoad(t *testing.T, out string) (loadResult, map[string]json.RawMessage) {
	t.Helper()
	var res loadResult
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	json.Unmarshal([]byte(out), &fields)
	return res, fields
}

func TestLoadAURLPrintsOnlyTheJSONSummary(t *testing.T) {
	t.Setenv("FLOTILLA_DNS_ADDR", "")
	t.Setenv("FLOTILLA_DNS", "")
	t.Setenv("FLOTILLA_DNS_SERVER", "")
	t.Setenv("FLOTILLA_DNS_PORT", "")
	demo := newDemoServer(t, "v2")
	out, errOut, err := runFlotilla(t, "load", demo.URL, "--rate", "50", "--duration", "1s", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if errOut != "" {
		t.Fatalf("stderr %q, want nothing with -o json", errOut)
	}
	res, fields := decodeLoad(t, out)
	for _, name := range []string{"requests", "errors", "rps", "p50Ms", "p90Ms", "p99Ms", "statuses", "versions"} {
		if _, ok := fields[name]; !ok {
			t.Errorf("no %q in %s", name, out)
		}
	}
	if res.Requests < 40 || res.Requests > 60 || res.Errors != 0 {
		t.Fatalf("%d requests, %d errors at 50 rps for 1s:\n%s", res.Requests, res.Errors, out)
	}
	if res.Statuses["200"] != res.Requests || res.Versions["v2"] != res.Requests || len(res.Versions) != 1 {
		t.Fatalf("statuses %v versions %v, want all 200 from v2", res.Statuses, res.Versions)
	}
	if res.Service != "" || res.DNS != "" || res.Target != demo.URL {
		t.Fatalf("target %q service %q dns %q for a URL", res.Target, res.Service, res.DNS)
	}
}

func TestLoadPrintsAReadableSummary(t *testing.T) {
	demo := newDemoServer(t, "v1")
	out, errOut, err := runFlotilla(t, "load", demo.URL+"/x", "--path", "/y?z=1", "--rate", "20", "--duration", "500ms")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"target     " + demo.URL + "/y?z=1", "requests   10 in 0.5s at 20/s", "errors     0",
		"rps ", "latency    p50 ", "p99 ", "statuses   200: 10", "versions   v1: 10"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+errOut, "\r") {
		t.Errorf("a progress line when nothing is a terminal:\n%q", out+errOut)
	}
	if demo.paths["/y?z=1"] != 10 {
		t.Errorf("paths asked %v, want /y?z=1 (--path replaces the URL's)", demo.paths)
	}
}

func TestLoadAServiceByItsVIPCheckedAgainstDNS(t *testing.T) {
	t.Setenv("FLOTILLA_DNS_ADDR", "")
	t.Setenv("FLOTILLA_DNS", "")
	t.Setenv("FLOTILLA_DNS_SERVER", "")
	t.Setenv("FLOTILLA_DNS_PORT", "")
	demo := newDemoServer(t, "v1")
	_, port, _ := net.SplitHostPort(demo.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	ports := []api.Port{{Name: "admin", Port: 1, Protocol: api.ProtocolTCP}, {Name: "http", Port: p, Protocol: api.ProtocolHTTP}}
	apiAddr := fakeServicesAPI(t,
		&api.Service{Name: "web", Namespace: "default", VIP: "127.0.0.1", Spec: api.ServiceSpec{Ports: ports}},
		&api.Service{Name: "web", Namespace: "other", VIP: "127.0.0.1", Spec: api.ServiceSpec{Ports: ports}},
		&api.Service{Name: "db", Namespace: "default", Spec: api.ServiceSpec{Ports: ports}},
	)
	dnsAddr := fakeDNS(t, map[string]string{
		"web.default.svc.flotilla": "127.0.0.1",
		"web.other.svc.flotilla":   "127.0.0.2", // stale, or another cluster's
	})

	for _, tc := range []struct {
		target, dns, service, warning string
	}{
		{"web", "agrees", "default/web", ""},
		{"web.default.svc.flotilla:http", "agrees", "default/web", ""},
		{"web.other", "answers 127.0.0.2", "other/web", "warning: DNS " + dnsAddr + " answers 127.0.0.2"},
	} {
		t.Run(tc.target, func(t *testing.T) {
			out, errOut, err := runFlotilla(t, "load", tc.target, "--address", apiAddr, "--dns", dnsAddr,
				"--path", "/svc", "--rate", "20", "--duration", "500ms", "-o", "json")
			if err != nil {
				t.Fatal(err)
			}
			res, _ := decodeLoad(t, out)
			if want := "http://127.0.0.1:" + port + "/svc"; res.Target != want || res.Service != tc.service {
				t.Fatalf("target %q service %q, want %q and %q", res.Target, res.Service, want, tc.service)
			}
			if !strings.Contains(res.DNS, tc.dns) {
				t.Fatalf("dns %q, want %q", res.DNS, tc.dns)
			}
			if tc.warning == "" && errOut != "" || !strings.Contains(errOut, tc.warning) {
				t.Fatalf("stderr %q, want %q", errOut, tc.warning)
			}
			if res.Requests != 10 || res.Errors != 0 || res.Versions["v1"] != 10 {
				t.Fatalf("summary %s", out)
			}
		})
	}

	// Without a DNS server the API's VIP is used as it is; FLOTILLA_DNS as
	// lab env writes it is read too.
	out, _, err := runFlotilla(t, "load", "web", "--address", apiAddr, "--rate", "10", "--duration", "100ms", "-o", "json")
	if res, _ := decodeLoad(t, out); err != nil || res.DNS != "" || res.Requests != 1 {
		t.Fatalf("without DNS: %v %s", err, out)
	}
	host, dnsPort, _ := net.SplitHostPort(dnsAddr)
	t.Setenv("FLOTILLA_DNS", host+" -p "+dnsPort)
	out, _, err = runFlotilla(t, "load", "web", "--address", apiAddr, "--rate", "10", "--duration", "100ms", "-o", "json")
	if res, _ := decodeLoad(t, out); err != nil || res.DNS != "agrees" {
		t.Fatalf("with $FLOTILLA_DNS: %v %s", err, out)
	}

	// What cannot start says why and exits non-zero.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"nope"}, "no service default/nope"},
		{[]string{"db"}, "headless"},
		{[]string{"web:metrics"}, `no port "metrics" (ports: admin 1/tcp, http ` + port + `/http)`},
		{[]string{"a.b.c"}, "too many dots"},
		{[]string{"web.svc.flotilla"}, "NAME.NAMESPACE.svc.flotilla"},
		{[]string{"Web_1"}, "target"},
		{[]string{"web", "--rate", "0"}, "rate"},
		{[]string{"web", "--path", "svc"}, "--path"},
		{[]string{"web", "-H", "nocolon"}, "--header"},
		{[]string{"web", "-o", "xml"}, "--output"},
		{[]string{"web", "--dns", "a b"}, "--dns"},
		{[]string{"ftp://127.0.0.1/"}, "target"},
	} {
		args := append([]string{"load", "--address", apiAddr, "--duration", "100ms"}, tc.args...)
		if _, _, err := runFlotilla(t, args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one with %q", tc.args, err, tc.want)
		}
	}
}

func TestLoadParsesServiceNamesAndDNSAddresses(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want loadService
	}{
		{"web", loadService{name: "web", namespace: "default"}},
		{"web.shop", loadService{name: "web", namespace: "shop"}},
		{"web.shop.svc.flotilla.", loadService{name: "web", namespace: "shop"}},
		{"WEB.Shop:http", loadService{name: "web", namespace: "shop", port: "http"}},
		{"web:8080", loadService{name: "web", namespace: "default", port: "8080"}},
	} {
		got, err := parseLoadService(tc.in, "default")
		if err != nil || got != tc.want {
			t.Errorf("%q: %+v %v, want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "web:", "web:x/y", ".web", "web..x", "a.b.c"} {
		if _, err := parseLoadService(bad, "default"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}

	t.Setenv("FLOTILLA_DNS_ADDR", "")
	t.Setenv("FLOTILLA_DNS", "")
	t.Setenv("FLOTILLA_DNS_SERVER", "")
	t.Setenv("FLOTILLA_DNS_PORT", "")
	for _, tc := range []struct{ flag, want string }{
		{"", ""},
		{"127.0.0.1:4749", "127.0.0.1:4749"},
		{"127.0.0.1 -p 4749", "127.0.0.1:4749"},
		{"@127.0.0.1", "127.0.0.1:53"},
		{"::1", "[::1]:53"},
		{"localhost", "localhost:53"},
	} {
		if got, err := loadDNSServer(tc.flag); err != nil || got != tc.want {
			t.Errorf("--dns %q: %q %v, want %q", tc.flag, got, err, tc.want)
		}
	}
	t.Setenv("FLOTILLA_DNS", "127.0.0.1 -p 5000")
	if got, _ := loadDNSServer(""); got != "127.0.0.1:5000" {
		t.Errorf("$FLOTILLA_DNS: %q", got)
	}
	t.Setenv("FLOTILLA_DNS_SERVER", "127.0.0.2")
	t.Setenv("FLOTILLA_DNS_PORT", "5500")
	if got, _ := loadDNSServer(""); got != "127.0.0.2:5500" {
		t.Errorf("$FLOTILLA_DNS_SERVER and _PORT before $FLOTILLA_DNS: %q", got)
	}
	t.Setenv("FLOTILLA_DNS_ADDR", "127.0.0.1:6000")
	if got, _ := loadDNSServer(""); got != "127.0.0.1:6000" {
		t.Errorf("$FLOTILLA_DNS_ADDR first: %q", got)
	}
	if got, _ := loadDNSServer("127.0.0.1:7000"); got != "127.0.0.1:7000" {
		t.Errorf("--dns first: %q", got)
	}
}

// demoShop is the demo workload itself, seeded, converting rate of
// checkouts, behind a server that sets a sticky "visitor" cookie and counts
// the cookies it set and the user ids it saw.
type demoShop struct {
	*httptest.Server
	mu      sync.Mutex
	cookies int
	users   map[string]bool
}

func newDemoShop(t *testing.T, rate float64) *demoShop {
	app := workload.New(workload.Config{Version: "v2", ConversionRate: rate, Rand: rand.NewPCG(1, 2)}, nil)
	d := &demoShop{users: map[string]bool{}}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		if _, err := r.Cookie("visitor"); err != nil {
			d.cookies++
			http.SetCookie(w, &http.Cookie{Name: "visitor", Value: strconv.Itoa(d.cookies)})
		}
		d.users[r.Header.Get("X-User-Id")] = true
		d.mu.Unlock()
		app.ServeHTTP(w, r)
	}))
	t.Cleanup(d.Close)
	return d
}

func TestLoadUsersCountVisitorsCheckoutsAndConversions(t *testing.T) {
	if loadgen.DefaultConversionHeader != workload.ConversionHeader {
		t.Fatalf("load counts conversions by %s, the demo workload marks them with %s", loadgen.DefaultConversionHeader, workload.ConversionHeader)
	}
	shop := newDemoShop(t, 0.5)
	out, _, err := runFlotilla(t, "load", shop.URL, "--users", "30", "--user-header", "X-User-Id", "--checkout-ratio", "0.5",
		"--seed", "7", "--rate", "200", "--duration", "1s", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	res, fields := decodeLoad(t, out)
	u := res.Users
	if _, ok := fields["users"]; !ok || u == nil {
		t.Fatalf("no users figures in %s", out)
	}
	shop.mu.Lock()
	cookies, users := shop.cookies, len(shop.users)
	shop.mu.Unlock()
	if u.Users != 30 || u.Visits != 200 || u.Visitors < 25 || int64(cookies) != u.Visitors || int64(users) != u.Visitors {
		t.Fatalf("users %+v; the shop set %d cookies and saw %d user ids: want 200 visits by up to 30 visitors, one cookie and id each", u, cookies, users)
	}
	// 0.5 of visits check out and 0.5 of checkouts convert: about 100
	// checkouts (±3σ ≈ 21) and 50 conversions.
	if u.Checkouts < 79 || u.Checkouts > 121 || u.Conversions < u.Checkouts/4 || u.Conversions > 3*u.Checkouts/4 {
		t.Fatalf("%d checkouts, %d conversions from 200 visits at ratio 0.5 and conversion rate 0.5", u.Checkouts, u.Conversions)
	}
	if v2 := u.ByVersion["v2"]; v2.Checkouts != u.Checkouts || v2.Conversions != u.Conversions || v2.Visitors != u.Visitors {
		t.Fatalf("by version %+v, want all of %+v from v2", u.ByVersion, u)
	}
	if res.Requests != u.Visits+u.Checkouts || res.Statuses["200"] != res.Requests {
		t.Fatalf("%d requests (%v), want the visits and checkouts, all 200", res.Requests, res.Statuses)
	}

	// The same seed replays who visits and who checks out.
	again, _, err := runFlotilla(t, "load", newDemoShop(t, 0.5).URL, "--users", "30", "--checkout-ratio", "0.5",
		"--seed", "7", "--rate", "200", "--duration", "1s", "-o", "json")
	if res2, _ := decodeLoad(t, again); err != nil || res2.Users.Checkouts != u.Checkouts || res2.Users.Conversions != u.Conversions {
		t.Fatalf("seed 7 again: %v %+v, want %+v", err, res2.Users, u)
	}
}

func TestLoadUsersPrintAVisitorsTable(t *testing.T) {
	shop := newDemoShop(t, 1)
	out, _, err := runFlotilla(t, "load", shop.URL, "--users", "5", "--checkout-ratio", "1", "--rate", "20", "--duration", "500ms")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"requests   20 in 0.5s at 20 visits/s",
		"visitors   ", " of 5 visited; 0 answered by more than one version",
		"visits     10, 10 checkouts, 10 conversions (100.0% of checkouts), ",
		"by version v2: ", "10 checkouts, 10 conversions (100.0%)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	plain, _, err := runFlotilla(t, "load", shop.URL, "--rate", "20", "--duration", "100ms")
	if err != nil || strings.Contains(plain, "visitors") {
		t.Errorf("a run without --users prints visitors: %v\n%s", err, plain)
	}
}

func TestLoadUsersFlagsNeedUsers(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--checkout-ratio", "0.5"}, "--checkout-ratio: only with --users"},
		{[]string{"--user-header", "X-User-Id"}, "--user-header: only with --users"},
		{[]string{"--seed", "3"}, "--seed: only with --users"},
		{[]string{"--users", "-3"}, "--users: must be a number of visitors from 1 to 1000000, got -3"},
		{[]string{"--users", "3", "--checkout-ratio", "2"}, "--checkout-ratio: must be between 0 and 1, got 2"},
		{[]string{"--users", "3", "--user-header", "X User"}, "--user-header: must be a header name"},
		{[]string{"--users", "3", "--checkout-path", "buy"}, "--checkout-path: must be an absolute path"},
	} {
		args := append([]string{"load", "http://127.0.0.1:1/", "--duration", "100ms"}, tc.args...)
		if _, _, err := runFlotilla(t, args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one with %q", tc.args, err, tc.want)
		}
	}
}
