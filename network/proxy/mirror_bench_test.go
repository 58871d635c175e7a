package proxy

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"flotilla/api"
)

// BenchmarkProxyHTTPMirrored is BenchmarkProxyHTTP's parallel GETs of a
// demo-app-like JSON answer, without a mirror, mirrored to a candidate,
// and mirrored with a baseline copy for half of them: with the CPUs busy,
// ns/op is about what one client request costs the machine, copies and
// comparisons included.
func BenchmarkProxyHTTPMirrored(b *testing.B) {
	port, bs := startBackends(b, 3, func(i int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{"version": "v1", "node": "n1", "allocation": strconv.Itoa(i),
				"hostname": "replica-" + strconv.Itoa(i), "time": time.Now().UTC().Format(time.RFC3339Nano)})
		})
	})
	eps := append(endpoints(1, true, bs[0].ip, bs[1].ip), endpoints(2, true, bs[2].ip)...)
	compare := api.ShadowCompare{Status: true, Body: true}
	for _, tt := range []struct {
		name    string
		mirrors []api.Mirror
	}{
		{"none", nil},
		{"mirror", []api.Mirror{{Backend: 2, Percent: 100, Compare: compare}}},
		{"mirror+baseline", []api.Mirror{{Backend: 2, Percent: 100, Baseline: 50, Compare: compare}}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			vip := freeVIP(b, port)
			p := newProxy(b, Config{})
			routes := only(1)
			routes.Mirrors = tt.mirrors
			update(b, p, httpService("web", vip, port, eps, routes, ""))
			url := fmt.Sprintf("http://%s/", net.JoinHostPort(vip, strconv.Itoa(port)))
			c := newClient(true)
			b.ReportAllocs()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					fetch(b, c, url)
				}
			})
		})
	}
}
