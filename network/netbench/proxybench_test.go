package netbench

import (
	"slices"
	"strings"
	"testing"
)

func TestNginxKeepsAliveAtLeastAsManyUpstreamConnectionsAsClients(t *testing.T) {
	for _, tt := range []struct {
		conns []int
		want  int
	}{
		{[]int{16, 64, 256}, 256},
		{[]int{1024, 16}, 1024},
		{[]int{8}, 64},
	} {
		if got := nginxKeepalive(tt.conns); got != tt.want {
			t.Errorf("nginxKeepalive(%v) = %d, want %d", tt.conns, got, tt.want)
		}
	}
}

func TestNginxConfigIsAFairReverseProxy(t *testing.T) {
	conf := nginxConfig{Workers: 2, Dir: "/tmp/nb", Upstream: "127.200.1.1:8080", Listen: "127.200.1.2:9090", Keepalive: 256}.render()
	for _, want := range []string{
		"worker_processes 2;",
		"daemon off;",        // the master can be waited for
		"master_process on;", // and stops its workers on SIGQUIT
		"pid /tmp/nb/nginx.pid;",
		"worker_connections 4096;",
		"access_log off;",
		"upstream app {\n    server 127.200.1.1:8080;\n    keepalive 256;\n    keepalive_requests 1000000;\n  }",
		"  keepalive_requests 1000000;\n", // client connections too
		"listen 127.200.1.2:9090 reuseport;",
		"proxy_pass http://app;",
		"proxy_http_version 1.1;",
		`proxy_set_header Connection "";`,
		"proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
		"add_header X-Flotilla-Endpoint $upstream_addr;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q:\n%s", want, conf)
		}
	}
	if big := (nginxConfig{Keepalive: 2048}).render(); !strings.Contains(big, "worker_connections 8192;") {
		t.Errorf("worker_connections does not grow with keepalive:\n%s", big)
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		xs   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{1.1, 0.9, 1.0, 5, 0.2}, 1.0},
	} {
		in := slices.Clone(tt.xs)
		if got := median(tt.xs); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.xs, got, tt.want)
		}
		if !slices.Equal(in, tt.xs) {
			t.Errorf("median sorted its argument: %v", tt.xs)
		}
	}
}

func TestEveryPathTakesEveryTurnOverTheRounds(t *testing.T) {
	paths := []string{PathDirect, PathProxy, PathNginx}
	want := [][]string{
		{PathDirect, PathProxy, PathNginx},
		{PathProxy, PathNginx, PathDirect},
		{PathNginx, PathDirect, PathProxy},
		{PathDirect, PathProxy, PathNginx},
	}
	for r, w := range want {
		if got := roundOrder(paths, r); !slices.Equal(got, w) {
			t.Errorf("round %d: %v, want %v", r, got, w)
		}
	}
}

func TestSummarizeTakesMediansAndARatioPerRound(t *testing.T) {
	s := ProxySweep{Connections: 64}
	for round, rps := range [][3]float64{{300, 100, 100}, {330, 90, 100}, {270, 120, 100}} {
		for i, target := range []string{PathDirect, PathProxy, PathNginx} {
			s.Runs = append(s.Runs, WrkResult{Target: target, Round: round + 1, RequestsPerS: rps[i],
				P50Ms: float64(round + 1), P99Ms: float64(10 * (round + 1)), Errors: 1})
		}
	}
	s.summarize(3)
	if want := []float64{1, 0.9, 1.2}; !slices.Equal(s.RoundRatios, want) {
		t.Fatalf("ratios %v, want %v", s.RoundRatios, want)
	}
	if s.VsNginx != 1 {
		t.Fatalf("VsNginx = %v, want the median 1", s.VsNginx)
	}
	want := []PathSummary{
		{Target: PathDirect, RequestsPerS: 300, P50Ms: 2, P99Ms: 20, Errors: 3},
		{Target: PathProxy, RequestsPerS: 100, P50Ms: 2, P99Ms: 20, Errors: 3},
		{Target: PathNginx, RequestsPerS: 100, P50Ms: 2, P99Ms: 20, Errors: 3},
	}
	if !slices.Equal(s.Paths, want) {
		t.Fatalf("paths %+v, want %+v", s.Paths, want)
	}
}
