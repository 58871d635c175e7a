package main

import (
	"encoding/json"
	"os/exec"
	"testing"

	"flotilla/internal/testutil"
	"flotilla/network/netbench"
)

// TestBenchProxyMeasuresEveryPathAndLeavesNothing runs a short `bench
// proxy` (Debian's wrk and nginx-light, as .ci/run installs; skipped
// without them outside CI): every round runs the three paths, each run
// answered requests and has the CPU its proxy and the upstream spent per
// request, the ratios come per round, and the command's success says no
// process it started was left behind.
func TestBenchProxyMeasuresEveryPathAndLeavesNothing(t *testing.T) {
	bin := buildBinary(t)
	if _, _, err := netbench.ProxyTools(); err != nil {
		testutil.SkipOrFail(t, "bench proxy: %v", err)
	}
	out, err := exec.CommandContext(t.Context(), bin, "bench", "proxy", "--connections", "4", "--rounds", "2", "--duration", "1s", "-o", "json").Output()
	if err != nil {
		t.Fatalf("bench proxy: %v\n%s", err, out)
	}
	var res netbench.ProxyResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(res.Sweeps) != 1 || len(res.Sweeps[0].Runs) != 6 {
		t.Fatalf("want one sweep of 2 rounds × 3 paths: %s", out)
	}
	s := res.Sweeps[0]
	for _, r := range s.Runs {
		proxied := r.Target != netbench.PathDirect
		if r.Requests <= 0 || r.RequestsPerS <= 0 || r.Errors != 0 || r.UpstreamCPUUs <= 0 || proxied != (r.ProxyCPUUs > 0) {
			t.Errorf("run %+v: want requests, no error, the upstream's CPU, and the proxy's on a proxied path", r)
		}
	}
	for name, ratios := range map[string][]float64{"requests/s": s.RoundRatios, "p99": s.P99Ratios, "CPU": s.CPURatios} {
		if len(ratios) != 2 {
			t.Errorf("%s ratios %v, want one per round", name, ratios)
		}
	}
	if s.CPUVsNginx <= 0 {
		t.Errorf("CPU per request against nginx: %v", s.CPUVsNginx)
	}
}
