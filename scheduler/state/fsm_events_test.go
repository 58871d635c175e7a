package state

import (
	"testing"
	"time"

	"flotilla/api"
)

func (h *harness) reportEvents(node string, events ...api.AllocEvent) {
	h.t.Helper()
	h.ok(CmdAllocStatus, &AllocStatus{Node: node, Events: events, Time: h.next()})
}

func TestAgentEventsBecomeEventsOfTheirAllocation(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.registerNode("n2", nil)
	h.place("web", "e1", "a1@n1")
	before := h.lastEventID()
	h.reportEvents("n1",
		api.AllocEvent{Allocation: "a1", Type: api.EventProbeFailed, Message: "readiness probe failed 3 times: HTTP 503"},
		api.AllocEvent{Allocation: "a1", Type: "Invented", Message: "ignored"},
		api.AllocEvent{Allocation: "nope", Type: api.EventProbeFailed, Message: "ignored"})
	h.reportEvents("n2", api.AllocEvent{Allocation: "a1", Type: api.EventProbeFailed, Message: "from the wrong node"})
	evs := h.eventsSince(before)
	if len(evs) != 1 {
		t.Fatalf("events %v, want the one valid report", eventTypes(evs))
	}
	e := evs[0]
	if e.Type != api.EventProbeFailed || e.Allocation != "a1" || e.Service != "web" || e.Node != "n1" ||
		e.Message != "default/web a1 on n1: readiness probe failed 3 times: HTTP 503" {
		t.Fatalf("event %+v", e)
	}
}

func TestThreeLivenessFailuresInAMinuteMakeTheServiceUnhealthy(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.place("web", "e1", "a1@n1", "a2@n1", "a3@n1", "a4@n1")
	fail := func(id string) {
		h.reportEvents("n1", api.AllocEvent{Allocation: id, Type: api.EventLivenessKilled, Message: "liveness probe failed 3 times"})
	}
	unhealthy := func() []*api.Event {
		var out []*api.Event
		for _, e := range h.events() {
			if e.Type == api.EventServiceUnhealthy {
				out = append(out, e)
			}
		}
		return out
	}
	fail("a1")
	fail("a1") // the same allocation twice counts once
	fail("a2")
	if n := len(unhealthy()); n != 0 {
		t.Fatalf("%d ServiceUnhealthy events after 2 allocations", n)
	}
	fail("a3")
	got := unhealthy()
	if len(got) != 1 || got[0].Message != "web: 3 allocations failed liveness in 1m" || got[0].Service != "web" {
		t.Fatalf("unhealthy events %+v", got)
	}
	fail("a4") // a fourth one in the same minute does not repeat it
	if n := len(unhealthy()); n != 1 {
		t.Fatalf("%d ServiceUnhealthy events, want 1", n)
	}
	// Entries are a second apart: 60 more later the old failures are out
	// of the window.
	for i := 0; i < 60; i++ {
		h.registerNode("n1", nil)
	}
	if entryTime(h.index).Sub(entryTime(h.index-61)) < time.Minute {
		t.Fatal("the harness clock did not move a minute")
	}
	fail("a1")
	if n := len(unhealthy()); n != 1 {
		t.Fatalf("an old failure still counted: %d unhealthy events", n)
	}
}
