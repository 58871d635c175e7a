package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flotilla/api"
)

// zeroService is a service that scaled to zero: no endpoint, requests held.
func zeroService(vip string, port int, eps []api.Endpoint) api.ServiceEndpoints {
	se := httpService("web", vip, port, eps, only(1), "")
	se.ScaleToZero = true
	return se
}

// waker records the proxy's wake calls.
type waker struct {
	calls atomic.Int64
	woken chan string // one per call, when buffered room remains
}

func newWaker() *waker { return &waker{woken: make(chan string, 100)} }

func (w *waker) wake(ctx context.Context, namespace, name string) error {
	w.calls.Add(1)
	select {
	case w.woken <- namespace + "/" + name:
	default:
	}
	return nil
}

// heldCount waits until n requests of rev 1 are in flight (held).
func waitHeld(t *testing.T, p *Proxy, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for traffic(p, 1).InFlight < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests held, want %d", traffic(p, 1).InFlight, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRequestForServiceAtZeroIsHeldThenServedWhenAnEndpointAppears(t *testing.T) {
	port, bs := startBackends(t, 1, func(int) http.Handler { return answer("hello") })
	vip := freeVIP(t, port)
	w := newWaker()
	p := newProxy(t, Config{Wake: w.wake})
	update(t, p, zeroService(vip, port, nil))

	got := make(chan reply, 1)
	go func() { got <- get(t, newClient(false), "http://"+net.JoinHostPort(vip, strconv.Itoa(port))+"/") }()
	if svc := waitFor(t, w.woken, "a wake call"); svc != "default/web" {
		t.Fatalf("woke %q, want default/web", svc)
	}
	waitHeld(t, p, 1)
	select {
	case r := <-got:
		t.Fatalf("answered %d before any endpoint was ready", r.status)
	default:
	}
	update(t, p, zeroService(vip, port, endpoints(1, true, ipsOf(bs)...)))
	r := waitFor(t, got, "the held request's answer")
	if r.status != 200 || r.body != "hello" {
		t.Fatalf("got %d %q, want 200 hello", r.status, r.body)
	}
	if n := traffic(p, 1).InFlight; n != 0 {
		t.Fatalf("in flight %d after the answer, want 0", n)
	}
}

func TestHeldRequestGets503WhenNoReplicaBecomesReadyInTime(t *testing.T) {
	port, _ := startBackends(t, 1, func(int) http.Handler { return answer("hello") })
	vip := freeVIP(t, port)
	p := newProxy(t, Config{Wake: newWaker().wake, WakeTimeout: 200 * time.Millisecond})
	update(t, p, zeroService(vip, port, nil))
	start := time.Now()
	r := get(t, newClient(false), "http://"+net.JoinHostPort(vip, strconv.Itoa(port))+"/")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "no replica became ready in time") {
		t.Fatalf("got %d %q, want 503 no replica became ready in time", r.status, r.body)
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Fatalf("answered after %s, before the wake timeout", took)
	}
	if tr := traffic(p, 1); tr.Errors != 1 || tr.InFlight != 0 {
		t.Fatalf("traffic %+v, want 1 error and nothing in flight", tr)
	}
}

func TestHeldRequestsAreBoundedPerService(t *testing.T) {
	port, bs := startBackends(t, 1, func(int) http.Handler { return answer("hello") })
	vip := freeVIP(t, port)
	p := newProxy(t, Config{Wake: newWaker().wake, MaxHeld: 2})
	update(t, p, zeroService(vip, port, nil))
	url := "http://" + net.JoinHostPort(vip, strconv.Itoa(port)) + "/"
	got := make(chan reply, 2)
	for range 2 {
		go func() { got <- get(t, newClient(false), url) }()
	}
	waitHeld(t, p, 2)
	r := get(t, newClient(false), url)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "too many requests waiting") {
		t.Fatalf("third request: %d %q, want 503 too many requests waiting", r.status, r.body)
	}
	update(t, p, zeroService(vip, port, endpoints(1, true, ipsOf(bs)...)))
	for range 2 {
		if r := waitFor(t, got, "a held request's answer"); r.status != 200 {
			t.Fatalf("held request: %d %q, want 200", r.status, r.body)
		}
	}
}

func TestBurstOfHeldRequestsWakesTheServiceOnce(t *testing.T) {
	port, bs := startBackends(t, 2, func(int) http.Handler { return answer("hello") })
	vip := freeVIP(t, port)
	w := newWaker()
	p := newProxy(t, Config{Wake: w.wake})
	update(t, p, zeroService(vip, port, nil))
	url := "http://" + net.JoinHostPort(vip, strconv.Itoa(port)) + "/"
	const burst = 50
	var wg sync.WaitGroup
	statuses := make(chan int, burst)
	for range burst {
		wg.Go(func() { statuses <- get(t, newClient(false), url).status })
	}
	waitHeld(t, p, burst)
	update(t, p, zeroService(vip, port, endpoints(1, true, ipsOf(bs)...)))
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != 200 {
			t.Fatalf("a request of the burst got %d, want 200", s)
		}
	}
	if n := w.calls.Load(); n != 1 {
		t.Fatalf("%d wake calls for a burst of %d, want 1", n, burst)
	}
	// Back at zero later: the next request wakes it again.
	update(t, p, zeroService(vip, port, nil))
	again := make(chan reply, 1)
	go func() { again <- get(t, newClient(false), url) }()
	waitFor(t, w.woken, "the first wake")
	waitFor(t, w.woken, "the second wake")
	update(t, p, zeroService(vip, port, endpoints(1, true, ipsOf(bs)...)))
	if r := waitFor(t, again, "the answer after the second wake"); r.status != 200 {
		t.Fatalf("after the second wake: %d, want 200", r.status)
	}
}

func TestServiceThatDoesNotScaleToZeroAnswers503AtOnce(t *testing.T) {
	port, _ := startBackends(t, 1, func(int) http.Handler { return answer("hello") })
	vip := freeVIP(t, port)
	w := newWaker()
	p := newProxy(t, Config{Wake: w.wake})
	update(t, p, httpService("web", vip, port, nil, only(1), ""))
	r := get(t, newClient(false), "http://"+net.JoinHostPort(vip, strconv.Itoa(port))+"/")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "no ready endpoint") || w.calls.Load() != 0 {
		t.Fatalf("got %d %q with %d wake calls, want 503 no ready endpoint and none", r.status, r.body, w.calls.Load())
	}
}

func TestTCPConnectionForServiceAtZeroIsHeldThenSpliced(t *testing.T) {
	port, bs := startBackends(t, 1, func(int) http.Handler { return answer("over tcp") })
	vip := freeVIP(t, port)
	w := newWaker()
	p := newProxy(t, Config{Wake: w.wake})
	se := api.ServiceEndpoints{Namespace: "default", Name: "web", VIP: vip, ScaleToZero: true,
		Ports: []api.Port{{Name: "db", Port: port, Protocol: "tcp"}}, Routes: only(1)}
	update(t, p, se)
	conn, err := net.Dial("tcp", net.JoinHostPort(vip, strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
	waitFor(t, w.woken, "a wake call")
	se.Endpoints = endpoints(1, true, ipsOf(bs)...)
	update(t, p, se)
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(conn)
	if err != nil || !strings.Contains(string(b), "over tcp") {
		t.Fatalf("read %q, %v; want the endpoint's answer", b, err)
	}
}
