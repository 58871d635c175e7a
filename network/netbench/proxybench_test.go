package netbench

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
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

func TestSummarizeTakesMediansAndRatiosPerRound(t *testing.T) {
	s := ProxySweep{Connections: 64}
	// Per round: direct, proxy, nginx requests/s; the proxy's and nginx's
	// p99 and CPU per request.
	for round, r := range []struct{ rps, p99, cpu [3]float64 }{
		{[3]float64{300, 100, 100}, [3]float64{1, 10, 20}, [3]float64{0, 20, 25}},
		{[3]float64{330, 90, 100}, [3]float64{1, 12, 12}, [3]float64{0, 30, 20}},
		{[3]float64{270, 120, 100}, [3]float64{1, 30, 10}, [3]float64{0, 20, 20}},
	} {
		for i, target := range []string{PathDirect, PathProxy, PathNginx} {
			s.Runs = append(s.Runs, WrkResult{Target: target, Round: round + 1, RequestsPerS: r.rps[i],
				P50Ms: float64(round + 1), P99Ms: r.p99[i], Errors: 1, ProxyCPUUs: r.cpu[i], UpstreamCPUUs: float64(round + 40)})
		}
	}
	s.summarize(3)
	for _, c := range []struct {
		what   string
		rounds []float64
		median float64
		want   []float64
	}{
		{"requests/s", s.RoundRatios, s.VsNginx, []float64{1, 0.9, 1.2}},
		{"p99", s.P99Ratios, s.P99VsNginx, []float64{0.5, 1, 3}},
		{"CPU", s.CPURatios, s.CPUVsNginx, []float64{0.8, 1.5, 1}},
	} {
		if !slices.Equal(c.rounds, c.want) {
			t.Errorf("%s ratios %v, want %v", c.what, c.rounds, c.want)
		}
		if c.median != 1 {
			t.Errorf("%s: median %v, want 1", c.what, c.median)
		}
	}
	want := []PathSummary{
		{Target: PathDirect, RequestsPerS: 300, P50Ms: 2, P99Ms: 1, Errors: 3, UpstreamCPUUs: 41},
		{Target: PathProxy, RequestsPerS: 100, P50Ms: 2, P99Ms: 12, Errors: 3, ProxyCPUUs: 20, UpstreamCPUUs: 41},
		{Target: PathNginx, RequestsPerS: 100, P50Ms: 2, P99Ms: 12, Errors: 3, ProxyCPUUs: 20, UpstreamCPUUs: 41},
	}
	if !slices.Equal(s.Paths, want) {
		t.Fatalf("paths %+v, want %+v", s.Paths, want)
	}
}

// TestCPUMeterSeesTheGroupsWork: the meter's reading of a process group
// grows by the CPU its members burn, and this process's by its own.
func TestCPUMeterSeesTheGroupsWork(t *testing.T) {
	pg := newProcessGroups()
	busy := pg.command(t.Context(), syscall.SIGKILL, "sh", "-c", "while :; do :; done")
	if err := pg.start(busy); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pg.stop(busy, syscall.SIGKILL)
		if err := pg.check(); err != nil {
			t.Error(err)
		}
	})
	m := cpuMeter{upstream: busy.Process.Pid, nginx: busy.Process.Pid}
	before := m.read()
	deadline := time.Now().Add(30 * time.Second)
	var used cpuTimes
	for used.nginx < 0.2 || used.self < 0.05 {
		if time.Now().After(deadline) {
			t.Fatalf("after 30s the meter read %+v", used)
		}
		for i := 0; i < 1e6; i++ { // this process's own work
			sink += i
		}
		used = m.read().since(before)
	}
	// Read one after the other: a few clock ticks apart at most.
	if d := used.upstream - used.nginx; d < -0.05 || d > 0.05 {
		t.Fatalf("the same single process read as %vs (by pid) and %vs (by group)", used.upstream, used.nginx)
	}
}

var sink int
