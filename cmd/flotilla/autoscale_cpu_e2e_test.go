package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

// TestCPUAutoscalingInALab: the demo app costs 20 ms of CPU per request
// (the sim runtime's model: millicores = 20 ms × requests/s), each replica
// reserves 100m and the target is 50% of it. At 30 requests/s the service
// uses ~600m, 12 replicas' worth: the autoscaler scales it up on the
// agents' readings, the change is an event naming the cpu metric, and
// `top allocs` shows the figures it read.
func TestCPUAutoscalingInALab(t *testing.T) {
	r, client := newLabRig(t)
	port := 10000 + rand.IntN(9000)
	r.apply(fmt.Sprintf(`kind: Service
name: burner
image: flotilla.local/demo:v1
args: ["--version", "v1", "--cpu-per-request", "20ms"]
resources: {cpu: 100m, memory: 32Mi}
ports: [{name: http, port: %d, protocol: http}]
probes:
  readiness: {http: {path: /ready, port: http}, period: 1s}
autoscale: {min: 1, max: 6, metric: cpu, target: 50}
`, port))
	r.waitReady("burner", 1, 1, 30*time.Second)
	url := fmt.Sprintf("http://%s:%d/", r.vip("burner"), port)

	load := r.startLoadAt(url, 30, 20*time.Second)
	start := time.Now()

	// The readings reach the leader's book: top shows them.
	r.poll(10*time.Second, "top allocs to show the replica's CPU", func() bool {
		top, err := client.TopAllocations(context.Background())
		if err != nil {
			return false
		}
		for _, u := range top.Allocations {
			if u.Service == "burner" && u.CPU >= 100 {
				return true
			}
		}
		return false
	})
	var scaledAt time.Duration
	r.poll(19*time.Second, "the autoscaler to scale up on cpu", func() bool {
		svc, _, err := client.Service(context.Background(), "default", "burner", api.QueryOptions{})
		if err == nil && svc.Replicas >= 3 {
			scaledAt = time.Since(start)
			return true
		}
		return false
	})
	t.Logf("scaled up %s after the load began", scaledAt)
	svc, _, err := client.Service(context.Background(), "default", "burner", api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := svc.Autoscaled; c == nil || !strings.Contains(c.Reason, "cpu") {
		t.Fatalf("autoscaled = %+v, want the change with the cpu rule", svc.Autoscaled)
	}
	e := r.event("burner", api.EventServiceScaled, "autoscaled default/burner 1 →")
	t.Logf("first change: %s", e.Message)
	if strings.Contains(e.Message, "(panic)") {
		t.Fatalf("first change %q: the cpu metric has no panic mode", e.Message)
	}
	if sum := load.wait(); sum.Errors != 0 {
		t.Fatalf("load while scaling: %+v, want no error", sum)
	}
	svc, _, err = client.Service(context.Background(), "default", "burner", api.QueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r.waitReady("burner", 1, svc.Replicas, 15*time.Second)

	// top services, once as JSON, shows the replicas' CPU and the target.
	topOut, err := r.l.run("top", "services", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var rows []topService
	if err := json.Unmarshal([]byte(topOut), &rows); err != nil {
		t.Fatalf("top services: %v: %s", err, topOut)
	}
	found := false
	for _, row := range rows {
		if row.Name == "burner" {
			found = row.Metric == api.MetricCPU && row.Target == 50 && row.Measured > 0
		}
	}
	if !found {
		t.Fatalf("top services = %s, want burner measured with its cpu target", topOut)
	}
}
