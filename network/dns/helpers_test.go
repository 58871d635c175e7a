package dns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	miekg "github.com/miekg/dns"

	"flotilla/api"
)

// Every address in these tests is on loopback: VIPs and endpoints are only
// record data here, but they are chosen so that nothing could ever leave the
// machine even if something dialled them.

// testServices is the record set most tests query.
func testServices() []api.ServiceEndpoints {
	big := api.ServiceEndpoints{Namespace: "default", Name: "big", Headless: true,
		Ports: []api.Port{{Name: "http", Port: 80, Protocol: api.ProtocolHTTP}}}
	for i := range 60 {
		big.Endpoints = append(big.Endpoints, api.Endpoint{
			ID: fmt.Sprintf("%016x", 0xb16000+i), IP: fmt.Sprintf("127.0.5.%d", i+1), Ready: true})
	}
	return []api.ServiceEndpoints{
		{
			Namespace: "default", Name: "web", VIP: "127.1.0.10",
			Ports: []api.Port{
				{Name: "http", Port: 8080, Protocol: api.ProtocolHTTP},
				{Name: "admin", Port: 9090, Protocol: api.ProtocolTCP},
			},
			Endpoints: []api.Endpoint{
				{ID: "a1", IP: "127.0.1.1", Ready: true},
				{ID: "a2", IP: "127.0.1.2", Ready: true},
				{ID: "a3", IP: "127.0.1.3", Ready: false},
				{ID: "a4", IP: "", Ready: true}, // no address yet: not named
			},
		},
		{
			Namespace: "data", Name: "db", Headless: true,
			Ports: []api.Port{{Name: "pg", Port: 5432, Protocol: api.ProtocolTCP}},
			Endpoints: []api.Endpoint{
				{ID: "d1", IP: "127.0.2.1", Ready: true},
				{ID: "d2", IP: "127.0.2.2", Ready: false},
			},
		},
		{
			// Headless by an empty VIP alone, and nothing ready.
			Namespace: "default", Name: "cold",
			Ports:     []api.Port{{Name: "http", Port: 80, Protocol: api.ProtocolHTTP}},
			Endpoints: []api.Endpoint{{ID: "c1", IP: "127.0.3.1", Ready: false}},
		},
		{
			// A lone unnamed port has no SRV record.
			Namespace: "default", Name: "plain", VIP: "127.1.0.11",
			Ports:     []api.Port{{Port: 80, Protocol: api.ProtocolTCP}},
			Endpoints: []api.Endpoint{{ID: "p1", IP: "127.0.4.1", Ready: true}},
		},
		{
			Namespace: "default", Name: "six", VIP: "fd00::10",
			Ports: []api.Port{{Name: "http", Port: 80, Protocol: api.ProtocolHTTP}},
		},
		big,
	}
}

// transport is one way queries reach the server: UDP through readUDP (with
// the fast path), UDP through miekg's server (as on an unspecified address)
// or TCP.
type transport struct {
	name     string
	network  string // for miekg.Client
	miekgUDP bool
}

var transports = []transport{
	{name: "udp", network: "udp"},
	{name: "udp-miekg", network: "udp", miekgUDP: true},
	{name: "tcp", network: "tcp"},
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startServer runs a server on 127.0.0.1 with a free port, without
// upstreams unless cfg names some, and stops it when the test ends.
func startServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Upstreams == nil {
		cfg.Upstreams = []string{} // never the host's resolvers
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after its context ended")
		}
	})
	return s
}

// ask sends one query over network ("udp" or "tcp") and returns the answer.
func ask(t testing.TB, network, addr string, q *miekg.Msg) *miekg.Msg {
	t.Helper()
	c := &miekg.Client{Net: network, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(q, addr)
	if err != nil {
		t.Fatalf("%s query %s: %v", network, q.Question[0].String(), err)
	}
	return r
}

func query(name string, qtype uint16) *miekg.Msg {
	m := new(miekg.Msg)
	m.SetQuestion(name, qtype)
	return m
}

// summary prints records the way the tests compare them, sorted.
func summary(rrs []miekg.RR) []string {
	var out []string
	for _, rr := range rrs {
		var s string
		switch rr := rr.(type) {
		case *miekg.A:
			s = fmt.Sprintf("A %s %s", rr.Hdr.Name, rr.A)
		case *miekg.AAAA:
			s = fmt.Sprintf("AAAA %s %s", rr.Hdr.Name, rr.AAAA)
		case *miekg.SRV:
			s = fmt.Sprintf("SRV %s %d %d %d %s", rr.Hdr.Name, rr.Priority, rr.Weight, rr.Port, rr.Target)
		case *miekg.SOA:
			s = fmt.Sprintf("SOA %s", rr.Hdr.Name)
		case *miekg.OPT:
			continue
		default:
			s = rr.String()
		}
		out = append(out, strings.ToLower(s))
	}
	slices.Sort(out)
	return out
}

// rawExchange sends bytes over UDP and returns the answer, or nil when
// none came within wait.
func rawExchange(t *testing.T, addr string, packet []byte, wait time.Duration) *miekg.Msg {
	t.Helper()
	r, _ := rawExchangeSize(t, addr, packet, wait)
	return r
}

// rawExchangeSize is rawExchange that also returns the answer's size on
// the wire.
func rawExchangeSize(t *testing.T, addr string, packet []byte, wait time.Duration) (*miekg.Msg, int) {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(packet); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 65535)
	n, err := conn.Read(buf)
	if err != nil {
		return nil, 0
	}
	r := new(miekg.Msg)
	if err := r.Unpack(buf[:n]); err != nil {
		t.Fatalf("unpack answer: %v", err)
	}
	return r, n
}
