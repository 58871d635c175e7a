package state

import (
	"bytes"
	"io"
	"testing"

	"flotilla/api"
)

// checkCurrentUsage asserts that the usage index agrees with summing the
// node's allocations, and holds want replicas of webResources.
func checkCurrentUsage(t *testing.T, h *harness, node string, want int) {
	t.Helper()
	snap := h.snap()
	live, summed := snap.CurrentUsage(node), snap.NodeUsage(node, nil)
	if live.Resources != summed.Resources || live.Count != summed.Count || len(live.HostPorts) != len(summed.HostPorts) {
		t.Fatalf("%s: usage index %+v, allocations sum to %+v", node, live, summed)
	}
	if live.Count != want || live.Resources != times(webResources, want) {
		t.Fatalf("%s: usage %+v, want %d replicas", node, live, want)
	}
}

func TestUsageIndexFollowsPlacementsStopsAndReports(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.registerNode("n2", nil)
	h.place("web", "e1", "a1@n1", "a2@n1", "a3@n2")
	checkCurrentUsage(t, h, "n1", 2)
	checkCurrentUsage(t, h, "n2", 1)

	h.stop("web", Stop{ID: "a1", Reason: "scaled down"})
	checkCurrentUsage(t, h, "n1", 1)
	// The agent later reports the stopped allocation complete: no second release.
	h.report("n1", api.AllocStatusUpdate{ID: "a1", Status: api.AllocComplete})
	checkCurrentUsage(t, h, "n1", 1)

	h.report("n2", api.AllocStatusUpdate{ID: "a3", Status: api.AllocFailed, Message: "exit 1"})
	checkCurrentUsage(t, h, "n2", 0)
	h.ok(CmdGC, &GC{Allocations: []string{"a1", "a3"}})
	checkCurrentUsage(t, h, "n1", 1)
	checkCurrentUsage(t, h, "n2", 0)
}

func TestUsageIndexIgnoresAFailedCommand(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.place("web", "e1", "a1@n1")
	h.fails(CmdNodeStatus, &NodeStatus{Name: "missing", Status: api.NodeDown})
	checkCurrentUsage(t, h, "n1", 1)
}

func TestUsageIndexIsRebuiltOnRestore(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.registerNode("n2", nil)
	h.place("web", "e1", "a1@n1", "a2@n1", "a3@n2")
	h.stop("web", Stop{ID: "a3"})
	data := h.writeSnapshot()

	restored := newHarness(t)
	restored.registerNode("stale", nil)
	restored.place("web", "old", "x1@stale")
	if err := restored.fsm.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	checkCurrentUsage(t, restored, "n1", 2)
	checkCurrentUsage(t, restored, "n2", 0)
	if u := restored.snap().CurrentUsage("stale"); u.Count != 0 {
		t.Fatalf("usage of a node from before the restore survived: %+v", u)
	}
}

func TestUsageIndexTracksHostPorts(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	plan := &Plan{EvalID: "e1", Namespace: "default", Service: "web", Revision: 1, Resources: webResources,
		HostPorts: []int{80, 443}, Place: []Placement{{ID: "p1", Node: "n1"}}}
	h.plans(plan)
	if u := h.snap().CurrentUsage("n1"); !u.HostPorts[80] || !u.HostPorts[443] || len(u.HostPorts) != 2 {
		t.Fatalf("host ports %v, want 80 and 443", u.HostPorts)
	}
	// The copy handed out is the caller's to change.
	u := h.snap().CurrentUsage("n1")
	delete(u.HostPorts, 80)
	if !h.snap().CurrentUsage("n1").HostPorts[80] {
		t.Fatal("changing a returned usage changed the index")
	}
	h.stop("web", Stop{ID: "p1"})
	if u := h.snap().CurrentUsage("n1"); len(u.HostPorts) != 0 {
		t.Fatalf("host ports %v after the stop, want none", u.HostPorts)
	}
}
