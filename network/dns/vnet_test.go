package dns

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	miekg "github.com/miekg/dns"

	"flotilla/internal/vnet"
)

// TestServerOnASimulatedNetwork runs the server on a vnet.Memory inside a
// synctest bubble (a socket of the host's would block virtual time and
// hang the test): it answers over the simulated UDP and TCP, and forwards
// outside names to an upstream on the same network over TCP.
func TestServerOnASimulatedNetwork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := vnet.NewMemory()
		upstream := startMemoryUpstream(t, n, "127.9.0.1:53")
		s := startServer(t, Config{Listen: "127.0.0.1:53", Net: n, Upstreams: []string{"127.9.0.1:53"}})
		s.Update(testServices())
		if s.Addr() != "127.0.0.1:53" {
			t.Errorf("Addr = %s", s.Addr())
		}
		for _, network := range []string{"udp", "tcp"} {
			r := exchangeOn(t, n, network, s.Addr(), query("web.default.svc.flotilla.", miekg.TypeA))
			if got := summary(r.Answer); !slices.Equal(got, []string{"a web.default.svc.flotilla. 127.1.0.10"}) {
				t.Errorf("%s: answer %q", network, got)
			}
			r = exchangeOn(t, n, network, s.Addr(), query("www.example.test.", miekg.TypeA))
			if got := summary(r.Answer); !slices.Equal(got, []string{"a www.example.test. 127.9.9.9"}) {
				t.Errorf("%s: forwarded answer %q (rcode %s)", network, got, miekg.RcodeToString[r.Rcode])
			}
		}
		if got := upstream.count(); got != 2 {
			t.Errorf("the upstream was asked %d times over TCP, want 2 (a simulated network dials streams only)", got)
		}

	})
}

// TestNilUpstreamsOnASimulatedNetworkAreNone checks that New does not read
// the host's resolv.conf for a server on a simulated network.
func TestNilUpstreamsOnASimulatedNetworkAreNone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(path, []byte("nameserver 127.0.0.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Listen: "127.0.0.1:53", Net: vnet.NewMemory(), resolvConf: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.upstreams) != 0 {
		t.Errorf("upstreams %v, want none", s.upstreams)
	}
}

// memoryUpstream is a resolver on a simulated network, over TCP, that
// answers every A question with 127.9.9.9.
type memoryUpstream struct {
	mu    sync.Mutex
	asked int
}

func (u *memoryUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.asked
}

func startMemoryUpstream(t *testing.T, n vnet.Net, addr string) *memoryUpstream {
	t.Helper()
	ln, err := n.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	u := &memoryUpstream{}
	started := make(chan struct{})
	srv := &miekg.Server{Listener: ln, NotifyStartedFunc: func() { close(started) },
		Handler: miekg.HandlerFunc(func(w miekg.ResponseWriter, req *miekg.Msg) {
			u.mu.Lock()
			u.asked++
			u.mu.Unlock()
			m := new(miekg.Msg)
			m.SetReply(req)
			m.Answer = append(m.Answer, &miekg.A{
				Hdr: miekg.RR_Header{Name: req.Question[0].Name, Rrtype: miekg.TypeA, Class: miekg.ClassINET, Ttl: 60},
				A:   net.IPv4(127, 9, 9, 9),
			})
			w.WriteMsg(m)
		})}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return u
}

// exchangeOn sends q to addr over network ("udp" or "tcp") on n and
// returns the answer.
func exchangeOn(t *testing.T, n vnet.Net, network, addr string, q *miekg.Msg) *miekg.Msg {
	t.Helper()
	if network == "tcp" {
		c, err := n.DialContext(context.Background(), "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn := &miekg.Conn{Conn: c}
		defer conn.Close()
		if err := conn.WriteMsg(q); err != nil {
			t.Fatal(err)
		}
		r, err := conn.ReadMsg()
		if err != nil {
			t.Fatalf("tcp query %s: %v", q.Question[0].Name, err)
		}
		return r
	}
	pc, err := n.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	wire, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	to, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.WriteTo(wire, to); err != nil {
		t.Fatal(err)
	}
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65535)
	size, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("udp query %s: %v", q.Question[0].Name, err)
	}
	r := new(miekg.Msg)
	if err := r.Unpack(buf[:size]); err != nil {
		t.Fatal(err)
	}
	return r
}
