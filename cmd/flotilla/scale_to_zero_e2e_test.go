package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"flotilla/api"
)

// TestScaleToZeroInALab: a service with autoscale min 0 (idle window 30 s,
// its stabilizationWindow) goes to zero allocations once idle; a GET to
// its VIP is then held by the proxy, which wakes the service, and answered
// 200; 50 concurrent first requests are all served. It also measures the
// cold start through the proxy (the first request's latency from zero
// replicas) over a few rounds, for docs/BENCHMARKS.md.
func TestScaleToZeroInALab(t *testing.T) {
	r, client := newLabRig(t)
	port := 10000 + rand.IntN(9000)
	r.apply(fmt.Sprintf(`kind: Service
name: sleepy
image: flotilla.local/demo:v1
args: ["--version", "v1"]
ports: [{name: http, port: %d, protocol: http}]
probes:
  readiness: {http: {path: /ready, port: http}, period: 200ms}
autoscale: {min: 0, max: 4, metric: inflight, target: 5, stabilizationWindow: 30s}
`, port))
	url := fmt.Sprintf("http://%s:%d/", r.vip("sleepy"), port)
	httpc := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 40 * time.Second}
	getOK := func() (time.Duration, error) {
		start := time.Now()
		resp, err := httpc.Get(url)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		return time.Since(start), nil
	}
	running := func(allocs []*api.Allocation) int {
		n := 0
		for _, a := range allocs {
			if a.DesiredStatus == api.DesiredRun || a.Status == api.AllocRunning {
				n++
			}
		}
		return n
	}

	// The first request wakes it (it starts at min 0 or is woken at once).
	if _, err := getOK(); err != nil {
		t.Fatalf("first GET: %v", err)
	}
	r.waitReady("sleepy", 1, 1, 10*time.Second)
	// Idle for the 30 s idle window (plus the leader's one-second look):
	// zero allocations, by the idle rule.
	idleFrom := time.Now()
	r.waitAllocs("sleepy", 50*time.Second, "zero allocations after the idle window", func(a []*api.Allocation) bool { return running(a) == 0 })
	if idle := time.Since(idleFrom); idle < 29*time.Second {
		t.Fatalf("went to zero after %s idle, before the 30s idle window", idle)
	}
	r.event("sleepy", api.EventServiceScaled, "scaled to zero")

	// A GET to the VIP of a service at zero: held, then 200.
	took, err := getOK()
	if err != nil {
		t.Fatalf("GET at zero: %v", err)
	}
	t.Logf("cold start from the idle rule's zero: %s", took)
	r.event("sleepy", api.EventServiceScaled, "woken from zero")

	// 50 concurrent first requests at zero: all served.
	toZero := func() {
		r.l.must("scale", "sleepy", "0")
		r.waitAllocs("sleepy", 20*time.Second, "zero allocations", func(a []*api.Allocation) bool { return running(a) == 0 })
	}
	toZero()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	var mu sync.Mutex
	var burst []time.Duration
	for range 50 {
		wg.Go(func() {
			took, err := getOK()
			mu.Lock()
			burst = append(burst, took)
			mu.Unlock()
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	slices.Sort(burst)
	t.Logf("50 concurrent first requests at zero: p50 %s, max %s", burst[len(burst)/2], burst[len(burst)-1])
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
			t.Errorf("one of 50 concurrent first requests: %v", err)
		}
	}
	if failed > 0 {
		t.Fatalf("%d of 50 concurrent first requests failed", failed)
	}

	// Cold start through the proxy, a few rounds.
	var rounds []time.Duration
	for range 10 {
		toZero()
		took, err := getOK()
		if err != nil {
			t.Fatalf("cold start round: %v", err)
		}
		rounds = append(rounds, took)
	}
	slices.Sort(rounds)
	p50, p99 := rounds[len(rounds)/2], rounds[len(rounds)-1]
	t.Logf("cold start through the proxy over %d rounds: p50 %s, p99 %s (all %v)", len(rounds), p50, p99, rounds)
	if p99 > 3*time.Second {
		// The goal is 1 s in a sim lab; 3 s is a bound a busy CI machine keeps.
		t.Fatalf("cold start p99 %s, want about 1 s", p99)
	}
	svc, _, err := client.Service(context.Background(), "default", "sleepy", api.QueryOptions{})
	if err != nil || svc.Replicas < 1 {
		t.Fatalf("after the last cold start: %+v, %v; want a replica", svc, err)
	}
}
