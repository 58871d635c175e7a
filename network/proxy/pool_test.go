package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flotilla/internal/clock"
)

// countingBackend is an HTTP endpoint that counts the connections it
// accepted: what the proxy dialed.
type countingBackend struct {
	ip    string
	port  int
	conns atomic.Int64
}

func startCountingBackend(t testing.TB, h http.Handler) *countingBackend {
	t.Helper()
	ln := listenLoopback(t, 0)
	b := &countingBackend{ip: ln.Addr().(*net.TCPAddr).IP.String(), port: ln.Addr().(*net.TCPAddr).Port}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			b.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return b
}

// getOn sends n GETs one after the other on one kept-alive connection.
func getOn(addr string, n int) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := newReader(c)
	defer readerPool.Put(br)
	for range n {
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
	}
	return nil
}

func TestASteadyLoadOpensNoMoreConnectionsThanItHasInFlight(t *testing.T) {
	// 256 clients on kept-alive connections, more than the 128 idle
	// connections the pool used to keep, and the endpoint holds each
	// request until 256 are in, so that all are in flight at once: every
	// endpoint connection comes back to the pool, and the proxy never
	// opens more than one per client, however many requests each sends.
	const clients, requests = 256, 10
	var (
		mu      sync.Mutex
		arrived int
		batches [requests]chan struct{}
	)
	for i := range batches {
		batches[i] = make(chan struct{})
	}
	b := startCountingBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		batch := batches[arrived/clients]
		if arrived%clients == clients-1 {
			close(batch)
		}
		arrived++
		mu.Unlock()
		select {
		case <-batch:
			io.WriteString(w, "ok")
		case <-time.After(20 * time.Second):
			http.Error(w, "the batch never filled", http.StatusInternalServerError)
		}
	}))
	vip := freeVIP(t, b.port)
	p := newProxy(t, Config{})
	update(t, p, httpService("web", vip, b.port, endpoints(1, true, b.ip), only(1), ""))
	addr := net.JoinHostPort(vip, strconv.Itoa(b.port))

	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Go(func() {
			if err := getOn(addr, requests); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := b.conns.Load(); got > clients {
		t.Fatalf("%d requests from %d clients opened %d endpoint connections, want at most %d", clients*requests, clients, got, clients)
	}
}

func TestMaxIdlePerEndpointCapsThePool(t *testing.T) {
	for _, tt := range []struct {
		name     string
		max      int
		wantIdle int
	}{
		{"default keeps what came back", 0, 300},
		{"cap", 10, 10},
		{"negative keeps none", -1, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{MaxIdlePerEndpoint: tt.max}.withDefaults()
			clk := clock.NewFake(time.Unix(1000, 0))
			cp := newConnPool("127.0.0.1:1", clk, cfg.MaxIdlePerEndpoint)
			var closed []net.Conn
			for range 300 {
				a, b := net.Pipe()
				closed = append(closed, a, b)
				cp.put(&upstreamConn{conn: a, pool: cp}, clk.Now())
			}
			t.Cleanup(func() {
				cp.setOpen(false)
				for _, c := range closed {
					c.Close()
				}
			})
			cp.mu.Lock()
			idle := len(cp.idle)
			cp.mu.Unlock()
			if idle != tt.wantIdle {
				t.Fatalf("idle = %d, want %d", idle, tt.wantIdle)
			}
			// Demand gone: the reaper closes them all after the timeout.
			clk.Advance(idleConnTimeout)
			cp.mu.Lock()
			idle = len(cp.idle)
			cp.mu.Unlock()
			if idle != 0 {
				t.Fatalf("idle after %s = %d, want 0", idleConnTimeout, idle)
			}
		})
	}
}
