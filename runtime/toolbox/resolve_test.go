package toolbox

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	miekg "github.com/miekg/dns"
)

func TestResolverCandidatesFollowTheSearchList(t *testing.T) {
	r := Resolver{Search: []string{"default.svc.flotilla", "svc.flotilla."}}
	for host, want := range map[string][]string{
		"web":                       {"web.default.svc.flotilla.", "web.svc.flotilla.", "web."},
		"web.default":               {"web.default.default.svc.flotilla.", "web.default.svc.flotilla.", "web.default."},
		"web.default.svc.flotilla":  {"web.default.svc.flotilla.", "web.default.svc.flotilla.default.svc.flotilla.", "web.default.svc.flotilla.svc.flotilla."},
		"a.b.c":                     {"a.b.c.default.svc.flotilla.", "a.b.c.svc.flotilla.", "a.b.c."},
		"web.default.svc.flotilla.": {"web.default.svc.flotilla."},
		"a.b.c.d.e.f":               {"a.b.c.d.e.f.", "a.b.c.d.e.f.default.svc.flotilla.", "a.b.c.d.e.f.svc.flotilla."},
	} {
		if got := r.candidates(host); !slices.Equal(got, want) {
			t.Errorf("candidates(%q) = %v, want %v", host, got, want)
		}
	}
}

// fakeDNS answers A queries for the names it holds (NXDOMAIN for the
// rest) on a loopback port, and records the names asked.
type fakeDNS struct {
	addr    string
	records map[string]string
	mu      sync.Mutex
	asked   []string
}

func startFakeDNS(t *testing.T, records map[string]string) *fakeDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeDNS{addr: pc.LocalAddr().String(), records: records}
	srv := &miekg.Server{PacketConn: pc, Handler: miekg.HandlerFunc(func(w miekg.ResponseWriter, q *miekg.Msg) {
		m := new(miekg.Msg)
		m.SetReply(q)
		name := q.Question[0].Name
		f.mu.Lock()
		f.asked = append(f.asked, name)
		f.mu.Unlock()
		ip, ok := f.records[name]
		switch {
		case !ok:
			m.Rcode = miekg.RcodeNameError
		case q.Question[0].Qtype == miekg.TypeA:
			rr, _ := miekg.NewRR(fmt.Sprintf("%s 5 IN A %s", name, ip))
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return f
}

func TestNslookupAndWgetUseTheResolverAndItsSearchList(t *testing.T) {
	dns := startFakeDNS(t, map[string]string{"web.default.svc.flotilla.": "127.0.0.1"})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "by name") }))
	defer app.Close()
	_, port, _ := net.SplitHostPort(app.Listener.Addr().String())
	ctx := WithResolver(context.Background(), Resolver{Server: dns.addr, Search: []string{"default.svc.flotilla", "svc.flotilla"}})

	got := runCtx(t, ctx, nil, "nslookup", "web")
	want := "Server:\t\t" + dns.addr + "\n\nName:\tweb.default.svc.flotilla\nAddress: 127.0.0.1\n"
	if got.code != 0 || got.stdout != want {
		t.Errorf("nslookup web: %+v, want %q", got, want)
	}
	for _, host := range []string{"web", "web.default.svc.flotilla", "web.default.svc.flotilla."} {
		got := runCtx(t, ctx, nil, "wget", "-qO-", "http://"+net.JoinHostPort(host, port)+"/")
		if got.code != 0 || got.stdout != "by name" {
			t.Errorf("wget by %s: %+v", host, got)
		}
	}
	got = runCtx(t, ctx, nil, "nslookup", "nosuch")
	if got.code != 1 || !strings.Contains(got.stderr, "can't resolve 'nosuch': no such host") {
		t.Errorf("nslookup nosuch: %+v", got)
	}
	got = runCtx(t, ctx, nil, "wget", "-qO-", "http://nosuch:"+port+"/")
	if got.code != 1 || !strings.Contains(got.stderr, "lookup nosuch on "+dns.addr+": no such host") {
		t.Errorf("wget nosuch: %+v, want the cluster DNS server named", got)
	}
	dns.mu.Lock()
	defer dns.mu.Unlock()
	for _, name := range dns.asked {
		if !strings.HasSuffix(name, "svc.flotilla.") && name != "nosuch." {
			t.Errorf("asked for %q", name)
		}
	}
}

func TestNslookupUsage(t *testing.T) {
	if got := run(t, nil, "nslookup"); got.code != ExitUsage {
		t.Errorf("got %+v", got)
	}
	if got := run(t, nil, "nslookup", "127.0.0.5"); got.code != 0 || !strings.Contains(got.stdout, "Address: 127.0.0.5") {
		t.Errorf("an address: %+v", got)
	}
}

// TestWithReachRefusesAddressesOutsideIt: under WithReach(127.0.0.0/8),
// wget reaches a name that resolves inside and refuses, before dialing, a
// name or an address outside. 0.0.0.0 stands for outside: were it dialed,
// Linux would connect it to this machine, so a wrong answer sends nothing
// off it; the server must see only the one request.
func TestWithReachRefusesAddressesOutsideIt(t *testing.T) {
	dns := startFakeDNS(t, map[string]string{"near.svc.flotilla.": "127.0.0.1", "far.svc.flotilla.": "0.0.0.0"})
	var mu sync.Mutex
	served := 0
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		served++
		mu.Unlock()
		fmt.Fprint(w, "near")
	}))
	defer app.Close()
	_, port, _ := net.SplitHostPort(app.Listener.Addr().String())
	ctx := WithReach(WithResolver(context.Background(), Resolver{Server: dns.addr, Search: []string{"svc.flotilla"}}),
		netip.MustParsePrefix("127.0.0.0/8"))

	if got := runCtx(t, ctx, nil, "wget", "-qO-", "http://near:"+port+"/"); got.code != 0 || got.stdout != "near" {
		t.Errorf("wget near: %+v", got)
	}
	for _, host := range []string{"far", "0.0.0.0"} {
		got := runCtx(t, ctx, nil, "wget", "-qO-", "http://"+net.JoinHostPort(host, port)+"/")
		if got.code != 1 || !strings.Contains(got.stderr, "0.0.0.0 is outside this container's network (127.0.0.0/8)") {
			t.Errorf("wget %s: %+v, want refused as outside", host, got)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if served != 1 {
		t.Errorf("the server answered %d requests, want the one to near", served)
	}
}
