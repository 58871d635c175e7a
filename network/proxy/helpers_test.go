package proxy

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"flotilla/api"
)

// Every address in these tests is on loopback: 127.0.0.0/8 needs no setup
// on Linux, and random addresses in it keep parallel tests apart.

// loopbackIP returns a random address in 127.64.0.0/10.
func loopbackIP() string {
	return fmt.Sprintf("127.%d.%d.%d", 64+rand.IntN(128), rand.IntN(256), 1+rand.IntN(254))
}

// listenLoopback listens on a random loopback address, on port if non-zero.
func listenLoopback(t testing.TB, port int) net.Listener {
	t.Helper()
	var err error
	for range 20 {
		var ln net.Listener
		ln, err = net.Listen("tcp", net.JoinHostPort(loopbackIP(), strconv.Itoa(port)))
		if err == nil {
			return ln
		}
	}
	t.Fatalf("listen on loopback port %d: %v", port, err)
	return nil
}

// freeVIP returns a loopback address on which port is free.
func freeVIP(t testing.TB, port int) string {
	t.Helper()
	ln := listenLoopback(t, port)
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return host
}

// backend is one endpoint: an HTTP server on its own loopback address.
type backend struct {
	ip   string
	hits atomic.Int64
	srv  *httptest.Server
}

// startBackends starts n HTTP backends on distinct addresses sharing one
// port, as a service's replicas do, and returns that port.
func startBackends(t testing.TB, n int, handler func(i int) http.Handler) (int, []*backend) {
	t.Helper()
	port := 0
	var bs []*backend
	for i := range n {
		ln := listenLoopback(t, port)
		port = ln.Addr().(*net.TCPAddr).Port
		b := &backend{ip: ln.Addr().(*net.TCPAddr).IP.String()}
		h := handler(i)
		b.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b.hits.Add(1)
			h.ServeHTTP(w, r)
		}))
		b.srv.Listener.Close()
		b.srv.Listener = ln
		b.srv.Start()
		t.Cleanup(b.srv.Close)
		bs = append(bs, b)
	}
	return port, bs
}

// deadIP returns an address where port refuses connections.
func deadIP(t testing.TB, port int) string {
	return freeVIP(t, port)
}

// answer is a handler that writes body.
func answer(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })
}

func endpoints(rev int, ready bool, ips ...string) []api.Endpoint {
	var out []api.Endpoint
	for _, ip := range ips {
		out = append(out, api.Endpoint{ID: fmt.Sprintf("alloc-%d-%s", rev, ip), Node: "n1", Revision: rev, IP: ip, Ready: ready})
	}
	return out
}

func ipsOf(bs []*backend) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.ip)
	}
	return out
}

func httpService(name, vip string, port int, eps []api.Endpoint, routes api.RouteTable, lb string) api.ServiceEndpoints {
	return api.ServiceEndpoints{
		Namespace: "default", Name: name, VIP: vip,
		Ports:         []api.Port{{Name: "http", Port: port, Protocol: "http"}},
		LoadBalancing: lb, Endpoints: eps, Routes: routes,
	}
}

func only(rev int) api.RouteTable {
	return api.RouteTable{Split: []api.WeightedBackend{{Backend: rev, Weight: 100}}}
}

func newProxy(t testing.TB, cfg Config) *Proxy {
	t.Helper()
	p := New(cfg)
	t.Cleanup(func() { p.Close() })
	return p
}

func update(t testing.TB, p *Proxy, services ...api.ServiceEndpoints) {
	t.Helper()
	if err := p.Update(services); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// client talks to VIPs without any proxy from the environment.
func newClient(keepAlive bool) *http.Client {
	return &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 16}, Timeout: 10 * time.Second}
}

type reply struct {
	status int
	body   string
	header http.Header
}

func do(t testing.TB, c *http.Client, method, url string, body string, header http.Header) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return reply{resp.StatusCode, string(b), resp.Header}
}

func get(t testing.TB, c *http.Client, url string) reply { return do(t, c, "GET", url, "", nil) }

func traffic(p *Proxy, rev int) api.TrafficReport {
	for _, r := range p.Traffic() {
		if r.Revision == rev {
			return r
		}
	}
	return api.TrafficReport{}
}

// waitFor waits on ch with a deadline, for tests that must see a goroutine
// reach a point.
func waitFor[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}
