package main

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"flotilla/api"
)

// TestShadowClientLatencyBenchmark measures what mirroring costs the
// clients (docs/BENCHMARKS.md): the same open-loop load through a
// service's VIP in a sim lab, in alternating windows with the shadow
// mirroring 100% of requests (baseline 50%) and with it paused (`rollout
// pause` stops mirroring; the candidate's replicas keep running, so the
// machine runs the same processes either way). It only runs when
// FLOTILLA_SHADOW_BENCH is set: it takes about as long as
// FLOTILLA_SHADOW_BENCH_ROUNDS (default 3) times two windows of
// FLOTILLA_SHADOW_BENCH_WINDOW (default 20s) at FLOTILLA_SHADOW_BENCH_RATE
// requests per second (default 200); FLOTILLA_SHADOW_BENCH_PERCENT (100),
// _BASELINE (50) and _LATENCY (the app's, none) change the service.
func TestShadowClientLatencyBenchmark(t *testing.T) {
	if os.Getenv("FLOTILLA_SHADOW_BENCH") == "" {
		t.Skip("a benchmark: set FLOTILLA_SHADOW_BENCH=1 to run it")
	}
	envInt := func(name string, def int) int {
		if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
			return v
		}
		return def
	}
	rounds, rate := envInt("FLOTILLA_SHADOW_BENCH_ROUNDS", 3), envInt("FLOTILLA_SHADOW_BENCH_RATE", 200)
	window := time.Duration(envInt("FLOTILLA_SHADOW_BENCH_WINDOW", 20)) * time.Second
	latency := os.Getenv("FLOTILLA_SHADOW_BENCH_LATENCY") // the app's own latency, e.g. 5ms; none by default
	percent, baseline := envInt("FLOTILLA_SHADOW_BENCH_PERCENT", 100), 50
	if v, err := strconv.Atoi(os.Getenv("FLOTILLA_SHADOW_BENCH_BASELINE")); err == nil && v >= 0 {
		baseline = v
	}

	r, _ := newLabRig(t)
	const name = "shadow-bench"
	port := 30000 + int(time.Now().UnixNano()%5000)
	block := fmt.Sprintf("  shadow: {percent: %d%%, baseline: %d%%, compare: {status: true, body: true, ignoreJSONFields: [version]}}\n", percent, baseline)
	spec := func(version string) string {
		args := []string{"--version", version}
		if latency != "" {
			args = append(args, "--latency", latency)
		}
		return rolloutServiceSpec(name, port, 3, args, "shadow", block)
	}
	r.apply(spec("v1"))
	r.waitReady(name, 1, 3, 30*time.Second)
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(r.vip(name), strconv.Itoa(port)))
	r.apply(spec("v2"))
	r.waitRollout(name, 2, 30*time.Second, "shadowing", func(ro *api.Rollout) bool { return ro.Step == 1 && !ro.StepTime.IsZero() })

	type result struct {
		mirroring                bool
		requests, errors         int64
		p50, p90, p99, max       float64
		mirrored, compared, drop uint64
	}
	var results []result
	measure := func(mirroring bool) {
		before := r.diffs(name).Report
		res := r.startLoadAt(url, rate, window).wait()
		after := r.diffs(name).Report
		results = append(results, result{mirroring: mirroring, requests: res.Requests, errors: res.Errors,
			p50: res.P50Ms, p90: res.P90Ms, p99: res.P99Ms, max: res.MaxMs,
			mirrored: after.Mirrored - before.Mirrored, compared: uint64(after.Comparisons - before.Comparisons), drop: after.Dropped - before.Dropped})
		t.Logf("shadow %-3s: %d requests, %d errors, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.1f ms; %d mirrored, %d compared, %d dropped",
			map[bool]string{true: "on", false: "off"}[mirroring], res.Requests, res.Errors, res.P50Ms, res.P90Ms, res.P99Ms, res.MaxMs,
			after.Mirrored-before.Mirrored, after.Comparisons-before.Comparisons, after.Dropped-before.Dropped)
	}
	mirroring := true
	for range 2 * rounds {
		// Let the proxies take the route change in before measuring.
		r.poll(10*time.Second, "the route table to follow", func() bool {
			se, err := r.c.ServiceEndpoints(t.Context(), api.DefaultNamespace, name)
			return err == nil && (len(se.Routes.Mirrors) == 1) == mirroring
		})
		time.Sleep(time.Second) // the watch's round trip to every agent; not synchronisation of the test's logic
		measure(mirroring)
		if mirroring {
			r.l.must("rollout", "pause", name)
		} else {
			r.l.must("rollout", "resume", name)
		}
		mirroring = !mirroring
	}
	var on, off []float64
	for _, res := range results {
		if res.mirroring {
			on = append(on, res.p99)
		} else {
			off = append(off, res.p99)
		}
	}
	median := func(v []float64) float64 {
		v = slices.Clone(v)
		slices.Sort(v)
		return v[len(v)/2]
	}
	t.Logf("machine: %s/%s, %d CPUs; rate %d/s, %s windows, %d rounds, app latency %q, percent %d%%, baseline %d%%",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), rate, window, rounds, latency, percent, baseline)
	t.Logf("client p99, median of the windows: shadow on %.2f ms, off %.2f ms (on/off %.2f)", median(on), median(off), median(on)/median(off))
}
