package state

import (
	"errors"
	"reflect"
	"testing"

	"flotilla/api"
)

func TestRegisterNodeMakesItReadyAndEligible(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", map[string]string{"zone": "a"})

	n := h.node("n1")
	if n.Status != api.NodeReady || !n.Eligible {
		t.Errorf("node = %s eligible=%v, want ready and eligible", n.Status, n.Eligible)
	}
	if n.Capacity != nodeCapacity || n.Allocated != (api.Resources{}) || n.Allocations != 0 {
		t.Errorf("node capacity %v allocated %v (%d), want %v and nothing allocated", n.Capacity, n.Allocated, n.Allocations, nodeCapacity)
	}
	if n.Labels["zone"] != "a" || n.Address != "10.0.0.1" {
		t.Errorf("node description = %+v", n)
	}
	if n.CreateIndex != 1 || n.ModifyIndex != 1 || !n.StatusTime.Equal(entryTime(1)) {
		t.Errorf("node indexes %d/%d, status time %v; want 1/1 at %v", n.CreateIndex, n.ModifyIndex, n.StatusTime, entryTime(1))
	}
	if got := eventTypes(h.events()); !reflect.DeepEqual(got, []string{api.EventNodeRegistered}) {
		t.Errorf("events = %v, want [NodeRegistered]", got)
	}
	if got := h.snap().Index(IndexCapacity); got != 1 {
		t.Errorf("capacity index = %d, want 1 (a node joined)", got)
	}
}

func TestRegisterNodeAgainIdenticalChangesNothing(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", map[string]string{"zone": "a"})
	before := h.writeSnapshot()

	h.registerNode("n1", map[string]string{"zone": "a"})

	if n := h.node("n1"); n.ModifyIndex != 1 {
		t.Errorf("ModifyIndex = %d, want 1", n.ModifyIndex)
	}
	if after := h.writeSnapshot(); string(after) != string(before) {
		t.Errorf("an identical registration changed the state:\nbefore %s\nafter  %s", before, after)
	}
}

func TestRegisterNodeAgainUpdatesDescription(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", map[string]string{"zone": "a"})
	h.registerNode("n1", map[string]string{"zone": "b"})

	n := h.node("n1")
	if n.Labels["zone"] != "b" || n.ModifyIndex != 2 || n.CreateIndex != 1 {
		t.Errorf("node = labels %v indexes %d/%d, want zone b at 1/2", n.Labels, n.CreateIndex, n.ModifyIndex)
	}
	if n.Status != api.NodeReady || !n.Eligible {
		t.Errorf("node = %s eligible=%v, want ready and eligible", n.Status, n.Eligible)
	}
}

func TestRegisterNodeAgainMakesDownNodeReady(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.nodeStatus("n1", api.NodeDown)
	capacityBefore := h.snap().Index(IndexCapacity)
	events := h.lastEventID()

	h.registerNode("n1", nil)

	n := h.node("n1")
	if n.Status != api.NodeReady || n.ModifyIndex != h.index || !n.StatusTime.Equal(entryTime(h.index)) {
		t.Errorf("node = %s modify %d status time %v, want ready at %d", n.Status, n.ModifyIndex, n.StatusTime, h.index)
	}
	if evs := h.eventsSince(events); len(evs) != 1 || evs[0].Type != api.EventNodeStatus || evs[0].Node != "n1" {
		t.Errorf("events = %v, want [NodeStatusChanged] for n1", eventTypes(evs))
	}
	if got := h.snap().Index(IndexCapacity); got <= capacityBefore {
		t.Errorf("capacity index = %d, want it past %d (a node came back)", got, capacityBefore)
	}
}

// An operator's `node down` holds: neither the agent's heartbeats nor its
// registering again make the node ready; only an operator's `node ready`.
func TestOperatorDownHoldsUntilAnOperatorSaysReady(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.ok(CmdNodeStatus, &NodeStatus{Name: "n1", Status: api.NodeDown, Message: "marked down by an operator", Operator: true, Time: h.next()})
	if n := h.node("n1"); n.Status != api.NodeDown || !n.OperatorDown {
		t.Fatalf("after operator down: %s operatorDown=%v", n.Status, n.OperatorDown)
	}
	h.nodeStatus("n1", api.NodeReady) // what resumed heartbeats ask
	h.registerNode("n1", nil)         // an agent that restarts
	if n := h.node("n1"); n.Status != api.NodeDown || !n.OperatorDown {
		t.Fatalf("after heartbeat and registration: %s operatorDown=%v, want still down", n.Status, n.OperatorDown)
	}
	h.ok(CmdNodeStatus, &NodeStatus{Name: "n1", Status: api.NodeReady, Message: "marked ready by an operator", Operator: true, Time: h.next()})
	if n := h.node("n1"); n.Status != api.NodeReady || n.OperatorDown {
		t.Fatalf("after operator ready: %s operatorDown=%v", n.Status, n.OperatorDown)
	}
	// A node down by its TTL (not an operator) comes back by itself; an
	// operator's down of it then holds.
	h.nodeStatus("n1", api.NodeDown)
	h.ok(CmdNodeStatus, &NodeStatus{Name: "n1", Status: api.NodeDown, Operator: true, Time: h.next()})
	h.nodeStatus("n1", api.NodeReady)
	if n := h.node("n1"); n.Status != api.NodeDown || !n.OperatorDown {
		t.Fatalf("operator down of a node already down: %s operatorDown=%v, want held", n.Status, n.OperatorDown)
	}
}

// servicesOnTwoNodes registers n1 and n2 and puts, on n1: two allocations of default/web, one of
// default/api, one of prod/api, and one of default/cache that is told to
// stop; on n2: one of default/db.
func servicesOnTwoNodes(h *harness) {
	h.t.Helper()
	h.registerNode("n1", nil)
	h.registerNode("n2", nil)
	h.place("web", "e-web", "web-1@n1", "web-2@n1")
	h.place("api", "e-api", "api-1@n1")
	prod := placePlan("api", "e-prod", "prod-api-1@n1")
	prod.Namespace = "prod"
	h.plans(prod)
	h.place("cache", "e-cache", "cache-1@n1")
	h.stop("cache", Stop{ID: "cache-1", Reason: "scaled down"})
	h.place("db", "e-db", "db-1@n2")
}

func TestNodeDownMakesOneEvaluationPerServiceMeantToRunThere(t *testing.T) {
	h := newHarness(t)
	servicesOnTwoNodes(h)
	before := h.index
	h.evals = nil

	h.ok(CmdNodeStatus, &NodeStatus{Name: "n1", Status: api.NodeDown, Message: "missed heartbeats", Time: h.next()})

	n := h.node("n1")
	if n.Status != api.NodeDown || n.StatusMessage != "missed heartbeats" || n.ModifyIndex != h.index {
		t.Errorf("node = %s %q at %d, want down with the message at %d", n.Status, n.StatusMessage, n.ModifyIndex, h.index)
	}
	evals := h.evalsCreatedAfter(before)
	want := []string{"node-update default/api", "node-update default/web", "node-update prod/api"}
	if got := evalTriggers(evals); !reflect.DeepEqual(got, want) {
		t.Fatalf("evaluations = %v, want %v (sorted, none for db or the stopped cache)", got, want)
	}
	for _, e := range evals {
		if e.Node != "n1" || e.Status != api.EvalPending || e.CreateIndex != h.index {
			t.Errorf("evaluation %s = node %q %s at %d, want pending for n1 at %d", e.ID, e.Node, e.Status, e.CreateIndex, h.index)
		}
	}
	if got := evalTriggers(h.evals); !reflect.DeepEqual(got, want) {
		t.Errorf("eval hook heard %v, want %v in that order", got, want)
	}
	if evs := h.eventsSince(h.lastEventID() - 1); len(evs) != 1 || evs[0].Type != api.EventNodeStatus {
		t.Errorf("last event = %v, want NodeStatusChanged", eventTypes(evs))
	}
}

func TestNodeStatus(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)

	if err := h.fails(CmdNodeStatus, &NodeStatus{Name: "nope", Status: api.NodeDown, Time: h.next()}); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("unknown node: %v, want ErrNotFound", err)
	}
	var fe *api.FieldError
	if err := h.fails(CmdNodeStatus, &NodeStatus{Name: "n1", Status: api.NodeDraining, Time: h.next()}); !errors.As(err, &fe) || fe.Field != "status" {
		t.Errorf("status draining: %v, want a FieldError on status", err)
	}

	// Ready while ready changes nothing.
	h.nodeStatus("n1", api.NodeReady)
	if n := h.node("n1"); n.ModifyIndex != 1 {
		t.Errorf("ready→ready moved ModifyIndex to %d", n.ModifyIndex)
	}

	// A down node makes no evaluations when nothing runs there, and marks
	// no new capacity; coming back does.
	h.nodeStatus("n1", api.NodeDown)
	if n := len(h.snap().Evaluations(nil)); n != 0 {
		t.Errorf("%d evaluations for an empty node going down, want 0", n)
	}
	if got := h.snap().Index(IndexCapacity); got != 1 {
		t.Errorf("capacity index = %d after down, want 1", got)
	}
	h.nodeStatus("n1", api.NodeReady)
	if n := h.node("n1"); n.Status != api.NodeReady {
		t.Errorf("status = %s, want ready", n.Status)
	}
	if got := h.snap().Index(IndexCapacity); got != h.index {
		t.Errorf("capacity index = %d after ready, want %d", got, h.index)
	}
}

func TestNodeEligibility(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	if err := h.fails(CmdNodeEligibility, &NodeEligibility{Name: "nope", Time: h.next()}); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("unknown node: %v, want ErrNotFound", err)
	}

	h.ok(CmdNodeEligibility, &NodeEligibility{Name: "n1", Eligible: false, Time: h.next()})
	marked := h.index
	n := h.node("n1")
	if n.Eligible || n.Status != api.NodeReady || n.ModifyIndex != marked {
		t.Errorf("node = eligible %v %s at %d, want ineligible, ready, at %d", n.Eligible, n.Status, n.ModifyIndex, marked)
	}
	if evs := h.eventsSince(1); len(evs) != 1 || evs[0].Type != api.EventNodeEligibility {
		t.Errorf("events = %v, want [NodeEligibilityChanged]", eventTypes(evs))
	}
	if got := h.snap().Index(IndexCapacity); got != 1 {
		t.Errorf("capacity index = %d, want 1 (ineligible adds no capacity)", got)
	}

	h.ok(CmdNodeEligibility, &NodeEligibility{Name: "n1", Eligible: false, Time: h.next()})
	if n := h.node("n1"); n.ModifyIndex != marked {
		t.Errorf("repeated ineligible moved ModifyIndex to %d", n.ModifyIndex)
	}

	h.ok(CmdNodeEligibility, &NodeEligibility{Name: "n1", Eligible: true, Time: h.next()})
	if n := h.node("n1"); !n.Eligible {
		t.Error("node still ineligible")
	}
	if got := h.snap().Index(IndexCapacity); got != h.index {
		t.Errorf("capacity index = %d, want %d (eligible adds capacity)", got, h.index)
	}
}

func TestNodeDrainWithAllocationsKeepsDraining(t *testing.T) {
	h := newHarness(t)
	servicesOnTwoNodes(h)
	before := h.index

	h.drain("n1", true)

	n := h.node("n1")
	if n.Status != api.NodeDraining || n.Eligible || n.ModifyIndex != h.index {
		t.Errorf("node = %s eligible=%v at %d, want draining, ineligible, at %d", n.Status, n.Eligible, n.ModifyIndex, h.index)
	}
	want := []string{"node-drain default/api", "node-drain default/web", "node-drain prod/api"}
	evals := h.evalsCreatedAfter(before)
	if got := evalTriggers(evals); !reflect.DeepEqual(got, want) {
		t.Fatalf("evaluations = %v, want %v", got, want)
	}
	for _, e := range evals {
		if e.Node != "n1" {
			t.Errorf("evaluation %s names node %q, want n1", e.ID, e.Node)
		}
	}
	evs := h.events()
	if last := evs[len(evs)-1]; last.Type != api.EventNodeStatus {
		t.Errorf("last event = %s, want NodeStatusChanged", last.Type)
	}
	if hasEvent(evs, api.EventNodeDrained) {
		t.Error("NodeDrained while allocations are still meant to run")
	}

	// Draining again changes nothing.
	drained := h.index
	h.drain("n1", true)
	if n := h.node("n1"); n.ModifyIndex != drained {
		t.Errorf("second drain moved ModifyIndex to %d", n.ModifyIndex)
	}
	if got := len(h.evalsCreatedAfter(drained)); got != 0 {
		t.Errorf("second drain made %d evaluations", got)
	}
}

func TestNodeDrainOfIdleNodeFinishesAtOnce(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	// Only a stopped allocation is left on it.
	h.place("web", "e1", "web-1@n1")
	h.stop("web", Stop{ID: "web-1", Reason: "scaled down"})
	h.report("n1", withStatus("web-1", api.AllocComplete))
	events := h.lastEventID()

	h.drain("n1", true)

	n := h.node("n1")
	if n.Status != api.NodeReady || n.Eligible || n.StatusMessage != "drained" {
		t.Errorf("node = %s eligible=%v %q, want ready, ineligible, drained", n.Status, n.Eligible, n.StatusMessage)
	}
	got := eventTypes(h.eventsSince(events))
	if want := []string{api.EventNodeStatus, api.EventNodeDrained}; !reflect.DeepEqual(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	if n := len(h.evalsCreatedAfter(h.index - 1)); n != 0 {
		t.Errorf("%d evaluations for an idle drain, want 0", n)
	}
	// Eligible again (drain --cancel, node eligible): no longer drained.
	h.drain("n1", false)
	if n := h.node("n1"); n.Status != api.NodeReady || !n.Eligible || n.StatusMessage != "" {
		t.Errorf("made eligible: node = %s eligible=%v %q, want ready, eligible, no message", n.Status, n.Eligible, n.StatusMessage)
	}
}

func TestNodeDrainOfDownNodeIsConflict(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.nodeStatus("n1", api.NodeDown)
	err := h.fails(CmdNodeDrain, &NodeDrain{Name: "n1", Enable: true, Time: h.next()})
	if !errors.Is(err, api.ErrConflict) {
		t.Fatalf("drain of a down node: %v, want ErrConflict", err)
	}
	if n := h.node("n1"); n.Status != api.NodeDown || !n.Eligible {
		t.Errorf("node = %s eligible=%v, want it unchanged (down, eligible)", n.Status, n.Eligible)
	}
	if err := h.fails(CmdNodeDrain, &NodeDrain{Name: "nope", Enable: true, Time: h.next()}); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("drain of an unknown node: %v, want ErrNotFound", err)
	}
}

func TestCancelDrainMakesNodeReadyAndEligible(t *testing.T) {
	h := newHarness(t)
	h.registerNode("n1", nil)
	h.place("web", "e1", "web-1@n1")
	h.drain("n1", true)
	if n := h.node("n1"); n.Status != api.NodeDraining {
		t.Fatalf("status = %s, want draining", n.Status)
	}

	h.drain("n1", false)

	n := h.node("n1")
	if n.Status != api.NodeReady || !n.Eligible || n.StatusMessage != "drain canceled" || n.ModifyIndex != h.index {
		t.Errorf("node = %s eligible=%v %q at %d, want ready, eligible, drain canceled", n.Status, n.Eligible, n.StatusMessage, n.ModifyIndex)
	}
	if got := h.snap().Index(IndexCapacity); got != h.index {
		t.Errorf("capacity index = %d, want %d", got, h.index)
	}

	// Canceling a drain that already finished makes the node eligible again.
	h2 := newHarness(t)
	h2.registerNode("n1", nil)
	h2.drain("n1", true)
	h2.drain("n1", false)
	if n := h2.node("n1"); n.Status != api.NodeReady || !n.Eligible {
		t.Errorf("after a finished drain: %s eligible=%v, want ready and eligible", n.Status, n.Eligible)
	}
}
