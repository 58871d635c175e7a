package dns

import (
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	miekg "github.com/miekg/dns"
)

// fakeUpstream is a resolver on loopback standing in for the host's: it
// answers every A query with 127.9.9.9 and remembers what it was asked.
type fakeUpstream struct {
	addr string

	mu    sync.Mutex
	asked []upstreamQuery
}

type upstreamQuery struct {
	name    string
	id      uint16
	network string
}

func startUpstream(t *testing.T) *fakeUpstream {
	t.Helper()
	udpConn, tcpLn, err := listen(nil, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &fakeUpstream{addr: udpConn.LocalAddr().String()}
	handler := miekg.HandlerFunc(func(w miekg.ResponseWriter, req *miekg.Msg) {
		network := "udp"
		if _, ok := w.LocalAddr().(*net.TCPAddr); ok {
			network = "tcp"
		}
		u.mu.Lock()
		u.asked = append(u.asked, upstreamQuery{req.Question[0].Name, req.Id, network})
		u.mu.Unlock()
		m := new(miekg.Msg)
		m.SetReply(req)
		m.RecursionAvailable = true
		if req.Question[0].Qtype == miekg.TypeA {
			m.Answer = append(m.Answer, &miekg.A{
				Hdr: miekg.RR_Header{Name: req.Question[0].Name, Rrtype: miekg.TypeA, Class: miekg.ClassINET, Ttl: 60},
				A:   net.IPv4(127, 9, 9, 9),
			})
		}
		w.WriteMsg(m)
	})
	for _, srv := range []*miekg.Server{
		{PacketConn: udpConn, Handler: handler},
		{Listener: tcpLn, Handler: handler},
	} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return u
}

func (u *fakeUpstream) queries() []upstreamQuery {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.asked)
}

// silentUpstream is a UDP socket on loopback that reads nothing and answers
// nothing, like a resolver that is down; TCP to its port is refused.
func silentUpstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

func TestNamesOutsideTheZoneAreForwardedOverTheClientsTransport(t *testing.T) {
	up := startUpstream(t)
	s := startServer(t, Config{Upstreams: []string{up.addr}})
	s.Update(testServices())
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			q := query("www.Example.test.", miekg.TypeA)
			q.Id = 4242
			r := ask(t, network, s.Addr(), q)
			if r.Rcode != miekg.RcodeSuccess || r.Id != 4242 {
				t.Fatalf("rcode %s id %d", miekg.RcodeToString[r.Rcode], r.Id)
			}
			if got := summary(r.Answer); !slices.Equal(got, []string{"a www.example.test. 127.9.9.9"}) {
				t.Errorf("answer %q", got)
			}
			asked := up.queries()
			last := asked[len(asked)-1]
			if want := (upstreamQuery{"www.Example.test.", 4242, network}); last != want {
				t.Errorf("upstream was asked %+v, want %+v", last, want)
			}
		})
	}
}

func TestZoneNamesAreNeverForwarded(t *testing.T) {
	up := startUpstream(t)
	s := startServer(t, Config{Upstreams: []string{up.addr}})
	s.Update(testServices())
	for _, name := range []string{"nope.default.svc.flotilla.", "web.default.svc.flotilla.", "SVC.flotilla.", "x.y.z.svc.flotilla."} {
		r := ask(t, "udp", s.Addr(), query(name, miekg.TypeA))
		if !r.Authoritative {
			t.Errorf("%s: answer not authoritative", name)
		}
	}
	if asked := up.queries(); len(asked) != 0 {
		t.Errorf("upstream was asked %+v", asked)
	}
	// A name that only ends like the zone is not in it.
	r := ask(t, "udp", s.Addr(), query("notsvc.flotilla.", miekg.TypeA))
	if r.Authoritative || len(up.queries()) != 1 {
		t.Errorf("notsvc.flotilla. was not forwarded: %v", r)
	}
}

func TestForwardingFallsOverToTheNextUpstream(t *testing.T) {
	up := startUpstream(t)
	silent := silentUpstream(t)
	const timeout = 300 * time.Millisecond
	s := startServer(t, Config{Upstreams: []string{silent, up.addr}, forwardTimeout: timeout})
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			start := time.Now()
			r := ask(t, network, s.Addr(), query("www.example.test.", miekg.TypeA))
			if r.Rcode != miekg.RcodeSuccess || len(r.Answer) != 1 {
				t.Fatalf("answer %v", r)
			}
			// Over UDP the first upstream is silent, so its timeout runs
			// out; over TCP it refuses the connection at once.
			if network == "udp" && time.Since(start) < timeout {
				t.Errorf("answered in %v, before the first upstream's timeout", time.Since(start))
			}
		})
	}
}

func TestForwardingWithoutAnAnsweringUpstreamIsServfail(t *testing.T) {
	s := startServer(t, Config{Upstreams: []string{silentUpstream(t), silentUpstream(t)}, forwardTimeout: 100 * time.Millisecond})
	r := ask(t, "udp", s.Addr(), query("www.example.test.", miekg.TypeA))
	if r.Rcode != miekg.RcodeServerFailure {
		t.Errorf("rcode %s, want SERVFAIL", miekg.RcodeToString[r.Rcode])
	}
}

func TestNamesOutsideTheZoneAreRefusedWithoutUpstreams(t *testing.T) {
	s := startServer(t, Config{Upstreams: []string{}})
	s.Update(testServices())
	for _, network := range []string{"udp", "tcp"} {
		r := ask(t, network, s.Addr(), query("www.example.test.", miekg.TypeA))
		if r.Rcode != miekg.RcodeRefused {
			t.Errorf("%s: rcode %s, want REFUSED", network, miekg.RcodeToString[r.Rcode])
		}
	}
}

func TestForwardedAnswersAreCountedAndRecursionIsAvailable(t *testing.T) {
	up := startUpstream(t)
	s := startServer(t, Config{Upstreams: []string{up.addr}})
	s.Update(testServices())
	r := ask(t, "udp", s.Addr(), query("web.default.svc.flotilla.", miekg.TypeA))
	if !r.RecursionAvailable {
		t.Errorf("RA not set with an upstream")
	}
	ask(t, "udp", s.Addr(), query("www.example.test.", miekg.TypeA))
	if got := counterValue(t, s, "flotilla_dns_forwarded_total", map[string]string{"result": "answered"}); got != 1 {
		t.Errorf("forwarded answered %v, want 1", got)
	}
	if got := counterValue(t, s, "flotilla_dns_queries_total", map[string]string{"type": "A", "rcode": "NOERROR"}); got != 2 {
		t.Errorf("A NOERROR queries %v, want 2", got)
	}
}

func TestZoneQueriesAreAnsweredWhileForwardedOnesWait(t *testing.T) {
	s := startServer(t, Config{Upstreams: []string{silentUpstream(t)}, forwardTimeout: 3 * time.Second})
	s.Update(testServices())
	// More outside queries than there are UDP readers, all waiting on an
	// upstream that never answers.
	conn, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range 4 * udpReaders() {
		q := query(fmt.Sprintf("w%d.example.test.", i), miekg.TypeA)
		b, _ := q.Pack()
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	r := ask(t, "udp", s.Addr(), query("web.default.svc.flotilla.", miekg.TypeA))
	if len(r.Answer) != 1 {
		t.Fatalf("answer %v", r)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("a zone query waited %v behind forwarded ones", waited)
	}
}
