package dns

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	miekg "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"flotilla/api"
)

func TestUDPAndTCPShareOnePort(t *testing.T) {
	s := startServer(t, Config{})
	s.Update(testServices())
	_, port, _ := net.SplitHostPort(s.Addr())
	if port == "0" {
		t.Fatalf("Addr %s has no port", s.Addr())
	}
	for _, network := range []string{"udp", "tcp"} {
		r := ask(t, network, s.Addr(), query("web.default.svc.flotilla.", miekg.TypeA))
		if len(r.Answer) != 1 {
			t.Errorf("%s: answer %v", network, r.Answer)
		}
	}
}

func TestNewFailsClearlyWhenThePortIsTaken(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			var addr string
			if network == "udp" {
				pc, err := net.ListenPacket("udp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer pc.Close()
				addr = pc.LocalAddr().String()
			} else {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				addr = ln.Addr().String()
			}
			s, err := New(Config{Listen: addr, Upstreams: []string{}})
			if err == nil {
				s.udpConn.Close()
				s.tcpLn.Close()
				t.Fatalf("New on a taken %s port succeeded", network)
			}
			if want := "listen " + network + " " + addr; !strings.Contains(err.Error(), want) ||
				!strings.Contains(err.Error(), "address already in use") {
				t.Errorf("error %q, want it to say %q and why", err, want)
			}
		})
	}
}

func TestRunReturnsWhenItsContextEndsAndFreesThePort(t *testing.T) {
	s, err := New(Config{Listen: "127.0.0.1:0", Upstreams: []string{}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	s.Update(testServices())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	ask(t, "udp", s.Addr(), query("web.default.svc.flotilla.", miekg.TypeA))
	// A client that keeps its TCP connection open must not hold Run up.
	conn, err := miekg.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.WriteMsg(query("web.default.svc.flotilla.", miekg.TypeA)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ReadMsg(); err != nil {
		t.Fatal(err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if err := s.Run(context.Background()); err == nil {
		t.Errorf("a second Run succeeded")
	}
	// The same address binds again, for both transports.
	again, err := New(Config{Listen: s.Addr(), Upstreams: []string{}})
	if err != nil {
		t.Fatalf("port not free after Run: %v", err)
	}
	again.udpConn.Close()
	again.tcpLn.Close()
}

func TestRunStopsWhenTheContextHasEndedBeforeItStarts(t *testing.T) {
	s, err := New(Config{Listen: "127.0.0.1:0", Upstreams: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	pc, err := net.ListenPacket("udp", s.Addr())
	if err != nil {
		t.Fatalf("port not free: %v", err)
	}
	pc.Close()
}

// flipSet is one of two record sets that share names but no addresses, so
// that an answer mixing them shows an Update that was not atomic.
func flipSet(set int) []api.ServiceEndpoints {
	svc := api.ServiceEndpoints{Namespace: "default", Name: "flip", Headless: true,
		Ports: []api.Port{{Name: "http", Port: 8000 + set, Protocol: api.ProtocolHTTP}}}
	for i := range 5 {
		svc.Endpoints = append(svc.Endpoints, api.Endpoint{
			ID: fmt.Sprintf("s%de%d", set, i), IP: fmt.Sprintf("127.0.%d.%d", 10+set, i+1), Ready: true})
	}
	return []api.ServiceEndpoints{svc}
}

func TestUpdateReplacesRecordsAtomicallyWhileQueriesRun(t *testing.T) {
	s := startServer(t, Config{})
	s.Update(flipSet(1))

	want := map[string]int{} // a whole answer → the set it belongs to
	for _, set := range []int{1, 2} {
		idx := buildIndex(s.cfg.Domain, s.cfg.TTL, 1, flipSet(set), s.log)
		n := idx.names["flip.default.svc.flotilla."]
		want["A "+strings.Join(summary(n.a), "|")] = set
		srv := idx.names["_http._tcp.flip.default.svc.flotilla."]
		want["SRV "+strings.Join(append(summary(srv.srv), summary(srv.srvExtra)...), "|")] = set
	}

	stop := make(chan struct{})
	var updates atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s.Update(flipSet(1 + i%2))
			updates.Add(1)
		}
	})
	check := func(t *testing.T, r *miekg.Msg, qtype uint16) {
		key := "A " + strings.Join(summary(r.Answer), "|")
		if qtype == miekg.TypeSRV {
			key = "SRV " + strings.Join(append(summary(r.Answer), summary(r.Extra)...), "|")
		}
		if _, ok := want[key]; !ok {
			t.Errorf("answer mixes record sets or is incomplete: %s", key)
		}
	}
	var queriers sync.WaitGroup
	for g := range 4 {
		queriers.Go(func() {
			network := []string{"udp", "tcp"}[g%2]
			c := &miekg.Client{Net: network, Timeout: 5 * time.Second}
			for i := range 300 {
				qtype := []uint16{miekg.TypeA, miekg.TypeSRV}[i%2]
				name := "flip.default.svc.flotilla."
				if qtype == miekg.TypeSRV {
					name = "_http._tcp.flip.default.svc.flotilla."
				}
				q := query(name, qtype)
				q.SetEdns0(4096, false)
				r, _, err := c.Exchange(q, s.Addr())
				if err != nil {
					t.Errorf("%s query: %v", network, err)
					return
				}
				check(t, r, qtype)
			}
		})
	}
	// And through the handler directly, many more times than a socket allows.
	for range 2 {
		queriers.Go(func() {
			w := &recorder{}
			for i := range 5000 {
				qtype := []uint16{miekg.TypeA, miekg.TypeSRV}[i%2]
				name := "flip.default.svc.flotilla."
				if qtype == miekg.TypeSRV {
					name = "_http._tcp.flip.default.svc.flotilla."
				}
				s.serveDNS(w, query(name, qtype))
				r := new(miekg.Msg)
				if err := r.Unpack(w.last); err != nil {
					t.Errorf("unpack: %v", err)
					return
				}
				check(t, r, qtype)
			}
		})
	}
	queriers.Wait()
	close(stop)
	wg.Wait()
	if updates.Load() < 10 {
		t.Errorf("only %d updates ran during the queries", updates.Load())
	}
}

func TestQueriesAreCountedByTypeAndRcode(t *testing.T) {
	s := startServer(t, Config{})
	s.Update(testServices())
	ask(t, "udp", s.Addr(), query("web.default.svc.flotilla.", miekg.TypeA))
	ask(t, "tcp", s.Addr(), query("web.default.svc.flotilla.", miekg.TypeA))
	ask(t, "udp", s.Addr(), query("_http._tcp.web.default.svc.flotilla.", miekg.TypeSRV))
	ask(t, "udp", s.Addr(), query("nope.default.svc.flotilla.", miekg.TypeA))
	ask(t, "udp", s.Addr(), query("www.example.test.", miekg.TypeMX))
	q := query("_http._tcp.big.default.svc.flotilla.", miekg.TypeSRV)
	ask(t, "udp", s.Addr(), q)
	two := query("web.default.svc.flotilla.", miekg.TypeA)
	two.Question = append(two.Question, two.Question[0])
	packed, _ := two.Pack()
	rawExchange(t, s.Addr(), packed, 2*time.Second)

	for _, tc := range []struct {
		metric string
		labels map[string]string
		want   float64
	}{
		{"flotilla_dns_queries_total", map[string]string{"type": "A", "rcode": "NOERROR"}, 2},
		{"flotilla_dns_queries_total", map[string]string{"type": "SRV", "rcode": "NOERROR"}, 2},
		{"flotilla_dns_queries_total", map[string]string{"type": "A", "rcode": "NXDOMAIN"}, 1},
		{"flotilla_dns_queries_total", map[string]string{"type": "other", "rcode": "REFUSED"}, 1},
		{"flotilla_dns_queries_total", map[string]string{"type": "other", "rcode": "FORMERR"}, 1},
		{"flotilla_dns_truncated_total", nil, 1},
		{"flotilla_dns_names", nil, float64(len(s.records.Load().names))},
	} {
		if got := counterValue(t, s, tc.metric, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.metric, tc.labels, got, tc.want)
		}
	}
}

// counterValue gathers s's collectors through a registry, as the agent
// will, and returns one series' value.
func counterValue(t *testing.T, s *Server, name string, labels map[string]string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.Collectors()...)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metrics
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

// recorder is a miekg.ResponseWriter that keeps the last answer written,
// for calling the handler without a socket, as if over UDP.
type recorder struct {
	last []byte
}

var (
	recorderUDP  = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	recorderPeer = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
)

func (r *recorder) LocalAddr() net.Addr         { return recorderUDP }
func (r *recorder) RemoteAddr() net.Addr        { return recorderPeer }
func (r *recorder) WriteMsg(m *miekg.Msg) error { b, err := m.Pack(); r.last = b; return err }
func (r *recorder) Write(b []byte) (int, error) {
	r.last = append(r.last[:0], b...)
	return len(b), nil
}
func (r *recorder) Close() error        { return nil }
func (r *recorder) TsigStatus() error   { return nil }
func (r *recorder) TsigTimersOnly(bool) {}
func (r *recorder) Hijack()             {}

func TestCloseReleasesTheSocketsOfAServerThatNeverRan(t *testing.T) {
	s, err := New(Config{Listen: "127.0.0.1:0", Upstreams: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := New(Config{Listen: addr, Upstreams: []string{}})
	if err != nil {
		t.Fatalf("the port stayed taken after Close: %v", err)
	}
	again.Close()
}
