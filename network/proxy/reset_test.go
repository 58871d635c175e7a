package proxy

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"

	"flotilla/api"
)

// TestAGetWhoseEndpointDiesMidRequestGoesElsewhere: an endpoint that takes
// the request and drops the connection without an answer (its node died)
// costs a GET nothing, while a POST, which it may have acted on, is not
// repeated.
func TestAGetWhoseEndpointDiesMidRequestGoesElsewhere(t *testing.T) {
	t.Parallel()
	dropper := func(i int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if i == 0 {
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
				return
			}
			fmt.Fprintf(w, "served by %d", i)
		})
	}
	port, bs := startBackends(t, 2, dropper)
	vip := freeVIP(t, port)
	p := newProxy(t, Config{Outlier: OutlierConfig{Consecutive: -1}})
	update(t, p, httpService("web", vip, port, endpoints(1, true, ipsOf(bs)...), only(1), api.BalanceRoundRobin))
	c := newClient(true)
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port)))
	posts := 0
	for i := range 20 {
		if r := get(t, c, url); r.status != 200 || r.body != "served by 1" {
			t.Fatalf("GET %d: %d %q", i, r.status, r.body)
		}
		if r := do(t, c, "POST", url, "x", nil); r.status == http.StatusBadGateway {
			posts++
		}
	}
	if posts == 0 {
		t.Fatal("every POST succeeded: a POST the dropping endpoint took was repeated elsewhere")
	}
}
