package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

// TestProbesInALab is the health issue's check on the sim runtime: a
// replica whose readiness fails stops getting traffic within 2s and comes
// back within 2s; a replica whose liveness fails is restarted, then failed
// and replaced on another node; a slow starter is neither routed nor killed
// before it is ready.
func TestProbesInALab(t *testing.T) {
	checkProbes(t, startLab(t), &http.Client{Timeout: 5 * time.Second})
}

// checkProbes runs the health checks on a lab; client reaches the lab's
// VIPs and replicas (from the host for a sim lab, from inside a node for a
// containerd lab).
func checkProbes(t *testing.T, l *labCLI, client *http.Client) {
	t.Helper()
	spec := `kind: Service
name: web
image: flotilla.local/demo:v1
replicas: 3
ports: [{name: http, port: 8080, protocol: http}]
probes:
  readiness: {http: {path: /ready, port: http}, period: 1s, failureThreshold: 1}
---
kind: Service
name: flaky
image: flotilla.local/demo:v1
replicas: 1
args: [--fail-liveness-after, 2s]
ports: [{name: http, port: 8080, protocol: http}]
probes:
  liveness: {http: {path: /healthz, port: http}, period: 1s, failureThreshold: 2}
restart: {policy: always, maxRestarts: 2, backoff: 1s}
---
kind: Service
name: slow
image: flotilla.local/demo:v1
replicas: 1
args: [--startup-delay, 6s]
ports: [{name: http, port: 8080, protocol: http}]
probes:
  startup: {http: {path: /healthz, port: http}, period: 1s, failureThreshold: 30}
  readiness: {http: {path: /ready, port: http}, period: 1s}
  liveness: {tcp: {port: http}, period: 1s, failureThreshold: 2}
`
	file := t.TempDir() + "/probed.yaml"
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	l.must("apply", "-f", file)
	applied := time.Now()

	// The slow starter: running but not ready, and not restarted, until
	// its startup delay has passed.
	for time.Since(applied) < 5*time.Second {
		for _, a := range l.allocs() {
			if a.Service == "slow" && (a.Ready || a.Restarts > 0) {
				t.Fatalf("the slow starter was ready or restarted %s after apply: %+v", time.Since(applied), a)
			}
		}
		time.Sleep(200 * time.Millisecond) // sampling interval
	}
	waitFor(t, 20*time.Second, "the slow starter ready", func() bool {
		for _, a := range l.allocs() {
			if a.Service == "slow" && a.Ready && a.Restarts == 0 {
				return true
			}
		}
		return false
	})

	// Readiness: one replica's /ready fails.
	var svc api.ServiceDocument
	json.Unmarshal([]byte(l.must("get", "services", "web", "-o", "json")), &svc)
	var victim *api.Allocation
	waitFor(t, 20*time.Second, "3 ready web replicas", func() bool {
		n := 0
		for _, a := range l.allocs() {
			if a.Service == "web" && a.Ready {
				n++
				victim = a
			}
		}
		return n == 3
	})
	post := func(url string) {
		resp, err := client.Post(url, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %s %s", url, resp.Status, body)
		}
		t.Logf("POST %s: %s", url, body)
	}
	served := func(seconds float64) (victimAt float64, errs int) {
		victimAt = -1
		start := time.Now()
		for time.Since(start).Seconds() < seconds {
			resp, err := client.Get("http://" + svc.VIP + ":8080/")
			if err != nil {
				errs++
				continue
			}
			var body map[string]string
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs++
			}
			if body["allocation"] == victim.ID {
				victimAt = time.Since(start).Seconds()
			}
			time.Sleep(10 * time.Millisecond) // pacing the client loop
		}
		return victimAt, errs
	}
	post("http://" + victim.Address + "/admin/readiness?fail=true")
	last, errs := served(4)
	if errs > 0 || last > 2 {
		t.Fatalf("after /ready failed on %s (%s on %s): %d errors, the replica still served at %.2fs; endpoints now:\n%s",
			victim.ID, victim.Address, victim.Node, errs, last, l.must("get", "endpoints", "web"))
	}
	post("http://" + victim.Address + "/admin/readiness?fail=false")
	back := -1.0
	start := time.Now()
	for time.Since(start) < 5*time.Second && back < 0 {
		if at, _ := served(0.2); at >= 0 {
			back = time.Since(start).Seconds()
		}
	}
	if back < 0 || back > 2.5 {
		t.Fatalf("the replica came back into rotation after %.2fs", back)
	}

	// Liveness: restarted twice, then failed and replaced on another node.
	var first *api.Allocation
	waitFor(t, 60*time.Second, "the flaky replica failed after 2 restarts", func() bool {
		for _, a := range l.allocs() {
			if a.Service == "flaky" && a.Status == api.AllocFailed && a.Restarts == 2 {
				first = a
				return true
			}
		}
		return false
	})
	waitFor(t, 20*time.Second, "a replacement on another node", func() bool {
		for _, a := range l.allocs() {
			if a.Service == "flaky" && a.PreviousAllocation == first.ID && a.DesiredStatus == api.DesiredRun {
				return a.Node != first.Node
			}
		}
		return false
	})
	events := l.must("events", "--service", "flaky")
	for _, want := range []string{"LivenessFailed", "AllocationRestarted", "AllocationFailed"} {
		if !strings.Contains(events, want) {
			t.Fatalf("events lack %s:\n%s", want, events)
		}
	}
}
