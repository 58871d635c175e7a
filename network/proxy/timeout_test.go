package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
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
