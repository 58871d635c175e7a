package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"flotilla/api"
)

// An endpoint that takes requests and never answers (a replica cut off by
// a partition, on a kept-alive connection) holds a request only for the
// response timeout: a GET then goes to another endpoint, a POST (which may
// have had effects) gets 504, and neither waits for the client's own
// timeout.
func TestResponseTimeoutMovesOnFromAHungEndpoint(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	port, bs := startBackends(t, 2, func(i int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if i == 0 {
				<-hang
				return
			}
			io.WriteString(w, strconv.Itoa(i))
		})
	})
	// Registered after the backends, so it runs before they close (which
	// waits for their handlers).
	t.Cleanup(func() { close(hang) })
	vip := freeVIP(t, port)
	p := newProxy(t, Config{ResponseTimeout: 300 * time.Millisecond, Outlier: OutlierConfig{Consecutive: -1}})
	update(t, p, httpService("web", vip, port, endpoints(1, true, ipsOf(bs)...), only(1), api.BalanceRoundRobin))
	c := newClient(true)
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port)))
	for i := range 4 {
		start := time.Now()
		r := get(t, c, url)
		if r.status != 200 || r.body != "1" {
			t.Fatalf("GET %d: %d %q, want the answering endpoint's 200", i, r.status, r.body)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("GET %d took %s", i, took)
		}
	}
	if bs[0].hits.Load() == 0 {
		t.Fatal("the hung endpoint got no request: the test proves nothing")
	}

	// Only the hung endpoint: a POST is not repeated, it gets 504.
	update(t, p, httpService("web", vip, port, endpoints(1, true, bs[0].ip), only(1), ""))
	start := time.Now()
	if r := do(t, c, "POST", url, "payload", nil); r.status != http.StatusGatewayTimeout {
		t.Fatalf("POST to a hung endpoint: %d %q, want 504", r.status, r.body)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("POST took %s, want about the response timeout", took)
	}
}

// A kept-alive connection keeps the read deadline of the request before
// when it is recent enough: an endpoint that answered and then hangs on
// the same connection still gets only the response timeout.
func TestResponseTimeoutHoldsOnAConnectionThatAnsweredBefore(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	var n atomic.Int64
	port, bs := startBackends(t, 1, func(int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) > 3 {
				<-hang
				return
			}
			io.WriteString(w, "ok")
		})
	})
	t.Cleanup(func() { close(hang) })
	vip := freeVIP(t, port)
	p := newProxy(t, Config{ResponseTimeout: time.Second, Outlier: OutlierConfig{Consecutive: -1}})
	update(t, p, httpService("web", vip, port, endpoints(1, true, bs[0].ip), only(1), ""))
	c := newClient(true)
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port)))
	for i := range 3 {
		if r := get(t, c, url); r.status != 200 {
			t.Fatalf("GET %d: %d %q", i, r.status, r.body)
		}
	}
	// A GET takes the connection without checking it, deadline and all.
	if r := get(t, c, url); r.status != http.StatusGatewayTimeout {
		t.Fatalf("GET from an endpoint hung on a kept-alive connection: %d %q, want 504", r.status, r.body)
	}
}

func TestAReadDeadlineIsKeptOnlyWhileFresh(t *testing.T) {
	want := time.Unix(1000, 0)
	for _, tt := range []struct {
		name string
		cur  time.Time
		keep bool
	}{
		{"none set", time.Time{}, false},
		{"the same", want, true},
		{"a little earlier", want.Add(-time.Second / 2), true},
		{"a sixteenth earlier", want.Add(-time.Second), true},
		{"too early", want.Add(-time.Second - 1), false},
		{"later (a mirror's)", want.Add(time.Millisecond), false},
	} {
		if got := deadlineFresh(tt.cur, want, 16*time.Second); got != tt.keep {
			t.Errorf("%s: deadlineFresh = %v, want %v", tt.name, got, tt.keep)
		}
	}
}
