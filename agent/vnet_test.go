package agent_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	miekg "github.com/miekg/dns"

	"flotilla/agent"
	"flotilla/api"
	"flotilla/internal/testutil"
	"flotilla/internal/vnet"
	"flotilla/network/proxy"
	"flotilla/runtime/sim"
	"flotilla/scheduler"
)

// countingNet is a vnet.Memory that counts, by network, what listens and
// dials on it.
type countingNet struct {
	*vnet.Memory
	mu     sync.Mutex
	listen map[string]int // "tcp", "udp"
	dial   int
}

func newCountingNet() *countingNet {
	return &countingNet{Memory: vnet.NewMemory(), listen: map[string]int{}}
}

func (n *countingNet) Listen(network, address string) (net.Listener, error) {
	n.mu.Lock()
	n.listen[network]++
	n.mu.Unlock()
	return n.Memory.Listen(network, address)
}

func (n *countingNet) ListenPacket(network, address string) (net.PacketConn, error) {
	n.mu.Lock()
	n.listen[network]++
	n.mu.Unlock()
	return n.Memory.ListenPacket(network, address)
}

func (n *countingNet) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	n.mu.Lock()
	n.dial++
	n.mu.Unlock()
	return n.Memory.DialContext(ctx, network, address)
}

// TestAClusterOnASimulatedNetworkServesAService runs a server and an agent
// with the sim runtime on an in-memory network, inside a synctest bubble:
// any listen or dial left on the machine's network would block virtual
// time and hang the test. The node registers, a service's replica runs
// and passes its HTTP and TCP probes, and it answers at its address,
// through the node's proxy on its VIP, and by name in the node's DNS.
func TestAClusterOnASimulatedNetworkServesAService(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		testutil.LetGossipProbesEnd(t)
		n := newCountingNet()
		dir := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // of virtual time
		defer cancel()

		srv, err := scheduler.New(scheduler.Config{Name: "s1", DataDir: filepath.Join(dir, "s1"),
			HTTP: "127.0.0.1:4646", Raft: "127.0.0.1:4647", Gossip: "127.0.0.1:4648", BootstrapExpect: 1, Net: n})
		if err != nil {
			t.Fatal(err)
		}
		servers, err := api.NewClient("http://" + srv.HTTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		servers.UseNet(n)
		cfg := agent.Config{Name: "n1", DataDir: filepath.Join(dir, "n1"), HTTP: "127.0.0.1:4746",
			Gossip: "127.0.0.1:4748", Join: []string{srv.GossipAddr()}, DNS: "127.0.0.1:4749", DNSUpstreams: []string{},
			Proxy: true, Runtime: "sim", Capacity: api.Resources{CPU: 4000, Memory: 4 << 30}, Net: n}
		a, err := agent.New(cfg, servers, func(node *api.Node) (agent.Runtime, error) {
			return sim.New(sim.Config{Node: node.Name, Subnet: netip.MustParsePrefix(node.Subnet), DNS: cfg.DNS, Net: n})
		})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(context.Background())
		done := make(chan error, 2)
		go func() { done <- srv.Run(runCtx) }()
		go func() { done <- a.Run(runCtx) }()
		defer func() {
			stop()
			for range 2 {
				if err := <-done; err != nil {
					t.Errorf("run: %v", err)
				}
			}
		}()

		specs, err := api.DecodeServices("test", []byte(`kind: Service
name: web
image: demo
replicas: 1
resources: {cpu: 250m, memory: 64Mi}
ports: [{name: http, port: 8080, protocol: http}]
probes:
  readiness: {http: {path: /ready, port: http}, period: 1s}
  liveness: {tcp: {port: http}, period: 1s}
`))
		if err != nil {
			t.Fatal(err)
		}
		// Until a leader is elected the write answers 503, which the
		// client retries for RetryFor.
		client, err := api.NewClient("http://" + srv.HTTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		client.UseNet(n)
		client.RetryFor = time.Minute
		if _, err := client.ApplyService(ctx, specs[0]); err != nil {
			t.Fatal(err)
		}

		// The replica runs and its probes (HTTP and TCP, dialled on n)
		// pass.
		var alloc *api.Allocation
		for index := uint64(0); alloc == nil; {
			allocs, next, err := client.Allocations(ctx, api.AllocFilter{Namespace: "default", Service: "web"}, api.QueryOptions{Index: index, Wait: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			for _, al := range allocs {
				if al.Status == api.AllocRunning && al.Ready {
					alloc = al
				}
			}
			index = next
		}
		web := &http.Client{Transport: &http.Transport{DialContext: n.DialContext}}
		defer web.CloseIdleConnections()
		if body := get(t, web, "http://"+alloc.Address+"/"); !strings.Contains(body, alloc.ID) {
			t.Errorf("the replica at %s answered %q, not naming itself (%s)", alloc.Address, body, alloc.ID)
		}

		// The node's proxy serves the VIP once it has applied the
		// endpoints, and the node's DNS answers the name with it.
		ep, err := client.ServiceEndpoints(ctx, "default", "web")
		if err != nil || ep.VIP == "" {
			t.Fatalf("endpoints of web: %+v, %v", ep, err)
		}
		var header http.Header
		poll(t, ctx, "the proxy to serve "+ep.VIP, func() bool {
			resp, err := web.Get("http://" + net.JoinHostPort(ep.VIP, "8080") + "/")
			if err != nil {
				return false
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			header = resp.Header
			return resp.StatusCode == http.StatusOK
		})
		if got := header.Get(proxy.HeaderProxy); got != "n1" {
			t.Errorf("the VIP's answer came through proxy %q, want n1", got)
		}
		var answer []string
		poll(t, ctx, "DNS to name web", func() bool {
			answer = lookupUDP(t, n, a.DNSAddr(), "web.default.svc.flotilla.")
			return len(answer) > 0
		})
		if len(answer) != 1 || answer[0] != ep.VIP {
			t.Errorf("web.default.svc.flotilla. is %v over UDP, want [%s]", answer, ep.VIP)
		}
		if got := lookupTCP(t, n, a.DNSAddr(), "web.default.svc.flotilla."); len(got) != 1 || got[0] != ep.VIP {
			t.Errorf("web.default.svc.flotilla. is %v over TCP, want [%s]", got, ep.VIP)
		}

		n.mu.Lock()
		defer n.mu.Unlock()
		// HTTP, Raft, gossip, DNS and two listeners per replica port (the
		// sim runtime's check, then the app) at least.
		if n.listen["tcp"] < 6 || n.listen["udp"] < 2 || n.dial == 0 {
			t.Errorf("listens %v and %d dials on the simulated network: too few to be everything's", n.listen, n.dial)
		}
	})
}

// get GETs url and returns its body.
func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", url, resp.Status, err)
	}
	return string(body)
}

// poll checks cond every 100ms of virtual time until it holds or ctx ends:
// the cluster's loops take their own virtual time to converge.
func poll(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// lookupUDP asks server for name's A records in one datagram on n.
func lookupUDP(t *testing.T, n vnet.Net, server, name string) []string {
	t.Helper()
	pc, err := n.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	q := new(miekg.Msg)
	q.SetQuestion(name, miekg.TypeA)
	wire, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	to, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.WriteTo(wire, to); err != nil {
		t.Fatal(err)
	}
	pc.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 4096)
	size, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no DNS answer over UDP: %v", err)
	}
	var m miekg.Msg
	if err := m.Unpack(buf[:size]); err != nil {
		t.Fatal(err)
	}
	return addresses(&m)
}

// lookupTCP asks server for name's A records over a stream on n.
func lookupTCP(t *testing.T, n vnet.Net, server, name string) []string {
	t.Helper()
	c, err := n.DialContext(context.Background(), "tcp", server)
	if err != nil {
		t.Fatal(err)
	}
	conn := &miekg.Conn{Conn: c}
	defer conn.Close()
	q := new(miekg.Msg)
	q.SetQuestion(name, miekg.TypeA)
	if err := conn.WriteMsg(q); err != nil {
		t.Fatal(err)
	}
	m, err := conn.ReadMsg()
	if err != nil {
		t.Fatal(err)
	}
	return addresses(m)
}

func addresses(m *miekg.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		if a, ok := rr.(*miekg.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}
