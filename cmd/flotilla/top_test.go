package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"flotilla/api"
)

// topServer answers what `flotilla top` reads: two replicas of web (one
// measured at 300m and 48Mi, one not yet), its traffic, and one node.
func topServer(t *testing.T) *httptest.Server {
	t.Helper()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	reserved := api.Resources{CPU: 200, Memory: 64 << 20}
	answers := map[string]any{
		"/v1/top/allocations": api.TopAllocations{Allocations: []api.AllocationUsage{
			{ID: "web-1", Namespace: "default", Service: "web", Revision: 1, Node: "n1", Ready: true,
				CPU: 300, Memory: 48 << 20, CPU1m: 150, Memory1m: 48 << 20, Reserved: reserved, At: at},
			{ID: "web-2", Namespace: "default", Service: "web", Revision: 1, Node: "n1", Reserved: reserved},
		}},
		"/v1/services": []*api.Service{{Name: "web", Namespace: "default", Replicas: 2, ReadyReplicas: 1,
			Spec: api.ServiceSpec{Autoscale: &api.Autoscale{Min: 1, Max: 4, Metric: api.MetricCPU, Target: 70}}}},
		"/v1/services/default/web/traffic": api.ServiceTraffic{Namespace: "default", Service: "web", Windows: []api.TrafficWindow{
			{Window: api.Duration(time.Minute), Revisions: []api.TrafficFigures{{Revision: 1, Requests: 6000, RPS: 100}}},
			{Window: api.Duration(10 * time.Second), Revisions: []api.TrafficFigures{{Revision: 1, Requests: 400, Errors: 4, RPS: 40, InFlight: 3}}},
		}},
		"/v1/nodes": []*api.Node{{Name: "n1", Status: api.NodeReady,
			Capacity: api.Resources{CPU: 4000, Memory: 4 << 30}, Allocated: api.Resources{CPU: 400, Memory: 128 << 20}}},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := answers[r.URL.Path]
		if !ok || r.Method != http.MethodGet {
			http.Error(w, `{"error": "no such endpoint"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(a)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestTopPrintsTheFiguresOnceAsJSON(t *testing.T) {
	srv := topServer(t)

	out, err := runCLI(t, srv.URL, "top", "services", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var services []topService
	if err := json.Unmarshal([]byte(out), &services); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := topService{Name: "web", Namespace: "default", Replicas: 2, ReadyReplicas: 1, RPS: 40, ErrorPercent: 1, InFlight: 3,
		CPU: 300, Memory: 48 << 20, Measured: 1, Metric: api.MetricCPU, Target: 70}
	if len(services) != 1 || services[0] != want {
		t.Fatalf("top services = %+v, want [%+v] (the 10s window; per replica over the measured one)", services, want)
	}

	out, err = runCLI(t, srv.URL, "top", "allocs", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var allocs []api.AllocationUsage
	if err := json.Unmarshal([]byte(out), &allocs); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(allocs) != 2 || allocs[0].ID != "web-1" || allocs[0].CPU != 300 || allocs[0].CPU1m != 150 || !allocs[1].At.IsZero() {
		t.Fatalf("top allocs = %+v", allocs)
	}

	out, err = runCLI(t, srv.URL, "top", "nodes", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var nodes []topNode
	if err := json.Unmarshal([]byte(out), &nodes); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(nodes) != 1 || nodes[0].Used != (api.Resources{CPU: 300, Memory: 48 << 20}) || nodes[0].Allocations != 2 ||
		nodes[0].Allocated.CPU != 400 {
		t.Fatalf("top nodes = %+v, want used 300m/48Mi summed over 2 allocations", nodes)
	}
}

func TestTopPrintsATableWhenPiped(t *testing.T) {
	srv := topServer(t)
	out, err := runCLI(t, srv.URL, "top", "allocs")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"web-1", "300m", "150%", "48Mi", "75%"} {
		if !strings.Contains(out, want) {
			t.Fatalf("top allocs table lacks %q:\n%s", want, out)
		}
	}
	if _, err := runCLI(t, srv.URL, "top", "pods"); err == nil {
		t.Fatal("top pods: no error")
	}
}
