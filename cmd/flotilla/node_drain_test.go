package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"flotilla/api"
)

// node drain --wait follows the drain: it says how many allocations are
// left each time that changes, and ends once the node is drained.
func TestNodeDrainWaitFollowsTheDrainToItsEnd(t *testing.T) {
	var mu sync.Mutex
	left, drains := 2, 0
	mux := http.NewServeMux()
	answer := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("POST /v1/nodes/n1/drain", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		drains++
		mu.Unlock()
		answer(w, api.WriteResponse{Index: 5})
	})
	mux.HandleFunc("GET /v1/nodes/n1", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if left == 0 {
			answer(w, api.Node{Name: "n1", Status: api.NodeReady, StatusMessage: "drained"})
			return
		}
		answer(w, api.Node{Name: "n1", Status: api.NodeDraining, StatusMessage: "draining"})
	})
	mux.HandleFunc("GET /v1/allocations", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		var out []*api.Allocation
		for range left {
			out = append(out, &api.Allocation{Node: "n1", DesiredStatus: api.DesiredRun})
		}
		out = append(out, &api.Allocation{Node: "n1", DesiredStatus: api.DesiredStop}) // stopped: not counted
		left--                                                                         // one leaves per look
		answer(w, out)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	out, err := runCLI(t, srv.URL, "node", "drain", "n1", "--wait")
	if err != nil {
		t.Fatal(err)
	}
	want := "node n1 draining\nnode n1: 2 allocations left\nnode n1: 1 allocation left\nnode n1 drained\n"
	if out != want || drains != 1 {
		t.Fatalf("output %q (drains asked %d), want %q (once)", out, drains, want)
	}
	if _, err := runCLI(t, srv.URL, "node", "drain", "n1", "--wait", "--cancel"); err == nil || !strings.Contains(err.Error(), "--wait") {
		t.Fatalf("--wait with --cancel: %v, want a refusal naming --wait", err)
	}
}
